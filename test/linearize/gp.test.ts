import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gpOverInitializations, nngpPosterior, psdProject, type GpInputs } from '../../linearize/gp.ts';
import { mseFlow } from '../../linearize/flow.ts';
import {
  type Matrix,
  addScaled,
  choleskySolve,
  fromRows,
  identity,
  matmul,
  matrix,
  maxAbs,
  symmetricEigen,
  symmetrize,
  transpose,
} from '../../linalg/dense.ts';
import { maxDiff, randomMatrix, rng } from './random-matrices.ts';

function block(a: Matrix, r0: number, r1: number, c0: number, c1: number): Matrix {
  const out = matrix(r1 - r0, c1 - c0);
  for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) out.data[(i - r0) * (c1 - c0) + j - c0] = a.data[i * a.cols + j];
  return out;
}

/** The generated inputs are plain matrices (GpInputs also accepts tensors and typed arrays). */
type MatrixGpInputs = GpInputs & { kTrainTrain: Matrix; kTestTrain: Matrix; kTestTest: Matrix; thetaTrainTrain: Matrix; thetaTestTrain: Matrix };

interface Setup {
  inputs: MatrixGpInputs;
  kAll: Matrix; // joint NNGP kernel over [train; test]
}

/** Joint PSD kernels over n train and m test points; `rankK` < n + m makes K low-rank, `ridge` makes it PD. */
function setup(seed: number, n: number, m: number, c: number, rankK: number, ridge: number): Setup {
  const rand = rng(seed);
  const N = n + m;
  const JK = randomMatrix(N, rankK, rand);
  const kAll = addScaled(symmetrize(matmul(JK, transpose(JK))), identity(N), 1 / rankK, ridge);
  const JT = randomMatrix(N, N + 1, rand);
  const thetaAll = symmetrize(addScaled(kAll, matmul(JT, transpose(JT)), 1, 1 / (N + 1)));
  return {
    kAll,
    inputs: {
      kTrainTrain: block(kAll, 0, n, 0, n),
      kTestTrain: block(kAll, n, N, 0, n),
      kTestTest: block(kAll, n, N, n, N),
      thetaTrainTrain: block(thetaAll, 0, n, 0, n),
      thetaTestTrain: block(thetaAll, n, N, 0, n),
      yTrain: randomMatrix(n, c, rand),
      eta: 0.8,
      loss: 'sum/2',
    },
  };
}

const shape = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  n: fc.integer({ min: 1, max: 8 }),
  m: fc.integer({ min: 1, max: 5 }),
  c: fc.integer({ min: 1, max: 3 }),
  rankK: fc.integer({ min: 1, max: 14 }),
});

function minEigenvalue(a: Matrix): number {
  return symmetricEigen(a).values[0];
}

