/** Reductions over axes (already normalized and sorted by the ops layer), with keepdims. */
import * as ops from '../ops.ts';
import { requireFloat, type Abstract, type Primitive } from '../primitive.ts';
import { formatShape, normalizeAxes } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

export interface ReduceParams {
  readonly axes: readonly number[];
  readonly keepdims: boolean;
}

export function reducedShape(shape: readonly number[], axes: readonly number[], keepdims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

/**
 * `identity`: whether the reduction has a value over no terms. As in NumPy, the sum of nothing is
 * 0, while the max of nothing is undefined and refused.
 */
function reduceShapeRule(name: string, identity: boolean) {
  return ([a]: readonly Abstract[], { axes, keepdims }: ReduceParams): Abstract => {
    requireFloat(name, [a]);
    normalizeAxes(name, axes, a.shape.length, a.shape);
    if (!identity) {
      for (const ax of axes) {
        if (a.shape[ax] === 0) throw new Error(`${name}: cannot reduce the empty axis ${ax} of ${formatShape(a.shape)} (the ${name} of no values is undefined)`);
      }
    }
    return { shape: reducedShape(a.shape, axes, keepdims), dtype: a.dtype };
  };
}

/** Brings a reduced value back to the input's shape (keepdims reshape, then broadcast). */
function expandBack(x: Tensor, input: Tensor, axes: readonly number[]): Tensor {
  return ops.broadcastTo(ops.reshape(x, reducedShape(input.shape, axes, true)), input.shape);
}

export const Sum: Primitive<ReduceParams, 'sum'> = {
  name: 'sum',
  shapeRule: reduceShapeRule('sum', true),
  jvp: (_x, [t], p) => (t === null ? null : ops.sum(t, p.axes, p.keepdims)),
  vjp: (ct, [a], p) => [expandBack(ct, a, p.axes)],
};

/** Where several entries attain the max, the derivative is shared evenly between them. */
function maxShare(a: Tensor, out: Tensor, axes: readonly number[]): Tensor {
  const mask = ops.equal(a, expandBack(out, a, axes));
  return ops.div(mask, ops.sum(mask, axes, true));
}

export const Max: Primitive<ReduceParams, 'reduceMax'> = {
  name: 'reduceMax',
  shapeRule: reduceShapeRule('max', false),
  jvp: ([a], [t], p, out) => (t === null ? null : ops.sum(ops.mul(t, maxShare(a, out, p.axes)), p.axes, p.keepdims)),
  vjp: (ct, [a], p, out) => [ops.mul(expandBack(ct, a, p.axes), maxShare(a, out, p.axes))],
};
