/** The Wasm GEMM checks shared by the vitest file and the relaxed-SIMD child (relaxed-entry.ts). */
import fc from 'fast-check';
import type { DType, TypedArray } from '../../../engine/dtype.ts';
import { GEMM_SHAPES } from '../../../kernels/wasm/gemm-kernels.ts';
import { randomArray } from '../../random-array.ts';

export interface GemmCase {
  m: number; n: number; k: number;
  transA: boolean; transB: boolean;
  aOff: number; bOff: number; cOff: number;
  dtype: DType; seed: number;
}

type GemmFn = (
  m: number, n: number, k: number,
  a: TypedArray, aOff: number, transA: boolean,
  b: TypedArray, bOff: number, transB: boolean,
  c: TypedArray, cOff: number,
) => void;

const SENTINEL = 777;

/** Sizes 1..max (one of the three up to `max`, the others up to `others`), odd ones included. */
export function gemmCaseArb(max: number, others = max): fc.Arbitrary<GemmCase> {
  const big = fc.integer({ min: 1, max });
  const small = fc.integer({ min: 1, max: others });
  return fc.record({
    dims: fc.oneof(fc.tuple(big, small, small), fc.tuple(small, big, small), fc.tuple(small, small, big)),
    transA: fc.boolean(), transB: fc.boolean(),
    aOff: fc.nat(7), bOff: fc.nat(7), cOff: fc.nat(7),
    dtype: fc.constantFrom<DType>('float32', 'float64'),
    seed: fc.nat(),
  }).map(({ dims: [m, n, k], ...rest }) => ({ m, n, k, ...rest }));
}

/** '' when fn matches the float64 reference within the accumulation bound (see gemm.test.ts), else the first mismatch. */
export function gemmMismatch(fn: GemmFn, t: GemmCase): string {
  const { m, n, k, transA, transB, aOff, bOff, cOff, dtype } = t;
  const a = randomArray(dtype, aOff + m * k + 3, t.seed);
  const b = randomArray(dtype, bOff + k * n + 3, t.seed + 1);
  const c = randomArray(dtype, cOff + m * n + 3, 0).fill(SENTINEL);
  fn(m, n, k, a, aOff, transA, b, bOff, transB, c, cOff);
  const KC = GEMM_SHAPES[dtype === 'float32' ? 'f32' : 'f64'].KC;
  const unit = dtype === 'float32' ? 2 ** -24 : 2 ** -53;
  const factor = (Math.min(k, KC) + Math.ceil(k / KC) + 1) * unit;
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
      if (!(Math.abs(got - s) <= factor * sAbs + 1e-300)) return `C[${i},${j}] = ${got}, expected ${s} (${JSON.stringify(t)})`;
    }
  }
  for (let i = 0; i < cOff; i++) if (c[i] !== SENTINEL) return `wrote before cOffset at ${i}`;
  for (let i = cOff + m * n; i < c.length; i++) if (c[i] !== SENTINEL) return `wrote past C at ${i}`;
  return '';
}
