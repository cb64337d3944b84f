import type { DType, TypedArray } from './dtype.ts';
import type { PrimitiveName } from './primitives/index.ts';
import type { Shape } from './shape.ts';

/** What a kernel sees of one input: the backend's storage plus the logical shape and dtype. */
export interface KernelInput<S = unknown> {
  readonly storage: S;
  readonly shape: Shape;
  readonly dtype: DType;
}

export type BackendName = 'cpu' | 'webgpu';

/**
 * A backend owns storage and runs primitives. Storage is immutable once produced, so
 * backends may share it between tensors (the CPU backend shares reshapes); `release`
 * is called exactly once per tensor that owns it.
 */
export interface Backend<S = unknown> {
  readonly name: BackendName;
  supportsDType(dtype: DType): boolean;
  /** Copies host values (already of `dtype`) into new storage. */
  upload(values: TypedArray, shape: Shape, dtype: DType): S;
  /** Runs primitive `op` and returns new storage for its output; enqueues only on asynchronous backends. */
  run(op: PrimitiveName, inputs: readonly KernelInput<S>[], params: unknown, outShape: Shape, outDType: DType): S;
  /** Storage holding the same values, for zero-copy reshapes; undefined when the backend must copy. */
  alias?(storage: S): S;
  read(storage: S, shape: Shape, dtype: DType): Promise<TypedArray>;
  /** Synchronous read; only backends that hold host memory provide it. */
  readSync?(storage: S, shape: Shape, dtype: DType): TypedArray;
  release(storage: S): void;
  /** Number of live storages this backend holds (for leak tests). */
  liveCount(): number;
}
