/**
 * Movement primitives as index arithmetic with uniforms:
 * - gather: out[i] = in[base + sum_d c_d * stride_d] for output coordinates c. Transpose
 *   (permuted strides), broadcastTo (stride 0), slice (scaled strides, offset base) and reverse
 *   (negative strides) are all this one template; axes that move together are collapsed first.
 * - pad: like gather, but coordinates outside the input or between interior neighbours read `value`.
 * - concat: one scatter per input into its slab of the output (any number of inputs, one binding each).
 * reshape never reaches a kernel: the backend aliases the storage.
 * Every generator takes the element type (`elem`: f32 or i32): the copies are the same, only the
 * binding types (and pad's fill value) differ.
 */
import { bindings, collapseAxes, contiguousStrides, elementGrid, ENTRY_PARAMS, lazyProgram, LINEAR_GROUP, product, UniformBlock, unravel, type Elem } from './common.ts';
import { broadcastStrides } from '../../engine/shape.ts';
import type { ShaderProgram } from './program.ts';

const WORKGROUP = 256;

/**
 * out (of `outShape`, row-major) [i] = in[base + c . strides]. Strides may be 0 or negative.
 * @example gatherProgram([3, 2], [1, 3], 0) // transpose of a [2, 3] matrix
 */
export function gatherProgram(outShape: readonly number[], strides: readonly number[], base: number, elem: Elem = 'f32'): ShaderProgram {
  const n = product(outShape);
  const c = collapseAxes(outShape, [strides]);
  const rank = c.shape.length;
  const u = new UniformBlock().u32('n', n).i32('base', base);
  c.shape.forEach((d, i) => u.u32(`d${i}`, d).i32(`s${i}`, c.strides[0][i]));
  return lazyProgram(`gather:${elem}:${rank}`, 1, u.words(), elementGrid(n, WORKGROUP), n, () => `${bindings(1, [], [elem, elem])}
${u.struct()}

@compute @workgroup_size(${WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  let i = group * ${WORKGROUP}u + lid;
  if (i >= u.n) { return; }
  ${unravel('i', rank, (d) => `u.d${d}`, 'c')}
  let src = u.base + ${c.shape.map((_, d) => `i32(c${d}) * u.s${d}`).join(' + ')};
  out[i] = in0[src];
}
`);
}

export function transposeProgram(inShape: readonly number[], perm: readonly number[], elem: Elem = 'f32'): ShaderProgram {
  const strides = contiguousStrides(inShape);
  return gatherProgram(perm.map((p) => inShape[p]), perm.map((p) => strides[p]), 0, elem);
}

export function broadcastProgram(inShape: readonly number[], outShape: readonly number[], elem: Elem = 'f32'): ShaderProgram {
  return gatherProgram(outShape, broadcastStrides(inShape, outShape), 0, elem);
}

export function sliceProgram(inShape: readonly number[], begin: readonly number[], steps: readonly number[], outShape: readonly number[], elem: Elem = 'f32'): ShaderProgram {
  const strides = contiguousStrides(inShape);
  const base = begin.reduce((o, b, d) => o + b * strides[d], 0);
  return gatherProgram(outShape, strides.map((s, d) => s * steps[d]), base, elem);
}

export function reverseProgram(shape: readonly number[], axes: readonly number[], elem: Elem = 'f32'): ShaderProgram {
  const strides = contiguousStrides(shape);
  let base = 0;
  const signed = strides.map((s, d) => {
    if (!axes.includes(d)) return s;
    base += (shape[d] - 1) * s;
    return -s;
  });
  return gatherProgram(shape, signed, base, elem);
}

/**
 * Pads with `value`: lo before, hi after, interior between neighbours along each axis (the
 * output shape already includes hi).
 * @example padProgram([2], [5], [1], [1], 0) // [0, x0, 0, x1, 0]
 */
export function padProgram(inShape: readonly number[], outShape: readonly number[], lo: readonly number[], interior: readonly number[], value: number, elem: Elem = 'f32'): ShaderProgram {
  const n = product(outShape);
  const rank = Math.max(1, outShape.length);
  const shape = outShape.length === 0 ? [1] : outShape;
  const strides = contiguousStrides(inShape);
  const u = new UniformBlock().u32('n', n);
  if (elem === 'i32') u.i32('value', value);
  else u.f32('value', value);
  shape.forEach((d, i) => {
    u.u32(`d${i}`, d).i32(`lo${i}`, lo[i] ?? 0).i32(`step${i}`, (interior[i] ?? 0) + 1);
    u.i32(`in${i}`, inShape[i] ?? 1).i32(`s${i}`, strides[i] ?? 0);
  });
  return lazyProgram(`pad:${elem}:${rank}`, 1, u.words(), elementGrid(n, WORKGROUP), n, () => {
    const axes = shape.map((_, d) => `  let t${d} = i32(c${d}) - u.lo${d};
  let q${d} = t${d} / u.step${d};
  inside = inside & (t${d} >= 0) & (t${d} % u.step${d} == 0) & (q${d} < u.in${d});
  src += q${d} * u.s${d};`);
    return `${bindings(1, [], [elem, elem])}
${u.struct()}

@compute @workgroup_size(${WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  let i = group * ${WORKGROUP}u + lid;
  if (i >= u.n) { return; }
  ${unravel('i', rank, (d) => `u.d${d}`, 'c')}
  var inside = true;
  var src = 0;
${axes.join('\n')}
  var v = u.value;
  if (inside) { v = in0[src]; }
  out[i] = v;
}
`;
  });
}

/**
 * Writes the whole input (of `inShape`) into the output of `outShape` at `offset` along `axis`;
 * the output's other elements are left untouched (other scatters of the same concat write them).
 */
export function scatterProgram(inShape: readonly number[], outShape: readonly number[], axis: number, offset: number, elem: Elem = 'f32'): ShaderProgram {
  const n = product(inShape);
  const outStrides = contiguousStrides(outShape);
  const c = collapseAxes(inShape, [outStrides]);
  const rank = c.shape.length;
  const u = new UniformBlock().u32('n', n).u32('base', offset * outStrides[axis]);
  c.shape.forEach((d, i) => u.u32(`d${i}`, d).u32(`s${i}`, c.strides[0][i]));
  return lazyProgram(`scatter:${elem}:${rank}`, 1, u.words(), elementGrid(n, WORKGROUP), product(outShape), () => `${bindings(1, [], [elem, elem])}
${u.struct()}

@compute @workgroup_size(${WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  let i = group * ${WORKGROUP}u + lid;
  if (i >= u.n) { return; }
  ${unravel('i', rank, (d) => `u.d${d}`, 'c')}
  out[u.base + ${c.shape.map((_, d) => `c${d} * u.s${d}`).join(' + ')}] = in0[i];
}
`);
}

/** One scatter per non-empty input of a concat along `axis`. */
export function concatPrograms(inShapes: readonly (readonly number[])[], outShape: readonly number[], axis: number, elem: Elem = 'f32'): { input: number; program: ShaderProgram }[] {
  const out: { input: number; program: ShaderProgram }[] = [];
  let offset = 0;
  inShapes.forEach((shape, input) => {
    if (product(shape) > 0) out.push({ input, program: scatterProgram(shape, outShape, axis, offset, elem) });
    offset += shape[axis];
  });
  return out;
}
