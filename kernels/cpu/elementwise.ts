/** CPU kernels for the elementwise primitives; broadcasting reads through stride-0 axes. */
import erf from '@stdlib/math-base-special-erf';
import type { KernelInput } from '../../engine/backend.ts';
import { allocate, toInt32, type DType, type TypedArray } from '../../engine/dtype.ts';
import { shapesEqual, sizeOf, type Shape } from '../../engine/shape.ts';
import { broadcastBinary, compileStridedBinary } from './strided.ts';
import { broadcastView, materialize } from './views.ts';

export type CpuInput = KernelInput<TypedArray>;
export type CpuKernel = (inputs: readonly CpuInput[], params: any, outShape: Shape, dtype: DType) => TypedArray;

/**
 * Each op gets its own compiled loop (as ndarray-ops' cwise does): a loop shared by all ops would
 * call its op through a megamorphic closure that V8 cannot inline, which costs several times more
 * than the arithmetic itself.
 */
type UnaryLoop = (src: TypedArray, out: TypedArray, n: number, fn: (x: number) => number) => void;
type BinaryLoop = (x: TypedArray, y: TypedArray, out: TypedArray, n: number) => void;

function compileUnary(expr: string): UnaryLoop {
  return new Function('src', 'out', 'n', 'fn', `for (let i = 0; i < n; i++) { const x = src[i]; out[i] = ${expr}; }`) as UnaryLoop;
}

function unary(expr: string, fn: (x: number) => number = Math.abs): CpuKernel {
  const loop = compileUnary(expr);
  return ([a], _p, _s, dtype) => {
    const out = allocate(dtype, a.storage.length);
    loop(a.storage, out, out.length, fn);
    return out;
  };
}

export const unaryKernels = {
  neg: unary('-x'),
  exp: unary('Math.exp(x)'),
  log: unary('Math.log(x)'),
  sqrt: unary('Math.sqrt(x)'),
  tanh: unary('Math.tanh(x)'),
  erf: unary('fn(x)', erf),
  abs: unary('Math.abs(x)'),
  // Math.sign(-0) is -0; a sign of exactly 0 keeps the derivative of abs at 0 equal to 0.
  sign: unary('x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN'),
  sin: unary('Math.sin(x)'),
  cos: unary('Math.cos(x)'),
  log1p: unary('Math.log1p(x)'),
  expm1: unary('Math.expm1(x)'),
  acos: unary('Math.acos(x)'),
  asin: unary('Math.asin(x)'),
} satisfies Record<string, CpuKernel>;

function binary(expr: string): CpuKernel {
  // Four specialized loops: same shapes, scalar right operand, scalar left operand, and any
  // other broadcast (strided.ts).
  const same = new Function('xs', 'ys', 'out', 'n', `for (let i = 0; i < n; i++) { const x = xs[i], y = ys[i]; out[i] = ${expr}; }`) as BinaryLoop;
  const right = new Function('xs', 'ys', 'out', 'n', `const y = ys[0]; for (let i = 0; i < n; i++) { const x = xs[i]; out[i] = ${expr}; }`) as BinaryLoop;
  const left = new Function('xs', 'ys', 'out', 'n', `const x = xs[0]; for (let i = 0; i < n; i++) { const y = ys[i]; out[i] = ${expr}; }`) as BinaryLoop;
  const strided = compileStridedBinary(expr);
  return ([a, b], _p, outShape, dtype) => {
    const x = a.storage;
    const y = b.storage;
    // Everything that is not one of the flat cases reads the operands through stride-0 axes,
    // never materializing them.
    if (shapesEqual(a.shape, b.shape)) {
      const out = allocate(dtype, x.length);
      same(x, y, out, out.length);
      return out;
    }
    if (y.length === 1 && shapesEqual(a.shape, outShape)) {
      const out = allocate(dtype, x.length);
      right(x, y, out, out.length);
      return out;
    }
    if (x.length === 1 && shapesEqual(b.shape, outShape)) {
      const out = allocate(dtype, y.length);
      left(x, y, out, out.length);
      return out;
    }
    const out = allocate(dtype, sizeOf(outShape));
    broadcastBinary(strided, x, a.shape, y, b.shape, outShape, out);
    return out;
  };
}

/** int32 products wrap modulo 2^32 (as WGSL's i32): x * y in doubles would round first. */
function byDType(float: CpuKernel, int32: CpuKernel): CpuKernel {
  return (inputs, params, outShape, dtype) => (dtype === 'int32' ? int32 : float)(inputs, params, outShape, dtype);
}

export const binaryKernels = {
  // int32 sums and differences are exact in doubles; the Int32Array store wraps them.
  add: binary('x + y'),
  sub: binary('x - y'),
  mul: byDType(binary('x * y'), binary('Math.imul(x, y)')),
  div: binary('x / y'),
  // NaN propagates, as in NumPy.
  max: binary('x > y || x !== x ? x : y'),
  min: binary('x < y || x !== x ? x : y'),
  pow: binary('Math.pow(x, y)'),
  greater: binary('x > y ? 1 : 0'),
  greaterEqual: binary('x >= y ? 1 : 0'),
  less: binary('x < y ? 1 : 0'),
  lessEqual: binary('x <= y ? 1 : 0'),
  equal: binary('x === y ? 1 : 0'),
  notEqual: binary('x !== y ? 1 : 0'),
} satisfies Record<string, CpuKernel>;

export const where: CpuKernel = ([c, a, b], _p, outShape, dtype) => {
  const n = sizeOf(outShape);
  const cs = c.storage.length === n ? c.storage : materialize(broadcastView(c.storage, c.shape, outShape), outShape, c.dtype);
  const as = a.storage.length === n ? a.storage : materialize(broadcastView(a.storage, a.shape, outShape), outShape, dtype);
  const bs = b.storage.length === n ? b.storage : materialize(broadcastView(b.storage, b.shape, outShape), outShape, dtype);
  const out = allocate(dtype, n);
  for (let i = 0; i < n; i++) out[i] = cs[i] !== 0 ? as[i] : bs[i];
  return out;
};

/** Floats to int32 truncate toward zero and saturate, NaN to 0 (engine/dtype.ts toInt32), as WGSL's i32(). */
export const cast: CpuKernel = ([a], _p, _s, dtype) => {
  const src = a.storage;
  const out = allocate(dtype, src.length);
  if (dtype === 'int32' && a.dtype !== 'int32') for (let i = 0; i < src.length; i++) out[i] = toInt32(src[i]);
  else out.set(src);
  return out;
};

/** Storage is immutable, so identity-like primitives share it. */
export const share: CpuKernel = ([a]) => a.storage;
