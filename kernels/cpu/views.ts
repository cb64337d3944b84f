/** ndarray views over backend storage: broadcasting and movement are strided views, never copies. */
import ndarray, { type NdArray } from 'ndarray';
import { allocate, type DType, type TypedArray } from '../../engine/dtype.ts';
import { broadcastStrides, sizeOf, stridesOf, type Shape } from '../../engine/shape.ts';
import { gather } from './strided.ts';

export function view(data: TypedArray, shape: Shape, strides?: readonly number[], offset = 0): NdArray<TypedArray> {
  // ndarray treats a rank-0 array as having no elements; a [1] view is the same single value.
  if (shape.length === 0) return ndarray(data, [1], [strides?.[0] ?? 1], offset);
  return ndarray(data, [...shape], strides ? [...strides] : stridesOf(shape), offset);
}

/** `data` (of `shape`) read as if broadcast to `target`. */
export function broadcastView(data: TypedArray, shape: Shape, target: Shape): NdArray<TypedArray> {
  return view(data, target, target.length === 0 ? [0] : broadcastStrides(shape, target));
}

/** A fresh contiguous output and its view. */
export function output(shape: Shape, dtype: DType): [TypedArray, NdArray<TypedArray>] {
  const data = allocate(dtype, sizeOf(shape));
  return [data, view(data, shape)];
}

/** Copies any strided view into a new contiguous array (strided.ts `gather`: block copies of contiguous runs). */
export function materialize(src: NdArray<TypedArray>, shape: Shape, dtype: DType): TypedArray {
  const data = allocate(dtype, sizeOf(shape));
  // A rank-0 view is stored as [1] (see `view`).
  if (data.length > 0) gather(src.data, src.offset, shape.length === 0 ? [1] : shape, src.stride, data);
  return data;
}
