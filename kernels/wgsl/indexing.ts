/**
 * gather and scatterAdd (engine/primitives/gather.ts) as WGSL. Both see the data as
 * [outer, n, inner] around the indexed axis and the int32 indices (binding 1, array<i32>) as a
 * flat list of m entries.
 *
 * - gather: one thread per output element reads x[o, idx[j], q]. An index outside [0, n) reads
 *   NaN (0 for int32 data): the backend refuses out-of-range indices it uploaded from the host
 *   before dispatch, so this only concerns indices computed on the device, which it cannot see
 *   without a readback.
 * - scatterAdd: WGSL has no float atomics, and atomics would make float sums depend on thread
 *   timing anyway. One thread per OUTPUT element loops over all m indices in order and adds the
 *   updates whose index is its own: deterministic (the CPU's order), no atomics, no sort, at a
 *   cost of m index reads per output element. An index outside [0, size) matches no output
 *   element, so its term is dropped (as JAX's scatter does).
 */
import { bindings, elementGrid, ENTRY_PARAMS, lazyProgram, LINEAR_GROUP, UniformBlock, type Elem } from './common.ts';
import type { ShaderProgram } from './program.ts';

const WORKGROUP = 256;

/** x of [outer, n, inner] and m indices -> [outer, m, inner]. */
export function gatherIndexProgram(outer: number, n: number, inner: number, m: number, elem: Elem): ShaderProgram {
  const size = outer * m * inner;
  const u = new UniformBlock().u32('size', size).u32('n', n).u32('inner', inner).u32('m', m);
  if (elem === 'f32') u.f32('fill', NaN);
  else u.i32('fill', 0);
  return lazyProgram(`take:${elem}`, 2, u.words(), elementGrid(size, WORKGROUP), size, () => `${bindings(2, ['x', 'idx'], [elem, 'i32', elem])}
${u.struct()}

@compute @workgroup_size(${WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  let i = group * ${WORKGROUP}u + lid;
  if (i >= u.size) { return; }
  let q = i % u.inner;
  let row = i / u.inner;
  let j = row % u.m;
  let o = row / u.m;
  let k = idx[j];
  var v = u.fill;
  if ((k >= 0) & (u32(max(k, 0)) < u.n)) { v = x[(o * u.n + u32(k)) * u.inner + q]; }
  out[i] = v;
}
`);
}

/** updates of [outer, m, inner] and m indices -> [outer, size, inner], duplicates summed in index order. */
export function scatterAddProgram(outer: number, size: number, inner: number, m: number, elem: Elem): ShaderProgram {
  const total = outer * size * inner;
  const u = new UniformBlock().u32('total', total).u32('size', size).u32('inner', inner).u32('m', m);
  return lazyProgram(`scatterAdd:${elem}`, 2, u.words(), elementGrid(total, WORKGROUP), total, () => `${bindings(2, ['upd', 'idx'], [elem, 'i32', elem])}
${u.struct()}

@compute @workgroup_size(${WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  let i = group * ${WORKGROUP}u + lid;
  if (i >= u.total) { return; }
  let q = i % u.inner;
  let row = i / u.inner;
  let k = i32(row % u.size);
  let o = row / u.size;
  let base = o * u.m * u.inner + q;
  var acc = ${elem}(0);
  for (var j = 0u; j < u.m; j++) {
    if (idx[j] == k) { acc += upd[base + j * u.inner]; }
  }
  out[i] = acc;
}
`);
}
