/** Seeded values in [-1, 1) (mulberry32): fast-check picks the seed, so large inputs stay cheap to generate and replay. */
import type { DType, TypedArray } from '../engine/dtype.ts';

export function randomArray(dtype: DType, length: number, seed: number): TypedArray {
  const out = dtype === 'float32' ? new Float32Array(length) : new Float64Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return out;
}
