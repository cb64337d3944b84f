/** CPU reductions: reduced axes are moved last (a strided copy only when they are not already), then each contiguous block is folded. */
import type { ReduceParams } from '../../engine/primitives/reduce.ts';
import { allocate } from '../../engine/dtype.ts';
import { sizeOf, stridesOf } from '../../engine/shape.ts';
import type { CpuKernel } from './elementwise.ts';
import { materialize, view } from './views.ts';

function reducer(init: number, fold: (acc: number, x: number) => number): CpuKernel {
  return ([a], { axes }: ReduceParams, outShape, dtype) => {
    const kept = a.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const perm = [...kept, ...axes];
    const trailing = perm.every((p, i) => p === i);
    let src = a.storage;
    if (!trailing) {
      const strides = stridesOf(a.shape);
      src = materialize(view(a.storage, perm.map((p) => a.shape[p]), perm.map((p) => strides[p])), perm.map((p) => a.shape[p]), a.dtype);
    }
    const block = sizeOf(axes.map((ax) => a.shape[ax]));
    const n = sizeOf(outShape);
    const out = allocate(dtype, n);
    for (let i = 0; i < n; i++) {
      let acc = init;
      const base = i * block;
      for (let j = 0; j < block; j++) acc = fold(acc, src[base + j]);
      out[i] = acc;
    }
    return out;
  };
}

export const reduceKernels: Record<string, CpuKernel> = {
  sum: reducer(0, (acc, x) => acc + x),
  // NaN wins, as in NumPy.
  reduceMax: reducer(Number.NEGATIVE_INFINITY, (acc, x) => (x > acc || Number.isNaN(x) ? x : acc)),
};