describe('gpOverInitializations', () => {
  it('law: t = 0 gives mean 0 and covariance K(x, x)', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c, rankK }) => {
        const { inputs } = setup(seed, n, m, c, rankK, 0.05);
        const [p] = gpOverInitializations(inputs).at([0]);
        expect(maxAbs(p.mean)).toBe(0);
        expect(maxDiff(p.covariance, inputs.kTestTest)).toBeLessThan(1e-14);
        expect(p.t).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it('law: the covariance is the covariance of f_t(x) = f_0(x) + A_t (Y - f_0(X)) with f_0 ~ GP(0, K)', () => {
    fc.assert(
      fc.property(shape, fc.double({ min: 0, max: 30, noNaN: true }), ({ seed, n, m, c, rankK }, t) => {
        const { inputs, kAll } = setup(seed, n, m, c, rankK, 0.05);
        const gp = gpOverInitializations(inputs);
        const A = gp.operatorAt(t);
        // L = [-A_t, I] maps [f_0(X); f_0(x)] to the random part of f_t(x): cov = L K_all L^T.
        const L = matrix(m, n + m);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) L.data[i * (n + m) + j] = -A.data[i * n + j];
          L.data[i * (n + m) + n + i] = 1;
        }
        const expected = matmul(matmul(L, kAll), transpose(L));
        const [p] = gp.at([t]);
        const scale = Math.max(1, maxAbs(expected));
        expect(maxDiff(p.covariance, expected) / scale).toBeLessThan(1e-11);
        expect(maxDiff(p.mean, matmul(A, inputs.yTrain as Matrix)) / Math.max(1, maxAbs(p.mean))).toBeLessThan(1e-13);
      }),
      { numRuns: 60 },
    );
  });

  it('law: covariance symmetric PSD at all t (any rank of K), the clamp only removes round-off', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c, rankK }) => {
        const { inputs } = setup(seed, n, m, c, rankK, 0);
        const preds = gpOverInitializations(inputs).at([0, 0.01, 0.5, 3, 100, 1e6, Infinity]);
        for (const p of preds) {
          const cov = p.covariance;
          expect(maxDiff(cov, transpose(cov))).toBe(0);
          const scale = Math.max(1e-300, maxAbs(inputs.kTestTest), maxAbs(cov));
          expect(minEigenvalue(cov)).toBeGreaterThanOrEqual(-1e-13 * scale);
          expect(-p.psdClamp.mostNegative).toBeLessThan(1e-10 * scale);
          expect(p.psdClamp.count === 0).toBe(p.psdClamp.mostNegative === 0);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('law: t = Infinity matches the exact formulas, and late finite times converge to it', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c, rankK }) => {
        const { inputs } = setup(seed, n, m, c, rankK, 0.05);
        const Th = inputs.thetaTrainTrain as Matrix;
        const Thx = inputs.thetaTestTrain as Matrix;
        const y = inputs.yTrain as Matrix;
        const K = inputs.kTrainTrain;
        const Kx = inputs.kTestTrain;
        // A = Theta(x, X) Theta^{-1} from an independent solve.
        const A = transpose(choleskySolve(Th, transpose(Thx)));
        const mean = matmul(A, y);
        const AKX = matmul(A, transpose(Kx));
        const cov = addScaled(
          addScaled(inputs.kTestTest, matmul(matmul(A, K), transpose(A))),
          addScaled(AKX, transpose(AKX)),
          1,
          -1,
        );
        const gp = gpOverInitializations(inputs);
        const [inf, late] = gp.at([Infinity, 1e7]);
        const sm = Math.max(1, maxAbs(mean));
        const sc = Math.max(1, maxAbs(cov));
        expect(maxDiff(inf.mean, mean) / sm).toBeLessThan(1e-11);
        expect(maxDiff(inf.covariance, symmetrize(cov)) / sc).toBeLessThan(1e-10);
        expect(maxDiff(late.mean, inf.mean) / sm).toBeLessThan(1e-7);
        expect(maxDiff(late.covariance, inf.covariance) / sc).toBeLessThan(1e-7);
      }),
      { numRuns: 60 },
    );
  });

  it('law: the mean equals the closed-form flow of a network with f_0 = 0', () => {
    fc.assert(
      fc.property(shape, fc.constantFrom('sum/2' as const, 'mean/2' as const), ({ seed, n, m, c, rankK }, loss) => {
        const { inputs } = setup(seed, n, m, c, rankK, 0.05);
        const times = [0.2, 3, 40];
        const preds = gpOverInitializations({ ...inputs, loss }).at(times);
        const flow = mseFlow({
          thetaTrain: inputs.thetaTrainTrain as Matrix,
          thetaTestTrain: inputs.thetaTestTrain,
          f0Train: matrix(n, c),
          f0Test: matrix(m, c),
          yTrain: inputs.yTrain,
          eta: inputs.eta,
          loss,
        });
        flow.testAt(times).forEach((f, i) => expect(maxDiff(preds[i].mean, f) / Math.max(1, maxAbs(f))).toBeLessThan(1e-12));
      }),
      { numRuns: 40 },
    );
  });

  it("law: 'mean/2' with eta equals 'sum/2' with eta / N", () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c, rankK }) => {
        const { inputs } = setup(seed, n, m, c, rankK, 0.05);
        const a = gpOverInitializations({ ...inputs, loss: 'mean/2', eta: 3 }).at([5])[0];
        const b = gpOverInitializations({ ...inputs, loss: 'sum/2', eta: 3 / (n * c) }).at([5])[0];
        expect(maxDiff(a.mean, b.mean)).toBe(0);
        expect(maxDiff(a.covariance, b.covariance)).toBe(0);
      }),
      { numRuns: 30 },
    );
  });

  it('law: readout-only training at t = Infinity is the exact NNGP posterior', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c, rankK }) => {
        const { inputs } = setup(seed, n, m, c, rankK, 0.05);
        const readout = { ...inputs, thetaTrainTrain: undefined, thetaTestTrain: undefined, readoutOnly: true };
        const [inf, late] = gpOverInitializations(readout).at([Infinity, 1e8]);
        const post = nngpPosterior(inputs);
        const sm = Math.max(1, maxAbs(post.mean));
        const sc = Math.max(1, maxAbs(post.covariance));
        expect(maxDiff(inf.mean, post.mean) / sm).toBeLessThan(1e-10);
        expect(maxDiff(inf.covariance, post.covariance) / sc).toBeLessThan(1e-10);
        expect(maxDiff(late.mean, post.mean) / sm).toBeLessThan(1e-6);
        // Posterior covariance K(x,x) - K(x,X) K^{-1} K(X,x) from the joint Schur complement.
        const Kinv = choleskySolve(inputs.kTrainTrain, identity(n));
        const schur = addScaled(inputs.kTestTest, matmul(matmul(inputs.kTestTrain, Kinv), transpose(inputs.kTestTrain)), 1, -1);
        expect(maxDiff(post.covariance, symmetrize(schur)) / sc).toBeLessThan(1e-10);
        // Readout-only ignores Theta entirely: passing one changes nothing.
        const withTheta = gpOverInitializations({ ...inputs, readoutOnly: true }).at([2])[0];
        expect(maxDiff(withTheta.mean, gpOverInitializations(readout).at([2])[0].mean)).toBe(0);
      }),
      { numRuns: 50 },
    );
  });
});

