/** Floating dtypes. float64 exists on the CPU backend only, for references and gradient checks. */
export type DType = 'float32' | 'float64';

export type TypedArray = Float32Array | Float64Array;

export const DTYPES: readonly DType[] = ['float32', 'float64'];

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64';
}

/** Allocates a zeroed typed array of the dtype. */
export function allocate(dtype: DType, size: number): TypedArray {
  return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
}

export function dtypeOf(data: TypedArray): DType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}
