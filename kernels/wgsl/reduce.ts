/**
 * sum and reduceMax over axes. The input is viewed as kept axes x reduced axes (after collapsing
 * neighbours of the same kind), M outputs of K terms each, and one of two kernels runs:
 * - `rows`: one thread per output with a serial loop. Used when K is small, or when the
 *   innermost axis is kept (a bias gradient over [N, D]): neighbouring threads then read
 *   neighbouring addresses. Long columns are cut into slices reduced by a second pass.
 * - `tree`: one workgroup per output (or per chunk of one), threads striding over K, then a
 *   tree reduction in workgroup memory. Few outputs with very many terms are split into chunks
 *   whose partial results a second pass reduces, so a full sum is not one workgroup's serial job.
 * reducePlan returns the passes; the backend allocates the intermediate.
 */
import { bindings, collapseAxes, contiguousStrides, elementGrid, ENTRY_PARAMS, ISNAN_WGSL, lazyProgram, LINEAR_GROUP, linearGrid, MAX_WGSL, product, UniformBlock, unravel } from './common.ts';
import type { ShaderProgram } from './program.ts';

export type ReduceOp = 'sum' | 'reduceMax';

const ROWS_WORKGROUP = 64;
const TREE_WORKGROUP = 128;
/** Terms per chunk when an output is split across workgroups. */
const CHUNK = 2048;

// -Infinity comes from a uniform: WGSL rejects it as a constant.
const INIT: Record<ReduceOp, string> = { sum: '0.0', reduceMax: 'u.init' };
// NaN wins for max, as on the CPU (the test is on the bits: see ISNAN_WGSL).
const FOLD: Record<ReduceOp, (acc: string, x: string) => string> = {
  sum: (acc, x) => `${acc} + ${x}`,
  reduceMax: (acc, x) => `tg_max(${acc}, ${x})`,
};
const HELPERS: Record<ReduceOp, string> = { sum: '', reduceMax: `${ISNAN_WGSL}\n\n${MAX_WGSL}` };

interface Geometry {
  kept: number[];
  keptStrides: number[];
  red: number[];
  redStrides: number[];
}

/** Splits the input into kept and reduced axes, merging runs of the same kind. */
function geometry(shape: readonly number[], axes: readonly number[]): Geometry {
  const strides = contiguousStrides(shape);
  const keptAxes = shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const kept = collapseAxes(keptAxes.map((d) => shape[d]), [keptAxes.map((d) => strides[d])]);
  const red = collapseAxes(axes.map((d) => shape[d]), [axes.map((d) => strides[d])]);
  return { kept: kept.shape, keptStrides: kept.strides[0], red: red.shape, redStrides: red.strides[0] };
}

/** One pass: reads `input`, writes `output` (M * P values). */
export interface ReducePass {
  program: ShaderProgram;
  /** Size of this pass's output in f32 elements. */
  outputSize: number;
}

/**
 * The passes reducing an input of `shape` over `axes` (sorted, distinct); the last pass writes
 * the final output in row-major order of the kept axes.
 * @example reducePlan('sum', [32, 10], [0]) // one `rows` pass: 10 threads, 32 terms each
 */
export function reducePlan(op: ReduceOp, shape: readonly number[], axes: readonly number[]): ReducePass[] {
  const g = geometry(shape, axes);
  const m = product(g.kept);
  const k = product(g.red);
  // Neighbouring outputs then sit at neighbouring addresses, so a thread per output reads coalesced.
  const innermostKept = m > 1 && g.keptStrides.includes(1);
  if (k <= 16 || (innermostKept && m >= 64)) {
    // Few outputs with long columns (a bias gradient over a big batch): split the outermost
    // reduced axis into slices, one thread per (slice, output), and reduce the slices after.
    const slices = m < 2048 && g.red[0] >= 4 * CHUNK ? Math.min(256, Math.ceil(g.red[0] / CHUNK)) : 1;
    const first = { program: rowsProgram(op, g, m, slices), outputSize: m * slices };
    if (slices === 1) return [first];
    return [first, ...reducePlan(op, [slices, m], [0])];
  }
  const chunks = m < 256 && k > 4 * CHUNK ? Math.min(256, Math.ceil(k / CHUNK)) : 1;
  const first = { program: treeProgram(op, g, m, chunks), outputSize: m * chunks };
  if (chunks === 1) return [first];
  return [first, ...reducePlan(op, [m, chunks], [1])];
}

