/**
 * The public op layer: argument normalization, scalar promotion and friendly signatures on top
 * of the primitive set. Every function here either binds one primitive or composes them, so all
 * of it is differentiable in both modes.
 */
import { bind } from './apply.ts';
import { getBackend } from './backend-registry.ts';
import { samePadding, type ConvParams } from './conv-params.ts';
import { allocationError } from './apply.ts';
import { allocate, DTYPES, isDType, type DType, type TypedArray } from './dtype.ts';
import type { Primitive } from './primitive.ts';
import type { PrimitiveName } from './primitives/index.ts';
import * as ew from './primitives/elementwise.ts';
import { Conv2d } from './primitives/conv.ts';
import { Matmul, type MatmulParams } from './primitives/matmul.ts';
import * as mv from './primitives/movement.ts';
import * as red from './primitives/reduce.ts';
import { tidy } from './memory.ts';
import { broadcastAxes, checkIntegers, checkShape, describeValue, formatShape, normalizeAxes, shapesEqual, sizeOf, type Shape } from './shape.ts';
import { Tensor } from './tensor.ts';
import type { Backend } from './backend.ts';

export type TensorLike = Tensor | number;

// ---------------------------------------------------------------- creation

type NestedNumbers = number | readonly NestedNumbers[];

/** The shape of nested arrays, read along the first entries (flattenNested checks the rest). */
function inferShape(values: NestedNumbers): number[] {
  const shape: number[] = [];
  let v: NestedNumbers = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = (v as readonly NestedNumbers[])[0];
  }
  return shape;
}

/**
 * The numbers of nested arrays in row-major order, checking that they form the full grid of
 * `shape` (no ragged rows, no number where a row is due or the reverse) and that every leaf is a
 * number; errors name the path of the offending entry, e.g. values[1].
 */
function flattenNested(values: readonly NestedNumbers[], shape: readonly number[]): number[] {
  const flat: number[] = [];
  const visit = (v: unknown, axis: number, path: string): void => {
    if (axis === shape.length) {
      if (typeof v !== 'number') {
        throw new Error(`tensor: ${path} is ${Array.isArray(v) ? 'an array' : describeValue(v)}, not a number (expected nested arrays of shape ${formatShape(shape)})`);
      }
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[axis]) {
      const got = Array.isArray(v) ? `${v.length} entries` : describeValue(v);
      throw new Error(`tensor: ragged nested arrays: ${path} has ${got} where ${shape[axis]} entries are due (shape ${formatShape(shape)} from the first entries)`);
    }
    for (let i = 0; i < v.length; i++) visit(v[i], axis + 1, `${path}[${i}]`);
  };
  visit(values, 0, 'values');
  return flat;
}

/**
 * A tensor from nested arrays, a flat array with a shape, or a typed array.
 * @example tensor([[1, 2], [3, 4]]); tensor(new Float64Array(6), [2, 3], 'float64')
 */
export function tensor(values: NestedNumbers | TypedArray | readonly number[], shape?: Shape, dtype?: DType, backend: Backend = getBackend()): Tensor {
  const dt: DType = dtype ?? (values instanceof Float64Array ? 'float64' : values instanceof Int32Array ? 'int32' : 'float32');
  if (!isDType(dt)) throw new Error(`tensor: unknown dtype '${String(dt)}' (${DTYPES.join(', ')})`);
  let flat: ArrayLike<number>;
  let sh: number[];
  if (shape !== undefined) checkShape('tensor', shape);
  if (ArrayBuffer.isView(values)) {
    if (!(values instanceof Float32Array || values instanceof Float64Array || values instanceof Int32Array)) {
      throw new Error(`tensor: typed arrays must be Float32Array, Float64Array or Int32Array, got ${(values as ArrayBufferView).constructor.name}`);
    }
    flat = values;
    sh = shape ? [...shape] : [flat.length];
  } else if (typeof values === 'number') {
    flat = [values];
    sh = shape ? [...shape] : [];
  } else if (Array.isArray(values)) {
    // With a shape, `values` is the flat list of numbers (or nested arrays of that shape).
    const nested = shape === undefined || (values as unknown[]).some(Array.isArray);
    sh = shape ? [...shape] : inferShape(values as NestedNumbers);
    flat = flattenNested(values as readonly NestedNumbers[], nested ? (shape === undefined ? sh : inferShape(values as NestedNumbers)) : [values.length]);
  } else {
    throw new Error(`tensor: expected a number, nested arrays of numbers or a Float32Array/Float64Array, got ${describeValue(values)}`);
  }
  checkShape('tensor', sh);
  if (flat.length !== sizeOf(sh)) throw new Error(`tensor: ${flat.length} values do not fill shape ${formatShape(sh)}`);
  if (!backend.supportsDType(dt)) throw new Error(`tensor: the ${backend.name} backend does not support ${dt}`);
  if (dt === 'int32' && !(flat instanceof Int32Array)) checkInt32Values('tensor', flat);
  const data = allocateFor('tensor', dt, sh);
  data.set(flat);
  return new Tensor(backend, backend.upload(data, sh, dt), sh, dt, null);
}

