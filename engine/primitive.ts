import { isFloat, type DType } from './dtype.ts';
import { formatShape, type Shape } from './shape.ts';
import type { Tensor } from './tensor.ts';

/** Shape and dtype of an input as the shape rule sees it. */
export interface Abstract {
  readonly shape: Shape;
  readonly dtype: DType;
}

/**
 * One primitive of the closed set: its name, output shape rule, JVP rule and VJP rule side by
 * side (MLX / JAX style). Rules are written with public ops, so they are differentiable again.
 *
 * Broadcasting primitives may return a tangent or cotangent whose shape is the broadcast shape:
 * the autodiff driver sums cotangents back to each input's shape and broadcasts tangents to the
 * output's shape, once, so no rule has to.
 */
export interface Primitive<P = unknown, N extends string = string> {
  readonly name: N;
  /** Validates inputs and params; throws an Error naming the op and the offending shapes. */
  shapeRule(inputs: readonly Abstract[], params: P): Abstract;
  /** Tangent of the output; tangents[i] === null is a symbolic zero. Return null for a zero tangent. */
  jvp(primals: readonly Tensor[], tangents: readonly (Tensor | null)[], params: P, out: Tensor): Tensor | null;
  /** Cotangents of the inputs for which needed[i] is true (others may be null). */
  vjp(cotangent: Tensor, primals: readonly Tensor[], params: P, out: Tensor, needed: readonly boolean[]): (Tensor | null)[];
}

/** Rule helper for primitives whose output does not depend differentiably on their inputs. */
export const zeroJvp = (): null => null;
export const zeroVjp = (_ct: Tensor, primals: readonly Tensor[]): null[] => primals.map(() => null);

/**
 * Shape-rule guard of the primitives that are defined on floats only (everything except movement,
 * add/sub/mul, comparisons, cast and gather/scatterAdd): an int32 operand is refused by name, on
 * every backend alike.
 */
export function requireFloat(op: string, inputs: readonly Abstract[]): void {
  for (const x of inputs) {
    if (!isFloat(x.dtype)) {
      throw new Error(`${op}: ${x.dtype} operands are not supported (got ${inputs.map((y) => y.dtype + formatShape(y.shape)).join(', ')}); ${op} is defined on float32 and float64, cast first`);
    }
  }
}
