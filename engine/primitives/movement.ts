/** Movement primitives: reshape, transpose, broadcast, slice, pad, concat, reverse. */
import * as ops from '../ops.ts';
import type { Abstract, Primitive } from '../primitive.ts';
import { broadcastShapes, checkIntegers, checkShape, formatShape, shapesEqual, sizeOf } from '../shape.ts';

export const Reshape: Primitive<{ shape: readonly number[] }, 'reshape'> = {
  name: 'reshape',
  shapeRule([a], { shape }) {
    checkShape('reshape', shape);
    if (sizeOf(shape) !== sizeOf(a.shape)) {
      throw new Error(`reshape: cannot reshape ${formatShape(a.shape)} (${sizeOf(a.shape)} elements) to ${formatShape(shape)}`);
    }
    return { shape, dtype: a.dtype };
  },
  jvp: (_x, [t], { shape }) => (t === null ? null : ops.reshape(t, shape)),
  vjp: (ct, [a]) => [ops.reshape(ct, a.shape)],
};

export function invertPermutation(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

export const Transpose: Primitive<{ perm: readonly number[] }, 'transpose'> = {
  name: 'transpose',
  shapeRule([a], { perm }) {
    const sorted = [...perm].sort((x, y) => x - y);
    if (perm.length !== a.shape.length || sorted.some((p, i) => p !== i)) {
      throw new Error(`transpose: [${perm.join(',')}] is not a permutation of the axes of ${formatShape(a.shape)}`);
    }
    return { shape: perm.map((p) => a.shape[p]), dtype: a.dtype };
  },
  jvp: (_x, [t], { perm }) => (t === null ? null : ops.transpose(t, perm)),
  vjp: (ct, _x, { perm }) => [ops.transpose(ct, invertPermutation(perm))],
};

export const BroadcastTo: Primitive<{ shape: readonly number[] }, 'broadcastTo'> = {
  name: 'broadcastTo',
  shapeRule([a], { shape }) {
    checkShape('broadcastTo', shape);
    if (shape.length < a.shape.length || !shapesEqual(broadcastShapes('broadcastTo', a.shape, shape), shape)) {
      throw new Error(`broadcastTo: cannot broadcast ${formatShape(a.shape)} to ${formatShape(shape)}`);
    }
    return { shape, dtype: a.dtype };
  },
  jvp: (_x, [t], { shape }) => (t === null ? null : ops.broadcastTo(t, shape)),
  vjp: (ct, [a]) => [ops.sumToShape(ct, a.shape)],
};

export interface SliceParams {
  readonly begin: readonly number[];
  readonly end: readonly number[];
  readonly strides: readonly number[];
}

function sliceLength(begin: number, end: number, stride: number): number {
  return Math.max(0, Math.ceil((end - begin) / stride));
}

export const Slice: Primitive<SliceParams, 'slice'> = {
  name: 'slice',
  shapeRule([a], { begin, end, strides }) {
    const r = a.shape.length;
    if (begin.length !== r || end.length !== r || strides.length !== r) {
      throw new Error(`slice: begin [${begin}], end [${end}] and strides [${strides}] must each have one entry per axis of ${formatShape(a.shape)}`);
    }
    checkIntegers('slice', 'begin and end', [...begin, ...end]);
    const shape = a.shape.map((d, i) => {
      if (!Number.isInteger(strides[i]) || strides[i] < 1) throw new Error(`slice: strides must be positive integers, got [${strides}]`);
      if (!(0 <= begin[i] && begin[i] < end[i] && end[i] <= d)) {
        throw new Error(`slice: range [${begin[i]}, ${end[i]}) on axis ${i} is empty or outside ${formatShape(a.shape)}`);
      }
      return sliceLength(begin[i], end[i], strides[i]);
    });
    return { shape, dtype: a.dtype };
  },
  jvp: (_x, [t], p) => (t === null ? null : ops.slice(t, p.begin, p.end, p.strides)),
  vjp(ct, [a], { begin, strides }) {
    const hi = a.shape.map((d, i) => d - 1 - (begin[i] + (ct.shape[i] - 1) * strides[i]));
    return [ops.pad(ct, begin, hi, strides.map((s) => s - 1))];
  },
};

export interface PadParams {
  readonly lo: readonly number[];
  readonly hi: readonly number[];
  /** Values inserted between neighbours along each axis. */
  readonly interior: readonly number[];
  readonly value: number;
}

export const Pad: Primitive<PadParams, 'pad'> = {
  name: 'pad',
  shapeRule([a], { lo, hi, interior, value }) {
    const r = a.shape.length;
    if (lo.length !== r || hi.length !== r || interior.length !== r) {
      throw new Error(`pad: lo [${lo}], hi [${hi}] and interior [${interior}] must each have one entry per axis of ${formatShape(a.shape)}`);
    }
    for (const v of [...lo, ...hi, ...interior]) {
      if (!Number.isInteger(v) || v < 0) throw new Error(`pad: paddings must be non-negative integers, got lo [${lo}], hi [${hi}], interior [${interior}] (use slice to crop)`);
    }
    if (a.dtype === 'int32' && !(Number.isInteger(value) && value >= -2147483648 && value <= 2147483647)) {
      throw new Error(`pad: the padding value of an int32 tensor must be an int32 integer, got ${value}`);
    }
    return { shape: a.shape.map((d, i) => lo[i] + hi[i] + (d === 0 ? 0 : d + (d - 1) * interior[i])), dtype: a.dtype };
  },
  jvp: (_x, [t], p) => (t === null ? null : ops.pad(t, p.lo, p.hi, p.interior, 0)),
  vjp(ct, [a], { lo, interior }) {
    const end = a.shape.map((d, i) => lo[i] + (d - 1) * (interior[i] + 1) + 1);
    return [ops.slice(ct, lo, end, interior.map((s) => s + 1))];
  },
};

export const Concat: Primitive<{ axis: number }, 'concat'> = {
  name: 'concat',
  shapeRule(inputs: readonly Abstract[], { axis }) {
    const first = inputs[0];
    let total = 0;
    for (const x of inputs) {
      const ok = x.dtype === first.dtype && x.shape.length === first.shape.length && x.shape.every((d, i) => i === axis || d === first.shape[i]);
      if (!ok) {
        throw new Error(`concat: inputs ${inputs.map((y) => y.dtype + formatShape(y.shape)).join(', ')} differ outside axis ${axis}`);
      }
      total += x.shape[axis];
    }
    return { shape: first.shape.map((d, i) => (i === axis ? total : d)), dtype: first.dtype };
  },
  jvp(primals, tangents, { axis }) {
    if (tangents.every((t) => t === null)) return null;
    return ops.concat(tangents.map((t, i) => t ?? ops.zerosLike(primals[i])), axis);
  },
  vjp(ct, primals, { axis }, _out, needed) {
    let offset = 0;
    return primals.map((x, i) => {
      const begin = ct.shape.map((_, j) => (j === axis ? offset : 0));
      offset += x.shape[axis];
      const end = ct.shape.map((d, j) => (j === axis ? offset : d));
      return needed[i] ? ops.slice(ct, begin, end) : null;
    });
  },
};

export const Reverse: Primitive<{ axes: readonly number[] }, 'reverse'> = {
  name: 'reverse',
  shapeRule: ([a]) => ({ shape: a.shape, dtype: a.dtype }),
  jvp: (_x, [t], { axes }) => (t === null ? null : ops.reverse(t, axes)),
  vjp: (ct, _x, { axes }) => [ops.reverse(ct, axes)],
};