/** int32 tensors hold integers: a typed-array store would truncate or wrap other values silently. */
function checkInt32Values(op: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw new Error(`${op}: value ${v} at position ${i} is not an int32 integer (use cast(x, 'int32') to truncate floats)`);
    }
  }
}

/** A zeroed array for a tensor of `shape`; a failed allocation names the op, shape, dtype and bytes. */
function allocateFor(op: string, dtype: DType, shape: Shape): TypedArray {
  try {
    return allocate(dtype, sizeOf(shape));
  } catch (e) {
    if (e instanceof RangeError) throw allocationError(op, shape, dtype, e);
    throw e;
  }
}

/** A tensor owning `data` (freshly allocated here, so no defensive copy is needed). */
function fromOwned(op: string, data: TypedArray, shape: Shape, dtype: DType, backend: Backend): Tensor {
  if (!backend.supportsDType(dtype)) throw new Error(`${op}: the ${backend.name} backend does not support ${dtype}`);
  return new Tensor(backend, backend.upload(data, shape, dtype), shape, dtype, null);
}

function checkNumber(op: string, what: string, v: unknown): number {
  if (typeof v !== 'number') throw new Error(`${op}: ${what} must be a number, got ${describeValue(v)}`);
  return v;
}

export function scalar(value: number, dtype: DType = 'float32', backend: Backend = getBackend()): Tensor {
  return tensor(value, [], dtype, backend);
}

export function full(shape: Shape, value: number, dtype: DType = 'float32', backend: Backend = getBackend()): Tensor {
  checkShape('full', shape);
  checkNumber('full', 'the fill value', value);
  if (!isDType(dtype)) throw new Error(`full: unknown dtype '${String(dtype)}' (${DTYPES.join(', ')})`);
  if (dtype === 'int32') checkInt32Values('full', [value]);
  const data = allocateFor('full', dtype, shape);
  if (value !== 0) data.fill(value);
  return fromOwned('full', data, [...shape], dtype, backend);
}

export function zeros(shape: Shape, dtype: DType = 'float32', backend?: Backend): Tensor {
  return full(shape, 0, dtype, backend);
}

export function ones(shape: Shape, dtype: DType = 'float32', backend?: Backend): Tensor {
  return full(shape, 1, dtype, backend);
}

export function zerosLike(x: Tensor): Tensor {
  return full(x.shape, 0, x.dtype, x.backend);
}

export function onesLike(x: Tensor): Tensor {
  return full(x.shape, 1, x.dtype, x.backend);
}

/** Values start, start+step, ... below stop. */
export function arange(start: number, stop: number, step = 1, dtype: DType = 'float32'): Tensor {
  for (const [what, v] of [['start', start], ['stop', stop], ['step', step]] as const) {
    if (!Number.isFinite(checkNumber('arange', what, v))) throw new Error(`arange: ${what} must be finite, got ${v}`);
  }
  if (step === 0) throw new Error(`arange: step must not be 0 (start ${start}, stop ${stop})`);
  if (!isDType(dtype)) throw new Error(`arange: unknown dtype '${String(dtype)}' (${DTYPES.join(', ')})`);
  const n = Math.max(0, Math.ceil((stop - start) / step));
  checkShape('arange', [n]);
  const data = allocateFor('arange', dtype, [n]);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return fromOwned('arange', data, [n], dtype, getBackend());
}

export function eye(n: number, dtype: DType = 'float32'): Tensor {
  if (!Number.isInteger(n) || n < 0) throw new Error(`eye: n must be a non-negative integer, got ${describeValue(n)}`);
  if (!isDType(dtype)) throw new Error(`eye: unknown dtype '${String(dtype)}' (${DTYPES.join(', ')})`);
  checkShape('eye', [n, n]);
  const data = allocateFor('eye', dtype, [n, n]);
  for (let i = 0; i < n; i++) data[i * n + i] = 1;
  return fromOwned('eye', data, [n, n], dtype, getBackend());
}

