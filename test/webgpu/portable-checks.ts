/**
 * Kernel checks that run unchanged in Node, Deno and a browser page (no vitest, no Node APIs):
 * elementwise, reduce, movement, matmul and conv2d forward, plus gradients and a JVP, each on
 * the WebGPU backend (float32) against the CPU backend of the same host (float64). Returns a
 * serializable report the vitest side asserts on.
 *
 * @example
 *   // Deno: console.log(JSON.stringify(await kernelReport()));
 */
import * as tg from '../../engine/index.ts';
import type { Backend, Tensor } from '../../engine/index.ts';
import { releaseDevice } from '../../kernels/webgpu/device.ts';

export interface CheckResult {
  name: string;
  shapes: number[][];
  /** max |gpu - ref| / (RTOL |ref| + ATOL max(1, max |ref|)): at most 1 passes. */
  error: number;
  ok: boolean;
}

export type KernelReport =
  | { available: true; host: string; adapterInfo: string; checks: CheckResult[]; ms: number }
  | { available: false; error: string };

const RTOL = 1e-4;
const ATOL = 2e-5;

interface Case {
  name: string;
  shapes: number[][];
  f: (...xs: Tensor[]) => Tensor[];
}

/** Every name here must come back ok: the vitest side checks the list too. */
export const CHECKS: Case[] = [
  { name: 'add with broadcasting', shapes: [[3, 1, 5], [4, 1]], f: (a, b) => [tg.add(a, b)] },
  { name: 'unary chain exp/tanh/erf/log1p', shapes: [[7, 13]], f: (x) => [tg.erf(tg.tanh(tg.mul(tg.exp(x), 0.5))), tg.log1p(tg.abs(x))] },
  { name: 'where, comparisons, maximum, pow', shapes: [[6, 9], [9]], f: (a, b) => [tg.where(tg.greater(a, b), tg.maximum(a, b), tg.pow(tg.abs(b), 1.5))] },
  { name: 'sum over axes [0, 2] with keepdims', shapes: [[9, 5, 33]], f: (x) => [tg.sum(x, [0, 2], true)] },
  { name: 'full sum split across workgroups', shapes: [[130, 257]], f: (x) => [tg.sum(x)] },
  { name: 'max over the last axis', shapes: [[17, 301]], f: (x) => [tg.max(x, -1)] },
  { name: 'transpose, strided slice, reverse', shapes: [[10, 11, 3]], f: (x) => [tg.transpose(x, [2, 0, 1]), tg.slice(x, [1, 2, 0], [9, 11, 3], [2, 3, 2]), tg.reverse(x, [0, 2])] },
  { name: 'pad with interior, concat, broadcastTo', shapes: [[3, 4], [3, 2]], f: (a, b) => [tg.pad(a, [1, 0], [2, 1], [1, 2], -0.5), tg.concat([a, b, a], 1), tg.broadcastTo(b, [2, 3, 2])] },
  { name: 'matmul 70x90 @ 90x65', shapes: [[70, 90], [90, 65]], f: (a, b) => [tg.matmul(a, b)] },
  { name: 'batched matmul, both transposed, broadcast batch', shapes: [[2, 37, 19], [45, 37]], f: (a, b) => [tg.matmul(a, b, { transposeA: true, transposeB: true })] },
  { name: 'conv2d SAME stride 2', shapes: [[2, 9, 11, 3], [3, 3, 3, 5]], f: (x, w) => [tg.conv2d(x, w, { strides: 2, padding: 'SAME' })] },
  {
    name: 'conv2d dilated, input-dilated, flipped, cropped',
    shapes: [[1, 7, 6, 2], [2, 3, 2, 3]],
    f: (x, w) => [tg.convGeneral(x, w, { strides: [1, 2], padding: [[1, -1], [2, 0]], kernelDilation: [2, 1], inputDilation: [1, 2], flip: true })],
  },
  {
    name: 'gradient of a conv + dense loss w.r.t. both weights',
    shapes: [[2, 6, 6, 2], [3, 3, 2, 4], [4, 3]],
    f: (x, w, v) => tg.grad((ww: Tensor, vv: Tensor) => tg.sum(tg.tanh(tg.matmul(tg.mean(tg.conv2d(x, ww, { padding: 'SAME' }), [1, 2]), vv))), { argnums: [0, 1] })(w, v) as Tensor[],
  },
  {
    name: 'JVP of matmul and conv2d',
    shapes: [[5, 6], [6, 4], [5, 6], [1, 5, 5, 2], [2, 2, 2, 3], [1, 5, 5, 2]],
    f: (a, b, ta, x, w, tx) => [tg.jvp((p: Tensor) => tg.matmul(p, b), [a], [ta])[1] as Tensor, tg.jvp((p: Tensor) => tg.conv2d(p, w), [x], [tx])[1] as Tensor],
  },
];

/** Deterministic values in [-2, 2) (xorshift32), the same on every host. */
export function seeded(shape: readonly number[], seed: number): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 4294967296) * 4 - 2;
  }
  return out;
}

async function evaluate(c: Case, backend: Backend, dtype: 'float32' | 'float64'): Promise<{ shape: number[]; data: ArrayLike<number> }[]> {
  const outs = tg.tidy(() => {
    const xs = c.shapes.map((s, i) => {
      const values = seeded(s, i + 1);
      return tg.tensor(dtype === 'float32' ? Float32Array.from(values) : values, s, dtype, backend);
    });
    return c.f(...xs);
  });
  try {
    return await Promise.all(outs.map(async (t) => ({ shape: [...t.shape], data: await t.data() })));
  } finally {
    tg.dispose(outs);
  }
}

async function check(c: Case, gpu: Backend, cpu: Backend): Promise<CheckResult> {
  // Ops promote scalars on the default backend of their inputs; set it for each side.
  await tg.setBackend('cpu');
  const want = await evaluate(c, cpu, 'float64');
  await tg.setBackend('webgpu');
  const got = await evaluate(c, gpu, 'float32');
  let error = 0;
  want.forEach((w, k) => {
    const g = got[k];
    if (g.shape.join() !== w.shape.join() || g.data.length !== w.data.length) {
      error = Infinity;
      return;
    }
    let scale = 1;
    for (let i = 0; i < w.data.length; i++) scale = Math.max(scale, Math.abs(w.data[i]));
    for (let i = 0; i < w.data.length; i++) {
      const e = Math.abs(g.data[i] - w.data[i]) / (RTOL * Math.abs(w.data[i]) + ATOL * scale);
      error = Math.max(error, Number.isNaN(e) ? Infinity : e);
    }
  });
  return { name: c.name, shapes: c.shapes, error, ok: error <= 1 };
}

/** Runs CHECKS on this host's WebGPU adapter; never throws for a missing adapter (it reports it). */
export async function kernelReport(): Promise<KernelReport> {
  let gpu: Backend;
  try {
    gpu = await tg.setBackend('webgpu');
  } catch (e) {
    return { available: false, error: (e as Error).message };
  }
  const cpu = tg.backendInstance('cpu')!;
  const start = performance.now();
  try {
    const checks: CheckResult[] = [];
    for (const c of CHECKS) checks.push(await check(c, gpu, cpu));
    const info = gpu as Backend & { adapterInfo: string; host: string };
    return { available: true, host: info.host, adapterInfo: info.adapterInfo, checks, ms: Math.round(performance.now() - start) };
  } finally {
    await tg.setBackend('cpu');
    await releaseDevice();
  }
}