/** WGSL computing `off_k`, the input offset of output `o`'s kept coordinates. */
function keptOffset(g: Geometry, index: string): string {
  if (g.kept.length === 1) return `let base = ${index} * u.ks0;`;
  const coords = unravel(index, g.kept.length, (d) => `u.kd${d}`, 'k');
  return `${coords}\n  let base = ${g.kept.map((_, d) => `k${d} * u.ks${d}`).join(' + ')};`;
}

function commonUniforms(op: ReduceOp, g: Geometry, m: number): UniformBlock {
  const u = new UniformBlock().u32('m', m).u32('k', product(g.red)).f32('init', op === 'sum' ? 0 : -Infinity);
  g.kept.forEach((d, i) => u.u32(`kd${i}`, d).u32(`ks${i}`, g.keptStrides[i]));
  g.red.forEach((d, i) => u.u32(`rd${i}`, d).u32(`rs${i}`, g.redStrides[i]));
  return u;
}

function rowsProgram(op: ReduceOp, g: Geometry, m: number, slices: number): ShaderProgram {
  const slice = Math.ceil(g.red[0] / slices);
  const u = commonUniforms(op, g, m).u32('slices', slices).u32('slice', slice);
  const key = `reduce:rows:${op}:${g.kept.length}:${g.red.length}`;
  return lazyProgram(key, 1, u.words(), elementGrid(m * slices, ROWS_WORKGROUP), m * slices, () => {
    // Nested loops over the reduced axes: no division per term. The outermost runs over this
    // thread's slice only; output (slice p, o) goes to p * m + o.
    let body = `let x = in0[o${g.red.length - 1}];\n    acc = ${FOLD[op]('acc', 'x')};`;
    for (let d = g.red.length - 1; d >= 0; d--) {
      const outer = d === 0 ? 'base' : `o${d - 1}`;
      const [from, to] = d === 0 ? ['r_lo', 'r_hi'] : ['0u', `u.rd${d}`];
      body = `for (var r${d} = ${from}; r${d} < ${to}; r${d}++) {\n    let o${d} = ${outer} + r${d} * u.rs${d};\n    ${body}\n  }`;
    }
    return `${bindings(1)}
${u.struct()}

${HELPERS[op]}

@compute @workgroup_size(${ROWS_WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  let t = group * ${ROWS_WORKGROUP}u + lid;
  if (t >= u.m * u.slices) { return; }
  let o = t % u.m;
  let r_lo = (t / u.m) * u.slice;
  let r_hi = min(r_lo + u.slice, u.rd0);
  ${keptOffset(g, 'o')}
  var acc = ${INIT[op]};
  ${body}
  out[t] = acc;
}
`;
  });
}

function treeProgram(op: ReduceOp, g: Geometry, m: number, chunks: number): ShaderProgram {
  const k = product(g.red);
  const chunk = Math.ceil(k / chunks);
  const u = commonUniforms(op, g, m).u32('chunks', chunks).u32('chunk', chunk);
  const key = `reduce:tree:${op}:${g.kept.length}:${g.red.length}`;
  return lazyProgram(key, 1, u.words(), linearGrid(m * chunks), m * chunks, () => {
    const redOffset = g.red.length === 1
      ? 'let off = r * u.rs0;'
      : `${unravel('r', g.red.length, (d) => `u.rd${d}`, 'q')}\n    let off = ${g.red.map((_, d) => `q${d} * u.rs${d}`).join(' + ')};`;
    return `${bindings(1)}
${u.struct()}

${HELPERS[op]}

var<workgroup> partial: array<f32, ${TREE_WORKGROUP}>;

@compute @workgroup_size(${TREE_WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  // group is uniform across the workgroup, so this return keeps the barriers below uniform.
  if (group >= u.m * u.chunks) { return; }
  let o = group / u.chunks;
  let lo = (group % u.chunks) * u.chunk;
  let hi = min(lo + u.chunk, u.k);
  ${keptOffset(g, 'o')}
  var acc = ${INIT[op]};
  for (var r = lo + lid; r < hi; r += ${TREE_WORKGROUP}u) {
    ${redOffset}
    let x = in0[base + off];
    acc = ${FOLD[op]('acc', 'x')};
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = ${TREE_WORKGROUP / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { partial[lid] = ${FOLD[op]('partial[lid]', 'partial[lid + s]')}; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[group] = partial[0]; }
}
`;
  });
}