describe('gp singular kernels and validation', () => {
  it("singular Theta at t = Infinity: 'error' explains, 'pinv' works and stays PSD", () => {
    const rand = rng(17);
    const J = randomMatrix(6, 2, rand);
    const all = symmetrize(matmul(J, transpose(J)));
    const inputs: GpInputs = {
      kTrainTrain: block(all, 0, 4, 0, 4),
      kTestTrain: block(all, 4, 6, 0, 4),
      kTestTest: block(all, 4, 6, 4, 6),
      thetaTrainTrain: block(all, 0, 4, 0, 4),
      thetaTestTrain: block(all, 4, 6, 0, 4),
      yTrain: new Float64Array([1, -1, 0.5, 2]),
      eta: 1,
      loss: 'sum/2',
    };
    const gp = gpOverInitializations(inputs);
    expect(() => gp.at([Infinity])).toThrow(/gpOverInitializations: thetaTrainTrain \(4x4\) is singular .*singular: 'pinv'/);
    expect(() => gpOverInitializations({ ...inputs, readoutOnly: true }).at([Infinity])).toThrow(/kTrainTrain \(readout-only training kernel\) \(4x4\) is singular/);
    const finite = gp.at([0, 1, 1e4]);
    for (const p of finite) expect(p.covariance.data.every(Number.isFinite) && p.mean.data.every(Number.isFinite)).toBe(true);
    const [p] = gpOverInitializations({ ...inputs, singular: 'pinv' }).at([Infinity]);
    expect(p.mean.data.every(Number.isFinite)).toBe(true);
    expect(minEigenvalue(p.covariance)).toBeGreaterThanOrEqual(-1e-13);
    // The test points lie in the span of the training features (rank 2 < 4): the posterior variance vanishes.
    expect(maxAbs(p.covariance)).toBeLessThan(1e-10);
    expect(() => nngpPosterior(inputs)).toThrow(/nngpPosterior: kTrainTrain \(4x4\) is not positive definite/);
    expect(() => nngpPosterior({ ...inputs, diagReg: 1e-3 })).not.toThrow();
  });

  it('psdProject clamps a negative eigenvalue and reports it', () => {
    const a = fromRows([
      [1, 0],
      [0, -1e-9],
    ]);
    const { matrix: p, clamp } = psdProject(a);
    expect(clamp.count).toBe(1);
    expect(clamp.mostNegative).toBe(-1e-9);
    expect(clamp.frobeniusChange).toBe(1e-9);
    expect(p.data[3]).toBe(0);
    expect(psdProject(identity(2)).clamp).toEqual({ count: 0, mostNegative: 0, frobeniusChange: 0 });
  });

  it('rejects NaN kernels, bad shapes and missing Theta', () => {
    const { inputs } = setup(1, 3, 2, 1, 3, 0.1);
    const bad = matrix(3, 3, inputs.kTrainTrain.data);
    bad.data[0] = NaN;
    expect(() => gpOverInitializations({ ...inputs, kTrainTrain: bad })).toThrow(
      /gpOverInitializations: kTrainTrain \(3x3\) has a non-finite entry NaN at \(0, 0\)/,
    );
    const badTheta = matrix(3, 3, (inputs.thetaTrainTrain as Matrix).data);
    badTheta.data[4] = Infinity;
    expect(() => gpOverInitializations({ ...inputs, thetaTrainTrain: badTheta })).toThrow(/thetaTrainTrain \(3x3\) has a non-finite entry Infinity/);
    expect(() => gpOverInitializations({ ...inputs, kTestTest: matrix(3, 3) })).toThrow(/kTestTest must be 2x2, got 3x3/);
    expect(() => gpOverInitializations({ ...inputs, thetaTestTrain: undefined })).toThrow(/thetaTrainTrain and thetaTestTrain are required unless readoutOnly/);
    expect(() => gpOverInitializations({ ...inputs, yTrain: matrix(2, 1) })).toThrow(/yTrain must have 3 rows/);
    expect(() => gpOverInitializations(inputs).at([-1])).toThrow(/gpOverInitializations.at: times must be >= 0/);
  });
});
