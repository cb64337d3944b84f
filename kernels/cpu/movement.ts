/** CPU movement kernels: every one is a strided view of the input (gathered) or of the output (scattered into). */
import type { PadParams, SliceParams } from '../../engine/primitives/movement.ts';
import { sizeOf, stridesOf } from '../../engine/shape.ts';
import type { CpuKernel } from './elementwise.ts';
import { scatter } from './strided.ts';
import { broadcastView, materialize, output, view } from './views.ts';

export const movementKernels = {
  reshape: ([a]) => a.storage,

  transpose: ([a], { perm }: { perm: number[] }, outShape, dtype) => {
    const strides = stridesOf(a.shape);
    return materialize(view(a.storage, outShape, perm.map((p) => strides[p])), outShape, dtype);
  },

  broadcastTo: ([a], _p, outShape, dtype) => materialize(broadcastView(a.storage, a.shape, outShape), outShape, dtype),

  slice: ([a], { begin, strides: steps }: SliceParams, outShape, dtype) => {
    const strides = stridesOf(a.shape);
    const offset = begin.reduce((o, b, i) => o + b * strides[i], 0);
    return materialize(view(a.storage, outShape, strides.map((s, i) => s * steps[i]), offset), outShape, dtype);
  },

  pad: ([a], { lo, interior, value }: PadParams, outShape, dtype) => {
    const data = output(outShape, dtype);
    if (value !== 0) data.fill(value);
    if (a.storage.length === 0) return data;
    const strides = stridesOf(outShape);
    const offset = lo.reduce((o, l, i) => o + l * strides[i], 0);
    scatter(a.storage, data, offset, a.shape, strides.map((s, i) => s * (interior[i] + 1)));
    return data;
  },

  // Each input is `outer` contiguous blocks (one per index before the axis) placed side by side
  // with the others' blocks: block copies, no per-element indexing.
  concat: (inputs, { axis }: { axis: number }, outShape, dtype) => {
    const data = output(outShape, dtype);
    const outer = sizeOf(outShape.slice(0, axis));
    const rowLen = sizeOf(outShape.slice(axis));
    let start = 0;
    for (const x of inputs) {
      const block = sizeOf(x.shape.slice(axis));
      const src = x.storage;
      for (let i = 0; i < outer && block > 0; i++) data.set(src.subarray(i * block, (i + 1) * block), i * rowLen + start);
      start += block;
    }
    return data;
  },

  reverse: ([a], { axes }: { axes: number[] }, outShape, dtype) => {
    const strides = stridesOf(a.shape);
    let offset = 0;
    const flipped = strides.map((s, i) => {
      if (!axes.includes(i)) return s;
      offset += (a.shape[i] - 1) * s;
      return -s;
    });
    return materialize(view(a.storage, outShape, flipped, offset), outShape, dtype);
  },
} satisfies Record<string, CpuKernel>;
