/** Batched matmul [..., m, k] x [..., k, n] with broadcast batch axes; either operand may be read transposed. */
import * as ops from '../ops.ts';
import { requireFloat, type Primitive } from '../primitive.ts';
import { broadcastShapes, formatShape } from '../shape.ts';

export interface MatmulParams {
  /** A is stored [..., k, m] and read as its transpose. */
  readonly transposeA: boolean;
  /** B is stored [..., n, k] and read as its transpose. */
  readonly transposeB: boolean;
}

export const Matmul: Primitive<MatmulParams, 'matmul'> = {
  name: 'matmul',
  shapeRule([a, b], { transposeA, transposeB }) {
    const show = `${formatShape(a.shape)}${transposeA ? 'ᵀ' : ''} x ${formatShape(b.shape)}${transposeB ? 'ᵀ' : ''}`;
    requireFloat('matmul', [a, b]);
    if (a.dtype !== b.dtype) throw new Error(`matmul: dtypes differ: ${a.dtype} and ${b.dtype} in ${show}`);
    if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`matmul: operands need rank >= 2, got ${show}`);
    const ra = a.shape.length;
    const rb = b.shape.length;
    const [m, ka] = transposeA ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
    const [kb, n] = transposeB ? [b.shape[rb - 1], b.shape[rb - 2]] : [b.shape[rb - 2], b.shape[rb - 1]];
    if (ka !== kb) throw new Error(`matmul: inner dimensions differ: ${show}`);
    const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    return { shape: [...batch, m, n], dtype: a.dtype };
  },
  jvp([a, b], [ta, tb], p) {
    const left = ta && ops.matmul(ta, b, p);
    const right = tb && ops.matmul(a, tb, p);
    if (left === null) return right;
    return right === null ? left : ops.add(left, right);
  },
  // The cotangents are matmuls of ct with the other operand, choosing transpose flags so
  // nothing is ever copied into a transposed layout.
  vjp(ct, [a, b], { transposeA: tA, transposeB: tB }, _out, needed) {
    const ga = !needed[0] ? null
      : tA ? ops.matmul(b, ct, { transposeA: tB, transposeB: true })
      : ops.matmul(ct, b, { transposeA: false, transposeB: !tB });
    const gb = !needed[1] ? null
      : tB ? ops.matmul(ct, a, { transposeA: true, transposeB: tA })
      : ops.matmul(a, ct, { transposeA: !tA, transposeB: false });
    return [ga, gb];
  },
};
