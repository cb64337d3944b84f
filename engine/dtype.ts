/**
 * Element types. float64 exists on the CPU backend only, for references and gradient checks;
 * int32 holds indices and counts (gather/scatterAdd indices, argmax results) on both backends.
 * int32 is not differentiable: autodiff treats its tangents and cotangents as symbolic zeros.
 */
export type DType = 'float32' | 'float64' | 'int32';

export type FloatDType = 'float32' | 'float64';

export type TypedArray = Float32Array | Float64Array | Int32Array;

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64' || x === 'int32';
}

export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype === 'float32' || dtype === 'float64';
}

/** Allocates a zeroed typed array of the dtype. */
export function allocate(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float64': return new Float64Array(size);
    case 'float32': return new Float32Array(size);
    case 'int32': return new Int32Array(size);
    default: throw new Error(`allocate: unknown dtype '${String(dtype)}' (${DTYPES.join(', ')})`);
  }
}

export function dtypeOf(data: TypedArray): DType {
  return data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : 'float32';
}

/**
 * Float to int32 as both backends do it (WGSL's i32(f32) conversion): truncation toward zero,
 * saturating at the int32 range, NaN to 0. (A typed-array store would wrap modulo 2^32 instead.)
 */
export function toInt32(v: number): number {
  if (v !== v) return 0;
  if (v >= 2147483647) return 2147483647;
  if (v <= -2147483648) return -2147483648;
  return Math.trunc(v);
}