/** Copies a tensor to another backend (reads it back: use sparingly). */
export async function toBackend(x: Tensor, backend: Backend): Promise<Tensor> {
  return tensor(await x.data(), x.shape, x.dtype, backend);
}

// ---------------------------------------------------------------- elementwise

function promote(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (a instanceof Tensor && b instanceof Tensor) return [a, b];
  if (a instanceof Tensor) return [a, scalarLike(op, b, a)];
  if (b instanceof Tensor) return [scalarLike(op, a, b), b];
  throw new Error(`${op}: at least one operand must be a tensor, got ${describeValue(a)} and ${describeValue(b)}`);
}

function scalarLike(op: string, v: TensorLike, like: Tensor): Tensor {
  if (typeof v !== 'number') throw new Error(`${op}: expected a tensor or a number, got ${describeValue(v)}`);
  if (like.dtype === 'int32') checkInt32Values(op, [v]);
  return tensor(v, [], like.dtype, like.backend);
}

/** Throws naming the op when `x` is not a tensor (null, a number, an array, ...). */
function need(op: string, x: unknown, what = 'the input'): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new Error(`${op}: ${what} must be a tensor, got ${describeValue(x)}`);
}

/** Binds `p` and disposes the operands that promotion created, which nobody else holds. */
function bindPromoted(p: Primitive<undefined, PrimitiveName>, operands: readonly Tensor[], given: readonly unknown[]): Tensor {
  try {
    return bind(p, operands, undefined);
  } finally {
    // While a trace records, the disposal waits until the trace no longer needs the scalar.
    operands.forEach((t, i) => {
      if (t !== given[i]) t.dispose();
    });
  }
}

export const neg = (x: Tensor): Tensor => bind(ew.Neg, [x], undefined);
export const exp = (x: Tensor): Tensor => bind(ew.Exp, [x], undefined);
export const log = (x: Tensor): Tensor => bind(ew.Log, [x], undefined);
export const sqrt = (x: Tensor): Tensor => bind(ew.Sqrt, [x], undefined);
export const tanh = (x: Tensor): Tensor => bind(ew.Tanh, [x], undefined);
export const erf = (x: Tensor): Tensor => bind(ew.Erf, [x], undefined);
export const abs = (x: Tensor): Tensor => bind(ew.Abs, [x], undefined);
export const sign = (x: Tensor): Tensor => bind(ew.Sign, [x], undefined);
export const sin = (x: Tensor): Tensor => bind(ew.Sin, [x], undefined);
export const cos = (x: Tensor): Tensor => bind(ew.Cos, [x], undefined);
export const log1p = (x: Tensor): Tensor => bind(ew.Log1p, [x], undefined);
export const expm1 = (x: Tensor): Tensor => bind(ew.Expm1, [x], undefined);
/** Arc cosine in [0, pi]; NaN outside [-1, 1]. */
export const acos = (x: Tensor): Tensor => bind(ew.Acos, [x], undefined);
/** Arc sine in [-pi/2, pi/2]; NaN outside [-1, 1]. */
export const asin = (x: Tensor): Tensor => bind(ew.Asin, [x], undefined);
export const square = (x: Tensor): Tensor => mul(x, x);
export const reciprocal = (x: Tensor): Tensor => div(1, x);

function binaryOp(p: Primitive<undefined, PrimitiveName>, a: TensorLike, b: TensorLike): Tensor {
  return bindPromoted(p, promote(p.name, a, b), [a, b]);
}

export const add = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.Add, a, b);
export const sub = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.Sub, a, b);
export const mul = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.Mul, a, b);
export const div = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.Div, a, b);
export const maximum = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.Max, a, b);
export const minimum = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.Min, a, b);
export const pow = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.Pow, a, b);
/** Comparisons return 1 where true and 0 where false, in the operands' dtype. */
export const greater = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.Greater, a, b);
export const greaterEqual = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.GreaterEqual, a, b);
export const less = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.Less, a, b);
export const lessEqual = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.LessEqual, a, b);
export const equal = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.Equal, a, b);
export const notEqual = (a: TensorLike, b: TensorLike): Tensor => binaryOp(ew.NotEqual, a, b);

/** Elementwise cond ? a : b (cond nonzero), broadcasting all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  need('where', cond, 'the condition');
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : cond;
  const ta = a instanceof Tensor ? a : scalarLike('where', a, like);
  const tb = b instanceof Tensor ? b : scalarLike('where', b, like);
  return bindPromoted(ew.Where, [cond, ta, tb], [cond, a, b]);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  need('cast', x);
  if (!isDType(dtype)) throw new Error(`cast: unknown dtype '${String(dtype)}' (${DTYPES.join(', ')})`);
  if (x.dtype === dtype) return x;
  return bind(ew.Cast, [x], { dtype });
}

/** The same values with no derivative flowing through. */
export const stopGradient = (x: Tensor): Tensor => bind(ew.StopGradient, [x], undefined);

