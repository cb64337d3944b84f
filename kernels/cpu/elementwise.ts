/** CPU kernels for the elementwise primitives; broadcasting reads through stride-0 views. */
import erf from '@stdlib/math-base-special-erf';
import type { NdArray } from 'ndarray';
import ops from 'ndarray-ops';
import type { KernelInput } from '../../engine/backend.ts';
import { allocate, type DType, type TypedArray } from '../../engine/dtype.ts';
import { shapesEqual, sizeOf, type Shape } from '../../engine/shape.ts';
import { broadcastView, materialize, output } from './views.ts';

export type CpuInput = KernelInput<TypedArray>;
export type CpuKernel = (inputs: readonly CpuInput[], params: any, outShape: Shape, dtype: DType) => TypedArray;

function mapUnary(fn: (x: number) => number): CpuKernel {
  return ([a], _p, _s, dtype) => {
    const src = a.storage;
    const out = allocate(dtype, src.length);
    for (let i = 0; i < src.length; i++) out[i] = fn(src[i]);
    return out;
  };
}

export const unaryKernels: Record<string, CpuKernel> = {
  neg: mapUnary((x) => -x),
  exp: mapUnary(Math.exp),
  log: mapUnary(Math.log),
  sqrt: mapUnary(Math.sqrt),
  tanh: mapUnary(Math.tanh),
  erf: mapUnary(erf),
  abs: mapUnary(Math.abs),
  // Math.sign(-0) is -0; a sign of exactly 0 keeps the derivative of abs at 0 equal to 0.
  sign: mapUnary((x) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN)),
  sin: mapUnary(Math.sin),
  cos: mapUnary(Math.cos),
  log1p: mapUnary(Math.log1p),
  expm1: mapUnary(Math.expm1),
};

type NdBinary = (out: NdArray, a: NdArray, b: NdArray) => unknown;

function binary(nd: NdBinary, fast: (x: number, y: number) => number): CpuKernel {
  return ([a, b], _p, outShape, dtype) => {
    const x = a.storage;
    const y = b.storage;
    // Fast paths for the common same-shape and scalar cases; everything else goes through
    // ndarray-ops on stride-0 views, which never materializes the broadcast operands.
    if (shapesEqual(a.shape, b.shape)) {
      const out = allocate(dtype, x.length);
      for (let i = 0; i < x.length; i++) out[i] = fast(x[i], y[i]);
      return out;
    }
    if (y.length === 1 && shapesEqual(a.shape, outShape)) {
      const s = y[0];
      const out = allocate(dtype, x.length);
      for (let i = 0; i < x.length; i++) out[i] = fast(x[i], s);
      return out;
    }
    if (x.length === 1 && shapesEqual(b.shape, outShape)) {
      const s = x[0];
      const out = allocate(dtype, y.length);
      for (let i = 0; i < y.length; i++) out[i] = fast(s, y[i]);
      return out;
    }
    const [data, out] = output(outShape, dtype);
    if (data.length > 0) nd(out, broadcastView(x, a.shape, outShape), broadcastView(y, b.shape, outShape));
    return data;
  };
}

export const binaryKernels: Record<string, CpuKernel> = {
  add: binary(ops.add, (x, y) => x + y),
  sub: binary(ops.sub, (x, y) => x - y),
  mul: binary(ops.mul, (x, y) => x * y),
  div: binary(ops.div, (x, y) => x / y),
  max: binary(ops.max, (x, y) => (x > y || Number.isNaN(x) ? x : y)),
  min: binary(ops.min, (x, y) => (x < y || Number.isNaN(x) ? x : y)),
  pow: binary(ops.pow, Math.pow),
  greater: binary(ops.gt, (x, y) => (x > y ? 1 : 0)),
  greaterEqual: binary(ops.geq, (x, y) => (x >= y ? 1 : 0)),
  less: binary(ops.lt, (x, y) => (x < y ? 1 : 0)),
  lessEqual: binary(ops.leq, (x, y) => (x <= y ? 1 : 0)),
  equal: binary(ops.eq, (x, y) => (x === y ? 1 : 0)),
  notEqual: binary(ops.neq, (x, y) => (x !== y ? 1 : 0)),
};

export const where: CpuKernel = ([c, a, b], _p, outShape, dtype) => {
  const n = sizeOf(outShape);
  const cs = c.storage.length === n ? c.storage : materialize(broadcastView(c.storage, c.shape, outShape), outShape, c.dtype);
  const as = a.storage.length === n ? a.storage : materialize(broadcastView(a.storage, a.shape, outShape), outShape, dtype);
  const bs = b.storage.length === n ? b.storage : materialize(broadcastView(b.storage, b.shape, outShape), outShape, dtype);
  const out = allocate(dtype, n);
  for (let i = 0; i < n; i++) out[i] = cs[i] !== 0 ? as[i] : bs[i];
  return out;
};

export const cast: CpuKernel = ([a], _p, _s, dtype) => {
  const out = allocate(dtype, a.storage.length);
  out.set(a.storage);
  return out;
};

/** Storage is immutable, so identity-like primitives share it. */
export const share: CpuKernel = ([a]) => a.storage;
