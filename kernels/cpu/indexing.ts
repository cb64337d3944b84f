/**
 * CPU kernels of gather and scatterAdd. Both see x as [outer, n, inner] around the indexed axis
 * and the indices as a flat list of m entries; whole `inner` runs move at once. Indices are
 * checked before anything is written, and an out-of-range one is an error naming the op.
 */
import type { GatherParams, ScatterAddParams } from '../../engine/primitives/gather.ts';
import { allocate } from '../../engine/dtype.ts';
import { formatShape, sizeOf, type Shape } from '../../engine/shape.ts';
import type { CpuKernel } from './elementwise.ts';
import { allocateOutput } from './storage.ts';

function checkRange(op: string, indices: Int32Array, length: number, axis: number, shape: Shape): void {
  for (let j = 0; j < indices.length; j++) {
    const k = indices[j];
    if (k < 0 || k >= length) {
      throw new Error(`${op}: index ${k} at position ${j} is out of range [0, ${length}) for axis ${axis} of ${formatShape(shape)}`);
    }
  }
}

export const gather: CpuKernel = ([x, idx], { axis }: GatherParams, outShape, dtype) => {
  const indices = idx.storage as Int32Array;
  const n = x.shape[axis];
  checkRange('gather', indices, n, axis, x.shape);
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const m = indices.length;
  const src = x.storage;
  const out = allocateOutput(dtype, sizeOf(outShape));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const from = (o * n + indices[j]) * inner;
      const to = (o * m + j) * inner;
      if (inner >= 16) out.set(src.subarray(from, from + inner), to);
      else for (let q = 0; q < inner; q++) out[to + q] = src[from + q];
    }
  }
  return out;
};

/** Terms are added in index order (deterministic); float32 sums accumulate in doubles. */
export const scatterAdd: CpuKernel = ([u, idx], { axis, size }: ScatterAddParams, outShape, dtype) => {
  const indices = idx.storage as Int32Array;
  checkRange('scatterAdd', indices, size, axis, outShape);
  const outer = sizeOf(u.shape.slice(0, axis));
  const m = indices.length;
  const inner = sizeOf(u.shape.slice(axis + idx.shape.length));
  const src = u.storage;
  const int = dtype === 'int32';
  const acc = int ? allocate('int32', sizeOf(outShape)) : new Float64Array(sizeOf(outShape));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const from = (o * m + j) * inner;
      const to = (o * size + indices[j]) * inner;
      if (int) for (let q = 0; q < inner; q++) acc[to + q] = (acc[to + q] + src[from + q]) | 0;
      else for (let q = 0; q < inner; q++) acc[to + q] += src[from + q];
    }
  }
  if (dtype === 'float64' || int) return acc;
  const out = allocateOutput(dtype, acc.length);
  out.set(acc);
  return out;
};
