/**
 * The CPU backend's storage: a large float array is allocated resident in the Wasm kernels' memory
 * (kernels/wasm/heap.ts) when the runtime allows, so the kernels that read it next take it in place
 * instead of copying it in, and write their outputs in place too; everything else is an ordinary
 * typed array. Both are plain typed arrays to every kernel, so the JavaScript kernels do not care.
 */
import { allocate, type DType, type TypedArray } from '../../engine/dtype.ts';
import { heapOf } from '../wasm/heap.ts';
import { residentMinBytes, wasmRuntime } from './config.ts';

/** A zeroed array for a kernel's output of `size` elements. */
export function allocateOutput(dtype: DType, size: number): TypedArray {
  return residentArray(dtype, size) ?? allocate(dtype, size);
}

/**
 * An array for the output of a kernel that writes every one of its `size` elements: not zeroed
 * when it reuses a block (a pass over the memory saved on every matrix product and elementwise op).
 */
export function allocateOverwritten(dtype: DType, size: number): TypedArray {
  return residentArray(dtype, size, false) ?? allocate(dtype, size);
}

/** A resident array (zeroed unless `zero` is false), or null when it would be small, int32, or the runtime cannot hold it. */
function residentArray(dtype: DType, size: number, zero = true): TypedArray | null {
  if (dtype === 'int32' || size * (dtype === 'float64' ? 8 : 4) < residentMinBytes()) return null;
  return wasmRuntime()?.heap.allocArray(dtype, size, zero) ?? null;
}

/**
 * The storage of a tensor made from host values: a copy in the kernels' memory when `values` is
 * large enough to be resident (it is copied once here instead of at every kernel that reads it),
 * else `values` itself.
 */
export function adoptStorage(values: TypedArray): TypedArray {
  const heap = heapOf(values);
  if (heap !== undefined) {
    heap.retain(values);
    return values;
  }
  const resident = values instanceof Int32Array ? null : residentArray(values instanceof Float64Array ? 'float64' : 'float32', values.length);
  if (resident === null) return values;
  resident.set(values);
  return resident;
}

/** One more tensor holds `storage` (the backend shares storage for identity-like primitives). */
export function retainStorage(storage: TypedArray): void {
  heapOf(storage)?.retain(storage);
}

/** A tensor let go of `storage`; a resident array's block is freed with its last holder. */
export function releaseStorage(storage: TypedArray): void {
  heapOf(storage)?.release(storage);
}
