/**
 * Indexing by integer tensors: take (gather along an axis), scatterAdd (its transpose), argmax
 * and oneHot. take and scatterAdd bind one primitive each; argmax and oneHot are composites of
 * elementwise ops and a reduction, so every backend runs them with the kernels it already has.
 */
import { normalizeAxes, formatShape } from './shape.ts';
import * as ops from './ops.ts';
import { gather, scatterAdd as scatterAddPrimitive } from './primitives/gather.ts';
import { isFloat, type DType } from './dtype.ts';
import { tidy } from './memory.ts';
import { Tensor } from './tensor.ts';

/** Index arguments: an int32 tensor, or plain integers (uploaded as int32 on `like`'s backend). */
export type Indices = Tensor | readonly number[] | Int32Array;

function indexTensor(op: string, indices: Indices, like: Tensor): Tensor {
  if (indices instanceof Tensor) {
    if (indices.dtype !== 'int32') throw new Error(`${op}: indices must be int32, got ${indices.describe()}; cast them with cast(indices, 'int32')`);
    return indices;
  }
  if (!(indices instanceof Int32Array) && !Array.isArray(indices)) {
    throw new Error(`${op}: indices must be an int32 tensor or an array of integers, got ${typeof indices}`);
  }
  return ops.tensor(indices instanceof Int32Array ? indices : Int32Array.from(checkIntegers(op, indices)), [indices.length], 'int32', like.backend);
}

function checkIntegers(op: string, values: readonly number[]): readonly number[] {
  values.forEach((v, i) => {
    if (!Number.isInteger(v)) throw new Error(`${op}: index ${v} at position ${i} is not an integer`);
  });
  return values;
}

/**
 * Elements of `x` at `indices` along `axis`, as NumPy's take: the result has x's shape with
 * axis `axis` replaced by the indices' shape. Indices must lie in [0, x.shape[axis]) (an error
 * names the offending one). Differentiable in x; its VJP is scatterAdd.
 * @example take(x, [3, 0, 3], 0) // rows 3, 0 and 3 of x
 */
export function take(x: Tensor, indices: Indices, axis = 0): Tensor {
  const [ax] = normalizeAxes('take', axis, x.rank, x.shape);
  // tidy frees an index tensor made from a plain array (a trace keeps it while it needs it).
  return tidy(() => gather(x, indexTensor('take', indices, x), ax));
}

/**
 * The transpose of take: zeros of length `size` along `axis`, into which each slice of `updates`
 * is added at its index (duplicate indices accumulate). `updates` has the indices' shape at
 * `axis`, axis..axis+indices.rank-1.
 * @example scatterAdd(tensor([1, 2, 3]), [0, 2, 0], 0, 4) // [4, 0, 2, 0]
 */
export function scatterAdd(updates: Tensor, indices: Indices, axis: number, size: number): Tensor {
  return tidy(() => {
    const idx = indexTensor('scatterAdd', indices, updates);
    const r = updates.rank - idx.rank + 1;
    if (r < 1) throw new Error(`scatterAdd: updates ${formatShape(updates.shape)} have fewer axes than the indices ${formatShape(idx.shape)}`);
    const [ax] = normalizeAxes('scatterAdd', axis, r, updates.shape);
    return scatterAddPrimitive(updates, idx, ax, size);
  });
}

/**
 * Index of the largest element along `axis` (int32, the axis removed): the first one when
 * several are maximal, and the first NaN when there is one (NaN wins, as in NumPy).
 * Exact for axis lengths up to 2^24 (the index arithmetic runs in x's float dtype).
 * @example argmax(tensor([[1, 3, 3], [NaN, 0, 5]]), 1) // int32 [1, 0]
 */
export function argmax(x: Tensor, axis = -1): Tensor {
  if (!isFloat(x.dtype)) throw new Error(`argmax: expected a float tensor, got ${x.describe()}`);
  const [ax] = normalizeAxes('argmax', axis, x.rank, x.shape);
  const n = x.shape[ax];
  if (n === 0) throw new Error(`argmax: axis ${ax} of ${formatShape(x.shape)} is empty: there is no maximum`);
  if (n > 2 ** 24) throw new Error(`argmax: axis ${ax} of ${formatShape(x.shape)} is longer than 2^24, past exact float indices`);
  return tidy(() => {
    const v = ops.stopGradient(x);
    const m = ops.max(v, ax, true);
    // Candidates: the maximal elements, or, where the maximum is NaN, the NaNs (x != x). At most
    // one of the two terms is nonzero for any row.
    const mask = ops.add(ops.equal(v, m), ops.notEqual(v, v));
    // (n - i) over the candidates: its maximum picks the smallest candidate index i.
    const reversed = new (x.dtype === 'float64' ? Float64Array : Float32Array)(n);
    for (let i = 0; i < n; i++) reversed[i] = n - i;
    const shape = x.shape.map((d, i) => (i === ax ? d : 1));
    const weights = ops.tensor(reversed, shape, x.dtype, x.backend);
    const best = ops.max(ops.mul(mask, weights), ax);
    return ops.cast(ops.sub(n, best), 'int32');
  });
}

/**
 * One-hot rows: shape [...indices.shape, depth], 1 at each index and 0 elsewhere. Indices
 * outside [0, depth) give an all-zero row (as jax.nn.one_hot).
 * @example oneHot(tensor([2, 0], undefined, 'int32'), 3) // [[0, 0, 1], [1, 0, 0]]
 */
export function oneHot(indices: Tensor, depth: number, dtype: DType = 'float32'): Tensor {
  if (!(indices instanceof Tensor) || indices.dtype !== 'int32') {
    throw new Error(`oneHot: indices must be an int32 tensor, got ${indices instanceof Tensor ? indices.describe() : typeof indices}`);
  }
  if (!Number.isInteger(depth) || depth < 0) throw new Error(`oneHot: depth must be a non-negative integer, got ${depth}`);
  return tidy(() => {
    const classes = ops.tensor(Int32Array.from({ length: depth }, (_, i) => i), [depth], 'int32', indices.backend);
    return ops.cast(ops.equal(ops.expandDims(indices, -1), classes), dtype);
  });
}
