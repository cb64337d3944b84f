import { expect } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { DType, Tensor } from '../../engine/index.ts';
import type { Arr } from './reference.ts';

export function toTensor(a: Arr, dtype: DType = 'float64'): Tensor {
  return tg.tensor(dtype === 'float64' ? Float64Array.from(a.data) : Float32Array.from(a.data), a.shape, dtype);
}

export function toArr(t: Tensor): Arr {
  return { data: Float64Array.from(t.dataSync()), shape: [...t.shape] };
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise, with a readable message. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = rtol, what = ''): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const ok = (Number.isNaN(a) && Number.isNaN(e)) || Math.abs(a - e) <= atol + rtol * Math.abs(e);
    if (!ok) expect.fail(`${what}: element ${i}: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
  }
}

export function expectShape(t: Tensor, shape: readonly number[]): void {
  expect([...t.shape]).toEqual([...shape]);
}
