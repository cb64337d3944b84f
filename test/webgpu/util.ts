/**
 * Helpers shared by the WebGPU tests: moving reference arrays onto either backend, reading
 * results out of tidy scopes, and float32 tolerances scaled by the magnitude of the terms.
 */
import { expect } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Backend, Tensor } from '../../engine/index.ts';
import type { WebGpuBackend } from '../../kernels/webgpu/backend.ts';
import type { Arr } from '../engine/reference.ts';

export function cpuBackend(): Backend {
  const cpu = tg.backendInstance('cpu');
  if (!cpu) throw new Error('the cpu backend is not registered');
  return cpu;
}

/** Makes WebGPU the default backend (so scalars promoted inside ops land there too). */
export async function useWebGpu(): Promise<WebGpuBackend> {
  return (await tg.setBackend('webgpu')) as WebGpuBackend;
}

export const onGpu = (a: Arr, gpu: Backend): Tensor => tg.tensor(Float32Array.from(a.data), a.shape, 'float32', gpu);
export const onCpu64 = (a: Arr): Tensor => tg.tensor(Float64Array.from(a.data), a.shape, 'float64', cpuBackend());

/**
 * Evaluates `f` in a tidy (so intermediates are freed), reads every returned tensor and
 * disposes them.
 */
export async function evaluate(f: () => Tensor[]): Promise<{ shape: number[]; data: tg.TypedArray }[]> {
  const outs = tg.tidy(f);
  try {
    return await Promise.all(outs.map(async (t) => ({ shape: [...t.shape], data: await t.data() })));
  } finally {
    tg.dispose(outs);
  }
}

export function absArr(a: Arr): Arr {
  return { data: a.data.map(Math.abs), shape: a.shape };
}

/**
 * |actual - expected| <= rtol |expected| + atol + mtol * magnitude (elementwise), where the
 * magnitude (e.g. the sum of |terms| of a reduction) bounds float32 accumulation error.
 */
export function expectNear(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  { rtol = 1e-4, atol = 1e-5, mtol = 2e-6, magnitude }: { rtol?: number; atol?: number; mtol?: number; magnitude?: ArrayLike<number> } = {},
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const tol = rtol * Math.abs(e) + atol + (magnitude ? mtol * magnitude[i] : 0);
    const ok = (Number.isNaN(a) && Number.isNaN(e)) || a === e || Math.abs(a - e) <= tol;
    if (!ok) expect.fail(`${what}: element ${i} of ${expected.length}: got ${a}, expected ${e} (tolerance ${tol})`);
  }
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
