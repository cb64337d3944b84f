/**
 * gather and scatterAdd: indexing along one axis by an int32 index tensor, each the other's
 * transpose (so each one's VJP is the other and both JVPs are themselves).
 *
 *   gather(x, idx, axis)[a..., j..., b...]      = x[a..., idx[j...], b...]
 *   scatterAdd(u, idx, axis, size)[a..., k, b...] = sum over j... with idx[j...] = k of u[a..., j..., b...]
 *
 * Out-of-range indices: the CPU kernels throw naming the op, the index and the axis length; the
 * WebGPU backend checks indices it uploaded from the host and, for indices computed on the device
 * (which it cannot see without a readback), gathers NaN and drops the scatter term (see
 * kernels/wgsl/indexing.ts).
 */
import { bind } from '../apply.ts';
import type { Abstract, Primitive } from '../primitive.ts';
import { formatShape, shapesEqual } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

export interface GatherParams {
  /** Normalized (non-negative) axis of x. */
  readonly axis: number;
}

export interface ScatterAddParams {
  /** Normalized axis of the output (and the first index axis of the updates). */
  readonly axis: number;
  /** Length of the output along `axis`. */
  readonly size: number;
}

function checkIndices(op: string, x: Abstract, idx: Abstract): void {
  if (idx.dtype !== 'int32') {
    throw new Error(`${op}: indices must be int32, got ${idx.dtype}${formatShape(idx.shape)} (for ${x.dtype}${formatShape(x.shape)}); cast them with cast(indices, 'int32')`);
  }
}

function checkAxis(op: string, axis: number, rank: number, shape: readonly number[]): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) throw new Error(`${op}: axis ${axis} is out of range for ${formatShape(shape)}`);
}

export const Gather: Primitive<GatherParams, 'gather'> = {
  name: 'gather',
  shapeRule([x, idx], { axis }) {
    checkIndices('gather', x, idx);
    checkAxis('gather', axis, x.shape.length, x.shape);
    return { shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)], dtype: x.dtype };
  },
  jvp: ([, idx], [t], p) => (t === null ? null : gather(t, idx, p.axis)),
  vjp: (ct, [x, idx], { axis }) => [scatterAdd(ct, idx, axis, x.shape[axis]), null],
};

export const ScatterAdd: Primitive<ScatterAddParams, 'scatterAdd'> = {
  name: 'scatterAdd',
  shapeRule([u, idx], { axis, size }) {
    checkIndices('scatterAdd', u, idx);
    const r = idx.shape.length;
    if (!Number.isInteger(axis) || axis < 0 || axis + r > u.shape.length) {
      throw new Error(`scatterAdd: axis ${axis} with indices ${formatShape(idx.shape)} does not fit updates ${formatShape(u.shape)}`);
    }
    if (!shapesEqual(u.shape.slice(axis, axis + r), idx.shape)) {
      throw new Error(`scatterAdd: updates ${formatShape(u.shape)} must have the indices' shape ${formatShape(idx.shape)} at axis ${axis}`);
    }
    if (!Number.isInteger(size) || size < 0) throw new Error(`scatterAdd: size must be a non-negative integer, got ${size}`);
    return { shape: [...u.shape.slice(0, axis), size, ...u.shape.slice(axis + r)], dtype: u.dtype };
  },
  jvp: ([, idx], [t], p) => (t === null ? null : scatterAdd(t, idx, p.axis, p.size)),
  vjp: (ct, [, idx], { axis }) => [gather(ct, idx, axis), null],
};

/** The primitive itself (axis already normalized); the friendly op is `take` (engine/indexing.ts). */
export function gather(x: Tensor, indices: Tensor, axis: number): Tensor {
  return bind(Gather, [x, indices], { axis });
}

/** The primitive itself (axis already normalized); see `scatterAdd` in engine/indexing.ts. */
export function scatterAdd(updates: Tensor, indices: Tensor, axis: number, size: number): Tensor {
  return bind(ScatterAdd, [updates, indices], { axis, size });
}
