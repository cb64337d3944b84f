/**
 * Strided views over backend storage: broadcasting and movement are views (storage, offset,
 * strides), copied once into a contiguous output by strided.ts `gather`. Our own three-field
 * view rather than the ndarray package: ndarray compiles its constructors with `new Function`,
 * which a strict Content-Security-Policy refuses.
 */
import { type DType, type TypedArray } from '../../engine/dtype.ts';
import { broadcastStrides, sizeOf, stridesOf, type Shape } from '../../engine/shape.ts';
import { gather } from './strided.ts';
import { allocateOutput } from './storage.ts';

export interface StridedView {
  readonly data: TypedArray;
  readonly offset: number;
  /** One stride per axis of the view's shape (which the caller carries alongside). */
  readonly strides: readonly number[];
}

export function view(data: TypedArray, shape: Shape, strides?: readonly number[], offset = 0): StridedView {
  return { data, offset, strides: strides ?? stridesOf(shape) };
}

/** `data` (of `shape`) read as if broadcast to `target`. */
export function broadcastView(data: TypedArray, shape: Shape, target: Shape): StridedView {
  return view(data, target, broadcastStrides(shape, target));
}

/** A fresh contiguous output of `shape`. */
export function output(shape: Shape, dtype: DType): TypedArray {
  return allocateOutput(dtype, sizeOf(shape));
}

/** Copies a strided view of `shape` into a new contiguous array (block copies of contiguous runs). */
export function materialize(src: StridedView, shape: Shape, dtype: DType): TypedArray {
  const data = allocateOutput(dtype, sizeOf(shape));
  // A rank-0 view is one element; gather walks it as [1].
  if (data.length > 0) gather(src.data, src.offset, shape.length === 0 ? [1] : shape, shape.length === 0 ? [0] : src.strides, data);
  return data;
}
