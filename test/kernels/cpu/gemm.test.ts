/** The CPU gemm against a plain float64 triple loop: every size class, transpose and offset. */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureCpu, shutdownCpuThreads, type CpuOptions } from '../../../kernels/cpu/config.ts';
import type { DType } from '../../../engine/dtype.ts';
import { gemm, gemmBlocked } from '../../../kernels/cpu/gemm.ts';
import { randomArray } from '../../random-array.ts';

type Gemm = typeof gemm;
const SENTINEL = 777;


interface Case {
  m: number; n: number; k: number;
  transA: boolean; transB: boolean;
  aOff: number; bOff: number; cOff: number;
  dtype: DType; seed: number;
}

/** Runs one case; returns '' when it matches, else a description of the first mismatch. */
function mismatch(fn: Gemm, t: Case): string {
  const { m, n, k, transA, transB, aOff, bOff, cOff, dtype } = t;
  const a = randomArray(dtype, aOff + m * k + 3, t.seed);
  const b = randomArray(dtype, bOff + k * n + 3, t.seed + 1);
  const c = randomArray(dtype, cOff + m * n + 3, 0).fill(SENTINEL);
  fn(m, n, k, a, aOff, transA, b, bOff, transB, c, cOff);
  // Error bound relative to sum |a||b|: immune to cancellation in the exact result.
  const tol = dtype === 'float32' ? 1e-5 : 1e-12;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let sAbs = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[aOff + p * m + i] : a[aOff + i * k + p];
        const bv = transB ? b[bOff + j * k + p] : b[bOff + p * n + j];
        s += av * bv;
        sAbs += Math.abs(av * bv);
      }
      const got = c[cOff + i * n + j];
      if (!(Math.abs(got - s) <= tol * sAbs + 1e-300)) return `C[${i},${j}] = ${got}, expected ${s} (${JSON.stringify(t)})`;
    }
  }
  for (let i = 0; i < cOff; i++) if (c[i] !== SENTINEL) return `wrote before cOffset at ${i}`;
  for (let i = cOff + m * n; i < c.length; i++) if (c[i] !== SENTINEL) return `wrote past C at ${i}`;
  return '';
}

const flags = {
  transA: fc.boolean(), transB: fc.boolean(),
  aOff: fc.nat(7), bOff: fc.nat(7), cOff: fc.nat(7),
  dtype: fc.constantFrom<DType>('float32', 'float64'),
  seed: fc.nat(),
};
const impls: [string, Gemm][] = [['gemm', gemm], ['gemmBlocked', gemmBlocked]];

// The JavaScript kernels (the fallback) and the default configuration (Wasm SIMD where available).
const configs: [string, CpuOptions][] = [['JavaScript kernels', { wasm: false, threads: 1 }], ['default kernels', {}]];
afterAll(() => shutdownCpuThreads());

describe.each(configs)('%s', (_label, config) => {
  beforeAll(async () => { await configureCpu(config); });

  describe.each(impls)('%s', (_name, fn) => {
    it('matches the triple loop for small sizes, both dtypes, all transposes, nonzero offsets', () => {
      const dim = fc.integer({ min: 1, max: 40 });
      fc.assert(fc.property(fc.record({ m: dim, n: dim, k: dim, ...flags }), (t) => {
        expect(mismatch(fn, t)).toBe('');
      }), { numRuns: 150 });
    });

    it('matches across cache blocks: one dimension up to 300 (past KC = 256 and MC = 96)', () => {
      const big = fc.integer({ min: 1, max: 300 });
      const small = fc.integer({ min: 1, max: 20 });
      const dims = fc.oneof(
        fc.record({ m: big, n: small, k: small }),
        fc.record({ m: small, n: big, k: small }),
        fc.record({ m: small, n: small, k: big }),
        fc.record({ m: fc.integer({ min: 90, max: 110 }), n: fc.integer({ min: 1, max: 9 }), k: fc.integer({ min: 250, max: 270 }) }),
      );
      fc.assert(fc.property(dims, fc.record(flags), (d, f) => {
        expect(mismatch(fn, { ...d, ...f })).toBe('');
      }), { numRuns: 40 });
    });

    it('matches past the column block (n > NC = 512) together with k > KC', () => {
      for (const dtype of ['float32', 'float64'] as const) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            expect(mismatch(fn, { m: 10, n: 530, k: 270, transA, transB, aOff: 3, bOff: 1, cOff: 2, dtype, seed: 42 })).toBe('');
          }
        }
      }
    });

    it('gives zeros for k = 0 (C is overwritten, not accumulated) and writes nothing for m or n = 0', () => {
      for (const dtype of ['float32', 'float64'] as const) {
        const c = randomArray(dtype, 12, 0).fill(Number.NaN);
        fn(3, 4, 0, randomArray(dtype, 0, 1), 0, false, randomArray(dtype, 0, 2), 0, true, c, 0);
        expect(Array.from(c)).toEqual(new Array(12).fill(0));
        const d = randomArray(dtype, 5, 0).fill(SENTINEL);
        fn(0, 4, 3, randomArray(dtype, 0, 1), 0, false, randomArray(dtype, 12, 2), 0, false, d, 0);
        fn(4, 0, 3, randomArray(dtype, 12, 1), 0, false, randomArray(dtype, 0, 2), 0, false, d, 0);
        expect(Array.from(d)).toEqual(new Array(5).fill(SENTINEL));
      }
    });

    it('ignores what C held before (no accumulation into stale values)', () => {
      const a = randomArray('float64', 300 * 20, 5);
      const b = randomArray('float64', 300 * 30, 6);
      const c1 = new Float64Array(20 * 30).fill(1e6);
      const c2 = new Float64Array(20 * 30);
      fn(20, 30, 300, a, 0, false, b, 0, false, c1, 0);
      fn(20, 30, 300, a, 0, false, b, 0, false, c2, 0);
      expect(c1).toEqual(c2);
    });
  });

  describe('gemm vector shapes', () => {
    it('matches for m = 1 or n = 1 with long other dimensions (the gemv paths)', () => {
      const long = fc.integer({ min: 1, max: 600 });
      const dims = fc.oneof(
        fc.record({ m: fc.constant(1), n: long, k: fc.integer({ min: 1, max: 300 }) }),
        fc.record({ m: long, n: fc.constant(1), k: fc.integer({ min: 1, max: 300 }) }),
      );
      fc.assert(fc.property(dims, fc.record(flags), (d, f) => {
        expect(mismatch(gemm, { ...d, ...f })).toBe('');
      }), { numRuns: 60 });
    });

    it('matches for k <= 4 (outer products) and for few rows times a transposed B (the thin path)', () => {
      const dims = fc.oneof(
        fc.record({ m: fc.integer({ min: 2, max: 300 }), n: fc.integer({ min: 2, max: 300 }), k: fc.integer({ min: 1, max: 4 }) }),
        fc.record({ m: fc.integer({ min: 2, max: 32 }), n: fc.integer({ min: 2, max: 70 }), k: fc.integer({ min: 64, max: 300 }) }),
      );
      fc.assert(fc.property(dims, fc.record(flags), (d, f) => {
        expect(mismatch(gemm, { ...d, ...f })).toBe('');
      }), { numRuns: 80 });
    });

    it('rejects arrays too short for the shapes, naming them', () => {
      expect(() => gemm(2, 2, 3, new Float32Array(5), 0, false, new Float32Array(6), 0, false, new Float32Array(4), 0))
        .toThrow(/gemm: \[2,3\] x \[3,2\]/);
    });
  });
});
