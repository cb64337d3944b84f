import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type Matrix,
  NotPositiveDefiniteError,
  addScaled,
  asMatrix,
  assertSymmetric,
  cholesky,
  choleskySolve,
  columnVector,
  fromEigen,
  fromRows,
  identity,
  matmul,
  matmulTransposeA,
  matrix,
  maxAbs,
  scaleRows,
  symmetricEigen,
  symmetrize,
  toRows,
  transpose,
  tridiagonalEigenvalues,
} from '../../linalg/dense.ts';
import { maxDiff, randomMatrix, rng } from '../linearize/random-matrices.ts';

function gram(j: Matrix): Matrix {
  return symmetrize(matmul(j, transpose(j)));
}

const sizes = fc.record({ n: fc.integer({ min: 1, max: 12 }), seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }) });

describe('matrix basics', () => {
  it('builds, transposes and multiplies', () => {
    const a = fromRows([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(toRows(transpose(a))).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    expect(toRows(matmul(a, transpose(a)))).toEqual([
      [14, 32],
      [32, 77],
    ]);
    expect(toRows(matmulTransposeA(a, a))).toEqual(toRows(matmul(transpose(a), a)));
    expect(asMatrix(new Float64Array([1, 2])).cols).toBe(1);
    expect(toRows(scaleRows(identity(2), [2, 3]))).toEqual([
      [2, 0],
      [0, 3],
    ]);
  });

  it('rejects bad shapes with the function name', () => {
    expect(() => matmul(matrix(2, 3), matrix(2, 3))).toThrow(/matmul: inner dimensions differ: 2x3 \* 2x3/);
    expect(() => matrix(2, 2, [1, 2, 3])).toThrow(/matrix: 2x2 needs 4 entries, got 3/);
    expect(() => fromRows([[1, 2], [3]])).toThrow(/fromRows: row 1/);
  });

  it('(A B)^T = B^T A^T and matmul is associative', () => {
    fc.assert(
      fc.property(sizes, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), ({ n, seed }, p, q) => {
        const rand = rng(seed);
        const a = randomMatrix(n, p, rand);
        const b = randomMatrix(p, q, rand);
        const c = randomMatrix(q, 3, rand);
        expect(maxDiff(transpose(matmul(a, b)), matmul(transpose(b), transpose(a)))).toBeLessThan(1e-14);
        expect(maxDiff(matmul(matmul(a, b), c), matmul(a, matmul(b, c)))).toBeLessThan(1e-13);
      }),
      { numRuns: 50 },
    );
  });

  it('symmetrize returns (A + A^T)/2', () => {
    const s = symmetrize(fromRows([
      [1, 2],
      [0, 3],
    ]));
    expect(toRows(s)).toEqual([
      [1, 1],
      [1, 3],
    ]);
    expect(() => symmetrize(matrix(2, 3))).toThrow(/symmetrize: a must be square, got 2x3/);
  });
});

describe('tridiagonalEigenvalues', () => {
  it('law: equals symmetricEigen of the dense tridiagonal matrix (random sizes and entries)', () => {
    fc.assert(
      fc.property(sizes, ({ n, seed }) => {
        const next = rng(seed);
        const d = Float64Array.from({ length: n }, () => 2 * next() - 1);
        const e = Float64Array.from({ length: Math.max(n - 1, 0) }, () => 2 * next() - 1);
        const dense = matrix(n, n);
        for (let i = 0; i < n; i++) {
          dense.data[i * n + i] = d[i];
          if (i + 1 < n) dense.data[i * n + i + 1] = dense.data[(i + 1) * n + i] = e[i];
        }
        const want = symmetricEigen(dense).values;
        const got = tridiagonalEigenvalues(d, e);
        const scale = Math.max(1, ...Array.from(want, Math.abs));
        for (let i = 0; i < n; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-13 * scale);
      }),
    );
  });

  it('names itself for a short off-diagonal', () => {
    expect(() => tridiagonalEigenvalues([1, 2, 3], [1])).toThrow(/tridiagonalEigenvalues: a 3x3 tridiagonal matrix needs 2 off-diagonal entries, got 1/);
  });
});

describe('symmetricEigen', () => {
  it('solves a known 2x2 and a diagonal matrix', () => {
    const { values, vectors } = symmetricEigen(fromRows([
      [2, 1],
      [1, 2],
    ]));
    expect(values[0]).toBeCloseTo(1, 14);
    expect(values[1]).toBeCloseTo(3, 14);
    expect(Math.abs(vectors.data[0])).toBeCloseTo(Math.SQRT1_2, 14);
    const d = symmetricEigen(fromRows([
      [3, 0, 0],
      [0, -1, 0],
      [0, 0, 2],
    ]));
    expect(Array.from(d.values)).toEqual([-1, 2, 3]);
  });

  it('handles repeated eigenvalues, 1x1, zero and empty matrices', () => {
    const I = symmetricEigen(identity(5));
    expect(Array.from(I.values)).toEqual([1, 1, 1, 1, 1]);
    expect(maxDiff(matmulTransposeA(I.vectors, I.vectors), identity(5))).toBeLessThan(1e-15);
    expect(Array.from(symmetricEigen(fromRows([[7]])).values)).toEqual([7]);
    expect(Array.from(symmetricEigen(matrix(3, 3)).values)).toEqual([0, 0, 0]);
    expect(symmetricEigen(matrix(0, 0)).values.length).toBe(0);
  });

  it('law: reconstructs A, orthonormal vectors, ascending values (random symmetric)', () => {
    fc.assert(
      fc.property(sizes, ({ n, seed }) => {
        const rand = rng(seed);
        const a = symmetrize(randomMatrix(n, n, rand));
        const { values, vectors } = symmetricEigen(a);
        const scale = Math.max(1, maxAbs(a));
        expect(maxDiff(fromEigen(vectors, values), a)).toBeLessThan(1e-13 * scale * n);
        expect(maxDiff(matmulTransposeA(vectors, vectors), identity(n))).toBeLessThan(1e-13 * n);
        for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
        // A v = lambda v column by column.
        const av = matmul(a, vectors);
        const vLambda = transpose(scaleRows(transpose(vectors), values));
        expect(maxDiff(av, vLambda)).toBeLessThan(1e-13 * scale * n);
      }),
      { numRuns: 150 },
    );
  });

  it('law: J J^T of rank r has n - r eigenvalues at round-off level and the rest positive', () => {
    fc.assert(
      fc.property(sizes, fc.integer({ min: 0, max: 12 }), ({ n, seed }, rRaw) => {
        const r = Math.min(rRaw, n);
        const rand = rng(seed);
        const j = randomMatrix(n, Math.max(r, 1), rand);
        const theta = r === 0 ? matrix(n, n) : gram(j);
        const { values, vectors } = symmetricEigen(theta);
        const lmax = Math.max(1e-300, values[n - 1]);
        for (let i = 0; i < n - r; i++) expect(Math.abs(values[i])).toBeLessThan(1e-13 * Math.max(1, lmax));
        expect(maxDiff(fromEigen(vectors, values), theta)).toBeLessThan(1e-13 * Math.max(1, lmax) * n);
      }),
      { numRuns: 100 },
    );
  });

  it('scales: a 60x60 matrix reconstructs to 1e-12', () => {
    const rand = rng(42);
    const a = gram(randomMatrix(60, 30, rand));
    const { values, vectors } = symmetricEigen(a);
    expect(maxDiff(fromEigen(vectors, values), a) / maxAbs(a)).toBeLessThan(1e-13);
  });

  it('validates: non-square, non-symmetric, NaN and Infinity', () => {
    expect(() => symmetricEigen(matrix(2, 3))).toThrow(/symmetricEigen: a must be square, got 2x3/);
    expect(() =>
      symmetricEigen(fromRows([
        [1, 2],
        [3, 1],
      ])),
    ).toThrow(/symmetricEigen: a \(2x2\) is not symmetric: a\[0,1\]=2 vs a\[1,0\]=3/);
    expect(() =>
      symmetricEigen(fromRows([
        [1, NaN],
        [NaN, 1],
      ])),
    ).toThrow(/symmetricEigen: a \(2x2\) has a non-finite entry NaN at \(0, 1\)/);
    expect(() =>
      symmetricEigen(fromRows([
        [Infinity, 0],
        [0, 1],
      ])),
    ).toThrow(/non-finite entry Infinity at \(0, 0\)/);
    // Asymmetry below the relative tolerance is accepted (and symmetrized).
    const nearly = fromRows([
      [1, 0.5],
      [0.5 + 1e-9, 1],
    ]);
    expect(() => symmetricEigen(nearly)).not.toThrow();
    expect(() => assertSymmetric('f', 'x', nearly, 1e-12)).toThrow(/f: x \(2x2\) is not symmetric/);
  });
});

describe('cholesky', () => {
  it('factors a known matrix', () => {
    expect(toRows(cholesky(fromRows([
      [4, 2],
      [2, 2],
    ])))).toEqual([
      [2, 0],
      [1, 1],
    ]);
  });

  it('law: L L^T = A and A x = b for random SPD matrices', () => {
    fc.assert(
      fc.property(sizes, fc.integer({ min: 1, max: 4 }), ({ n, seed }, c) => {
        const rand = rng(seed);
        const a = addScaled(gram(randomMatrix(n, n + 2, rand)), identity(n), 1, 0.1);
        const L = cholesky(a);
        for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(L.data[i * n + j]).toBe(0);
        expect(maxDiff(matmul(L, transpose(L)), a)).toBeLessThan(1e-13 * maxAbs(a));
        const b = randomMatrix(n, c, rand);
        const x = choleskySolve(a, b);
        expect(maxDiff(matmul(a, x), b)).toBeLessThan(1e-11);
      }),
      { numRuns: 100 },
    );
  });

  it('throws a clear error for singular, indefinite and invalid inputs', () => {
    const rand = rng(7);
    const singular = gram(randomMatrix(5, 2, rand));
    expect(() => choleskySolve(singular, columnVector([1, 2, 3, 4, 5]))).toThrow(NotPositiveDefiniteError);
    expect(() => choleskySolve(singular, columnVector([1, 2, 3, 4, 5]))).toThrow(
      /choleskySolve: a \(5x5\) is not positive definite: Cholesky pivot \d is/,
    );
    const indefinite = fromRows([
      [1, 2],
      [2, 1],
    ]);
    try {
      cholesky(indefinite);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(NotPositiveDefiniteError);
      expect((e as NotPositiveDefiniteError).pivot).toBe(1);
      expect((e as NotPositiveDefiniteError).value).toBe(-3);
    }
    expect(() => cholesky(matrix(2, 3))).toThrow(/cholesky: a must be square, got 2x3/);
    expect(() => choleskySolve(identity(2), columnVector([1, NaN]))).toThrow(/choleskySolve: b \(2x1\) has a non-finite entry NaN/);
    expect(() => choleskySolve(identity(2), columnVector([1, 2, 3]))).toThrow(/choleskySolve: right-hand side 3x1 does not match 2x2/);
  });
});
