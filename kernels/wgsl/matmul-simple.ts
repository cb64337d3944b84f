/**
 * Simple, correct fallbacks for the two linear primitives (the tuned kernels live in matmul.ts
 * and conv.ts): a 16x16-tiled batched matmul with broadcast batch axes and transpose flags read
 * through stride uniforms, and a direct convolution with one thread per output.
 */
import { bindings, collapseAxes, contiguousStrides, elementGrid, ENTRY_PARAMS, lazyProgram, LINEAR_GROUP, product, UniformBlock, unravel } from './common.ts';
import type { ShaderProgram } from './program.ts';
import type { ConvParams } from '../../engine/conv-params.ts';

const TILE = 16;

function batchStrides(shape: readonly number[], batch: readonly number[]): number[] {
  const own = contiguousStrides(shape).slice(0, -2);
  const lead = shape.slice(0, -2);
  const offset = batch.length - lead.length;
  return batch.map((_, d) => (d < offset || lead[d - offset] === 1 ? 0 : own[d - offset]));
}

/**
 * out[..., m, n] = sum_k A[..., m, k] B[..., k, n], A stored [..., k, m] when transposeA,
 * B stored [..., n, k] when transposeB; `outShape` includes the broadcast batch axes.
 */
export function matmulSimpleProgram(aShape: readonly number[], bShape: readonly number[], transposeA: boolean, transposeB: boolean, outShape: readonly number[]): ShaderProgram {
  const m = outShape[outShape.length - 2];
  const n = outShape[outShape.length - 1];
  const k = transposeA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];
  const batch = outShape.slice(0, -2);
  const c = collapseAxes(batch, [batchStrides(aShape, batch), batchStrides(bShape, batch)]);
  const batchCount = product(batch);
  const u = new UniformBlock().u32('m', m).u32('n', n).u32('k', k).u32('batches', batchCount);
  u.u32('sam', transposeA ? 1 : k).u32('sak', transposeA ? m : 1).u32('sbk', transposeB ? 1 : n).u32('sbn', transposeB ? k : 1);
  c.shape.forEach((d, i) => u.u32(`bd${i}`, d).u32(`bsa${i}`, c.strides[0][i]).u32(`bsb${i}`, c.strides[1][i]));
  const rank = c.shape.length;
  const tilesM = Math.ceil(m / TILE);
  const tilesN = Math.ceil(n / TILE);
  // x: column tiles, y: row tiles times batches (spilling is not needed below 65535 of each).
  const dispatch: [number, number, number] = [tilesN, tilesM, batchCount];
  if (batchCount > 65535 || tilesM > 65535 || tilesN > 65535) throw new Error(`matmul: ${batchCount} batches of ${m}x${n} exceed the dispatch limits`);
  return lazyProgram(`matmul-simple:${rank}`, 2, u.words(), dispatch, product(outShape), () => `${bindings(2, ['a', 'b'])}
${u.struct()}

var<workgroup> ta: array<array<f32, ${TILE}>, ${TILE}>;
var<workgroup> tb: array<array<f32, ${TILE}>, ${TILE}>;

@compute @workgroup_size(${TILE}, ${TILE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let bi = wid.z;
  ${unravel('bi', rank, (d) => `u.bd${d}`, 'q')}
  let abase = ${c.shape.map((_, d) => `q${d} * u.bsa${d}`).join(' + ')};
  let bbase = ${c.shape.map((_, d) => `q${d} * u.bsb${d}`).join(' + ')};
  let row = wid.y * ${TILE}u + lid.y;
  let col = wid.x * ${TILE}u + lid.x;
  var acc = 0.0;
  for (var k0 = 0u; k0 < u.k; k0 += ${TILE}u) {
    let ka = k0 + lid.x;
    let kb = k0 + lid.y;
    ta[lid.y][lid.x] = select(0.0, a[abase + row * u.sam + ka * u.sak], row < u.m && ka < u.k);
    tb[lid.y][lid.x] = select(0.0, b[bbase + kb * u.sbk + col * u.sbn], kb < u.k && col < u.n);
    workgroupBarrier();
    for (var j = 0u; j < ${TILE}u; j++) { acc += ta[lid.y][j] * tb[j][lid.x]; }
    workgroupBarrier();
  }
  if (row < u.m && col < u.n) { out[(bi * u.m + row) * u.n + col] = acc; }
}
`);
}

const CONV_WORKGROUP = 64;

/** The general convolution (see engine/conv-params.ts), NHWC x HWIO -> NHWC, one thread per output. */
export function conv2dSimpleProgram(xShape: readonly number[], wShape: readonly number[], p: ConvParams, outShape: readonly number[]): ShaderProgram {
  const [, h, w, c] = xShape;
  const [kh, kw, , o] = wShape;
  const [, oh, ow] = outShape;
  const total = product(outShape);
  const u = new UniformBlock().u32('total', total).u32('h', h).u32('w', w).u32('c', c).u32('kh', kh).u32('kw', kw).u32('o', o).u32('oh', oh).u32('ow', ow);
  u.i32('sh', p.strides[0]).i32('sw', p.strides[1]).i32('ph', p.padding[0][0]).i32('pw', p.padding[1][0]);
  u.i32('dh', p.kernelDilation[0]).i32('dw', p.kernelDilation[1]).i32('ih', p.inputDilation[0]).i32('iw', p.inputDilation[1]);
  u.u32('flip', p.flip ? 1 : 0);
  return lazyProgram('conv2d-simple', 2, u.words(), elementGrid(total, CONV_WORKGROUP), total, () => `${bindings(2, ['x', 'wt'])}
${u.struct()}

@compute @workgroup_size(${CONV_WORKGROUP})
fn main(${ENTRY_PARAMS}) {
  ${LINEAR_GROUP}
  let i = group * ${CONV_WORKGROUP}u + lid;
  if (i >= u.total) { return; }
  let q = i % u.o;
  let z = (i / u.o) % u.ow;
  let y = (i / (u.o * u.ow)) % u.oh;
  let bn = i / (u.o * u.ow * u.oh);
  let hd = (i32(u.h) - 1) * u.ih + 1;
  let wd = (i32(u.w) - 1) * u.iw + 1;
  var acc = 0.0;
  for (var a = 0u; a < u.kh; a++) {
    let r = i32(y) * u.sh + i32(a) * u.dh - u.ph;
    if (r < 0 || r >= hd || r % u.ih != 0) { continue; }
    let xr = u32(r / u.ih);
    let ka = select(a, u.kh - 1u - a, u.flip == 1u);
    for (var bb = 0u; bb < u.kw; bb++) {
      let s = i32(z) * u.sw + i32(bb) * u.dw - u.pw;
      if (s < 0 || s >= wd || s % u.iw != 0) { continue; }
      let xs = u32(s / u.iw);
      let kb = select(bb, u.kw - 1u - bb, u.flip == 1u);
      let xoff = ((bn * u.h + xr) * u.w + xs) * u.c;
      let woff = ((ka * u.kw + kb) * u.c) * u.o + q;
      for (var ch = 0u; ch < u.c; ch++) { acc += x[xoff + ch] * wt[woff + ch * u.o]; }
    }
  }
  out[i] = acc;
}
`);
}