/** A new tensor with the same value, differentiable (used to mark a trace's inputs). */
export const identity = (x: Tensor): Tensor => bind(ew.Identity, [x], undefined);

// ---------------------------------------------------------------- reductions

/** Sum over `axes` (all by default). @example sum(x, 1, true) */
export function sum(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  need('sum', x);
  return bind(red.Sum, [x], { axes: normalizeAxes('sum', axes, x.rank, x.shape), keepdims });
}

export function max(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  need('max', x);
  return bind(red.Max, [x], { axes: normalizeAxes('max', axes, x.rank, x.shape), keepdims });
}

export function min(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  need('min', x);
  // Composites run in a tidy, so their intermediates never outlive the call.
  return tidy(() => neg(max(neg(x), axes, keepdims)));
}

/** The mean over `axes`; over an empty axis it is NaN (0 / 0), as in NumPy. */
export function mean(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  need('mean', x);
  const ax = normalizeAxes('mean', axes, x.rank, x.shape);
  const count = ax.reduce((n, a) => n * x.shape[a], 1);
  return tidy(() => div(sum(x, ax, keepdims), count));
}

// ---------------------------------------------------------------- movement

/** Reshape; one entry may be -1 and is inferred. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  need('reshape', x);
  checkIntegers('reshape', 'the new shape\'s entries', shape);
  const unknown = shape.filter((d) => d === -1).length;
  if (unknown > 1) throw new Error(`reshape: at most one -1 allowed in ${formatShape(shape)}`);
  let resolved = [...shape];
  if (unknown === 1) {
    const known = sizeOf(shape.filter((d) => d !== -1));
    if (known === 0 || x.size % known !== 0) throw new Error(`reshape: cannot reshape ${formatShape(x.shape)} to ${formatShape(shape)}`);
    resolved = shape.map((d) => (d === -1 ? x.size / known : d));
  }
  checkShape('reshape', resolved);
  if (shapesEqual(resolved, x.shape)) return x;
  return bind(mv.Reshape, [x], { shape: resolved });
}

/** Permutes axes; reverses them by default. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  need('transpose', x);
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  if (p.every((v, i) => v === i) && p.length === x.rank) return x;
  return bind(mv.Transpose, [x], { perm: [...p] });
}

export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  need('broadcastTo', x);
  checkShape('broadcastTo', shape);
  if (shapesEqual(x.shape, shape)) return x;
  return bind(mv.BroadcastTo, [x], { shape: [...shape] });
}

/** Sums a broadcast value back down to `shape` (the adjoint of broadcastTo). */
export function sumToShape(x: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(x.shape, shape)) return x;
  const axes = broadcastAxes(shape, x.shape);
  return tidy(() => reshape(sum(x, axes, true), shape));
}

/**
 * Strided slice [begin, end) per axis; `end` defaults to the full extent, strides to 1.
 * @example slice(x, [0, 1], [2, 3])
 */
export function slice(x: Tensor, begin: readonly number[], end?: readonly number[], strides?: readonly number[]): Tensor {
  need('slice', x);
  const e = end ?? x.shape;
  const s = strides ?? x.shape.map(() => 1);
  if (begin.every((b) => b === 0) && e.every((v, i) => v === x.shape[i]) && s.every((v) => v === 1) && begin.length === x.rank) return x;
  return bind(mv.Slice, [x], { begin: [...begin], end: [...e], strides: [...s] });
}

/** Pads with `value`: lo before, hi after, and interior between neighbours along each axis. */
export function pad(x: Tensor, lo: readonly number[], hi: readonly number[], interior?: readonly number[], value = 0): Tensor {
  need('pad', x);
  checkNumber('pad', 'the padding value', value);
  const inner = interior ?? x.shape.map(() => 0);
  if ([...lo, ...hi, ...inner].every((v) => v === 0) && lo.length === x.rank && hi.length === x.rank) return x;
  return bind(mv.Pad, [x], { lo: [...lo], hi: [...hi], interior: [...inner], value });
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new Error(`concat: needs a non-empty array of tensors, got ${describeValue(xs)}`);
  xs.forEach((x, i) => need('concat', x, `input ${i}`));
  const [ax] = normalizeAxes('concat', axis, xs[0].rank, xs[0].shape);
  if (xs.length === 1) return xs[0];
  return bind(mv.Concat, xs, { axis: ax });
}

