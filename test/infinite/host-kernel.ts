/** Test helpers: a kernel evaluation read back to float64 host matrices, and the distance of two tensors (CPU tensors only). */
import { expect } from 'vitest';
import type { Tensor } from '../../engine/index.ts';
import { kernelMatrix, type KernelMatrix, type KernelResult, type SpatialLayout } from '../../models/index.ts';

export interface HostKernels {
  readonly nngp: KernelMatrix;
  readonly ntk: KernelMatrix | null;
  readonly layout: SpatialLayout;
}

/** The result of `layer.kernel(...)` as host matrices; the tensors are disposed. */
export function host(r: KernelResult): HostKernels {
  const out = { nngp: kernelMatrix(r.nngp), ntk: r.ntk === null ? null : kernelMatrix(r.ntk), layout: r.layout };
  r.nngp.dispose();
  r.ntk?.dispose();
  return out;
}

/** The largest |a - b| over two tensors of the same shape. */
export function maxDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const u = a.dataSync();
  const v = b.dataSync();
  let m = 0;
  for (let i = 0; i < u.length; i++) m = Math.max(m, Math.abs(u[i] - v[i]));
  return m;
}