export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new Error(`stack: needs a non-empty array of tensors, got ${describeValue(xs)}`);
  xs.forEach((x, i) => need('stack', x, `input ${i}`));
  const r = xs[0].rank + 1;
  const ax = axis < 0 ? axis + r : axis;
  return tidy(() => concat(xs.map((x) => expandDims(x, ax)), ax));
}

export function reverse(x: Tensor, axes: number | readonly number[]): Tensor {
  need('reverse', x);
  return bind(mv.Reverse, [x], { axes: normalizeAxes('reverse', axes, x.rank, x.shape) });
}

export function expandDims(x: Tensor, axis: number): Tensor {
  need('expandDims', x);
  const r = x.rank + 1;
  if (!Number.isInteger(axis) || axis < -r || axis >= r) throw new Error(`expandDims: axis ${axis} out of range for ${formatShape(x.shape)}`);
  const ax = axis < 0 ? axis + r : axis;
  const shape = [...x.shape];
  shape.splice(ax, 0, 1);
  return reshape(x, shape);
}

export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  need('squeeze', x);
  const ax = axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normalizeAxes('squeeze', axes, x.rank, x.shape);
  for (const a of ax) if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${a} of ${formatShape(x.shape)} is not 1`);
  return reshape(x, x.shape.filter((_, i) => !ax.includes(i)));
}

// ---------------------------------------------------------------- linear algebra

/**
 * Matrix product with broadcast batch axes; rank-1 operands are promoted as in NumPy.
 * @example matmul(x, w, { transposeB: true })
 */
export function matmul(a: Tensor, b: Tensor, opts: Partial<MatmulParams> = {}): Tensor {
  need('matmul', a, 'the left operand');
  need('matmul', b, 'the right operand');
  const p: MatmulParams = { transposeA: opts.transposeA ?? false, transposeB: opts.transposeB ?? false };
  if (a.rank === 0 || b.rank === 0) throw new Error(`matmul: scalars are not matrices: ${formatShape(a.shape)} x ${formatShape(b.shape)}`);
  if (a.rank > 1 && b.rank > 1) return bind(Matmul, [a, b], p);
  return tidy(() => {
    const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
    const b2 = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
    let out = bind(Matmul, [a2, b2], p);
    if (a.rank === 1) out = squeeze(out, out.rank - 2);
    if (b.rank === 1) out = squeeze(out, out.rank - 1);
    return out;
  });
}

/** The general convolution primitive with every parameter explicit. */
export function convGeneral(x: Tensor, w: Tensor, params: ConvParams): Tensor {
  return bind(Conv2d, [x, w], params);
}

export type Padding = 'SAME' | 'VALID' | readonly [readonly [number, number], readonly [number, number]];

export interface Conv2dOptions {
  strides?: number | readonly [number, number];
  padding?: Padding;
  dilation?: number | readonly [number, number];
  inputDilation?: number | readonly [number, number];
  flip?: boolean;
}

function pair(v: number | readonly [number, number] | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/**
 * 2-D convolution, NHWC input and HWIO kernel.
 * @example conv2d(x, w, { strides: 2, padding: 'SAME' })
 */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  const strides = pair(opts.strides, 1);
  const dilation = pair(opts.dilation, 1);
  const inputDilation = pair(opts.inputDilation, 1);
  need('conv2d', x, 'the input');
  need('conv2d', w, 'the kernel');
  const pad = opts.padding ?? 'VALID';
  if (x.rank !== 4 || w.rank !== 4) throw new Error(`conv2d: need rank-4 input (NHWC) and kernel (HWIO), got ${formatShape(x.shape)} and ${formatShape(w.shape)}`);
  let padding: ConvParams['padding'];
  if (pad === 'VALID') padding = [[0, 0], [0, 0]];
  else if (pad === 'SAME') {
    padding = [0, 1].map((i) =>
      samePadding((x.shape[1 + i] - 1) * inputDilation[i] + 1, w.shape[i], strides[i], dilation[i]),
    ) as unknown as ConvParams['padding'];
  } else if (Array.isArray(pad)) padding = pad;
  else throw new Error(`conv2d: padding must be 'SAME', 'VALID' or [[top, bottom], [left, right]], got ${JSON.stringify(pad)}`);
  return convGeneral(x, w, { strides, padding, kernelDilation: dilation, inputDilation, flip: opts.flip ?? false });
}
