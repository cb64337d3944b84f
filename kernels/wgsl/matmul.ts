/**
 * Batched matmul as WGSL: out[..., m, n] = sum_k A[..., m, k] B[..., k, n], with A stored
 * [..., k, m] when transposeA and B stored [..., n, k] when transposeB (read in place, never
 * copied), and batch axes broadcast through zero strides. The kernel design and its
 * measurements are in gemm-core.ts.
 */
import type { MatmulParams } from '../../engine/primitives/matmul.ts';
import {
  accDecl, bindingDecl, broadcastA, dispatchFor, ENTRY, ENTRY_SUBGROUPS, fmaStep, type GemmOptions,
  scalarAt, stepK, storeBlock, TILE_N, tileDecode, tileRows, vec4At,
} from './gemm-core.ts';
import { UniformWriter, type ShaderProgram } from './program.ts';

export type { GemmOptions } from './gemm-core.ts';

interface BatchAxis {
  dim: number;
  aStride: number;
  bStride: number;
}

/**
 * Batch axes as (dim, A stride, B stride) in elements, broadcast axes with stride 0, size-1 axes
 * dropped and neighbours merged where both operands step through them contiguously, so the
 * usual cases (no batch, one batch axis, one operand broadcast) reach rank 0 or 1.
 */
function batchAxes(aShape: readonly number[], bShape: readonly number[], batch: readonly number[]): BatchAxis[] {
  const strides = (shape: readonly number[]): number[] => {
    const lead = shape.slice(0, -2);
    const out = new Array<number>(batch.length).fill(0);
    let s = shape[shape.length - 2] * shape[shape.length - 1];
    for (let i = lead.length - 1; i >= 0; i--) {
      const j = i + batch.length - lead.length;
      out[j] = lead[i] === 1 ? 0 : s;
      s *= lead[i];
    }
    return out;
  };
  const as = strides(aShape);
  const bs = strides(bShape);
  const axes: BatchAxis[] = [];
  batch.forEach((dim, i) => {
    if (dim === 1) return;
    const last = axes[axes.length - 1];
    if (last && last.aStride === as[i] * dim && last.bStride === bs[i] * dim) {
      last.dim *= dim;
      last.aStride = as[i];
      last.bStride = bs[i];
    } else {
      axes.push({ dim, aStride: as[i], bStride: bs[i] });
    }
  });
  return axes;
}

function checkShapes(aShape: readonly number[], bShape: readonly number[], p: MatmulParams, outShape: readonly number[]): [number, number, number] {
  const show = () => `[${aShape}]${p.transposeA ? 'ᵀ' : ''} x [${bShape}]${p.transposeB ? 'ᵀ' : ''} -> [${outShape}]`;
  if (aShape.length < 2 || bShape.length < 2 || outShape.length < 2) throw new Error(`matmul (wgsl): operands need rank >= 2: ${show()}`);
  const ra = aShape.length;
  const rb = bShape.length;
  const [m, k] = p.transposeA ? [aShape[ra - 1], aShape[ra - 2]] : [aShape[ra - 2], aShape[ra - 1]];
  const [kb, n] = p.transposeB ? [bShape[rb - 1], bShape[rb - 2]] : [bShape[rb - 2], bShape[rb - 1]];
  const ro = outShape.length;
  if (k !== kb || outShape[ro - 2] !== m || outShape[ro - 1] !== n) throw new Error(`matmul (wgsl): shapes do not match: ${show()}`);
  const lead = (s: readonly number[]) => s.slice(0, -2);
  if (lead(aShape).length > ro - 2 || lead(bShape).length > ro - 2) throw new Error(`matmul (wgsl): output has fewer batch axes than an operand: ${show()}`);
  for (const s of [aShape, bShape]) {
    const l = lead(s);
    l.forEach((d, i) => {
      const o = outShape[i + ro - 2 - l.length];
      if (d !== 1 && d !== o) throw new Error(`matmul (wgsl): batch axes do not broadcast: ${show()}`);
    });
  }
  return [m, n, k];
}

/**
 * The WGSL program for one batched matmul. Shapes travel as uniforms; the key holds only the
 * batch rank (after merging axes), the transpose flags, the vec4 alignment of A, B and the
 * output, which edges need guards (M % 8, N % 32, K % step), and the subgroup switch.
 *
 * Bindings: 0 = A, 1 = B (array<vec4<f32>> when the operand's contiguous axis is a multiple of
 * 4, else array<f32>), 2 = out (vec4 view when n % 4 == 0), 3 = uniforms: u32 words
 * [m, n, k, tilesM, tilesN, tiles, kFull, 0] then per batch axis, outermost first,
 * [dim, aStride, bStride, 0] (strides in elements, 0 for broadcast axes).
 *
 * @example
 * const p = matmulProgram([64, 32], [32, 16], { transposeA: false, transposeB: false }, [64, 16]);
 * // p.inputs === 2, p.outputSize === 1024
 */
export function matmulProgram(
  aShape: readonly number[], bShape: readonly number[], params: MatmulParams, outShape: readonly number[],
  options: GemmOptions = {},
): ShaderProgram {
  const [m, n, k] = checkShapes(aShape, bShape, params, outShape);
  const { transposeA: tA, transposeB: tB } = params;
  const sg = !!options.subgroups;
  const step = stepK(options);
  const axes = batchAxes(aShape, bShape, outShape.slice(0, -2));
  const batchCount = outShape.slice(0, -2).reduce((x, y) => x * y, 1);
  const alignA = (tA ? m : k) % 4 === 0;
  const alignB = (tB ? k : n) % 4 === 0;
  const alignC = n % 4 === 0;
  // 16 rows pay off once B's column panel no longer stays in cache (measured at 2048^3).
  const R = tileRows(options, m >= 2048 ? 16 : 8);
  const fullM = m % R === 0;
  const fullN = n % TILE_N === 0;
  const fullK = k % step === 0;
  const tilesM = Math.ceil(m / R);
  const tilesN = Math.ceil(n / TILE_N);
  const tiles = m === 0 || n === 0 ? 0 : tilesM * tilesN * batchCount;

  const uw = new UniformWriter().u32(m, n, k, tilesM, tilesN, tiles, k - (k % step), 0);
  for (const a of axes) uw.u32(a.dim, a.aStride, a.bStride, 0);
  const key = [
    'matmul', `r${axes.length}`, tA ? 'tA' : 'a', tB ? 'tB' : 'b',
    `v${+alignA}${+alignB}${+alignC}`, `f${+fullM}${+fullN}${+fullK}`, sg ? `sg${R}` : 'ds',
  ].join(':');
  return {
    key,
    code: matmulCode(R, axes.length, tA, tB, alignA, alignB, alignC, fullM, fullN, fullK, sg),
    inputs: 2,
    uniforms: uw.finish(),
    dispatch: dispatchFor(tiles),
    outputSize: batchCount * m * n,
  };
}

function matmulCode(
  R: number, rank: number, tA: boolean, tB: boolean, alignA: boolean, alignB: boolean, alignC: boolean,
  fullM: boolean, fullN: boolean, fullK: boolean, sg: boolean,
): string {
  const step = sg ? 8 : 4;
  const clampRow = (row: string) => (fullM ? `(${row})` : `min(${row}, u.m - 1u)`);
  let s = sg ? 'enable subgroups;\n\n' : '';
  s += `struct Uniforms {
  m: u32, n: u32, k: u32, tilesM: u32,
  tilesN: u32, tiles: u32, kFull: u32, pad: u32,
${rank ? `  batch: array<vec4<u32>, ${rank}>,\n` : ''}}
`;
  s += bindingDecl([{ name: 'A', vec4: alignA }, { name: 'B', vec4: alignB }], { name: 'C', vec4: alignC }, 'Uniforms');
  s += `\n${sg ? ENTRY_SUBGROUPS : ENTRY}\n`;
  s += tileDecode(R);
  s += '  var aOff = 0u;\n  var bOff = 0u;\n';
  if (rank) {
    s += '  var rest = batch;\n';
    for (let i = rank - 1; i >= 0; i--) {
      s += `  { let d = u.batch[${i}]; let idx = rest % d.x; rest = rest / d.x; aOff += idx * d.y; bOff += idx * d.z; }\n`;
    }
  }
  s += '  let off = batch * u.m * u.n;\n';
  s += accDecl(R);

  // Loop-invariant bases: the rows of A (or the lane's row with subgroups) and B's columns.
  if (!tA) {
    if (sg) for (let g = 0; g < R / 8; g++) s += `  let aBase${g} = aOff + ${clampRow(`row0 + ${8 * g}u + lane`)} * u.k;\n`;
    for (let r = 0; r < R; r++) s += `  let aRow${r} = aOff + ${clampRow(`row0 + ${r}u`)} * u.k;\n`;
  }
  if (tB) for (let j = 0; j < 4; j++) s += `  let bCol${j} = bOff + (col + ${j}u) * u.k;\n`;
  else s += '  let bBase = bOff + col;\n';

  // The main loop over full steps of K.
  s += `  for (var k0 = 0u; k0 < u.kFull; k0 += ${step}u) {\n`;
  let a: (r: number, kk: number) => string;
  if (sg && !tA) {
    for (let g = 0; g < R / 8; g++) {
      s += `    let a${g}_0 = ${vec4At('A', alignA, `aBase${g} + k0`)};\n    let a${g}_1 = ${vec4At('A', alignA, `aBase${g} + k0 + 4u`)};\n`;
    }
    a = broadcastA((g, h) => `a${g}_${h}`);
  } else if (sg) {
    // A stored [K, M]: lane l holds the 8 rows of k0 + l.
    s += '    let ai = aOff + (k0 + lane) * u.m + row0;\n';
    for (let j = 0; j < R / 4; j++) s += `    let at${j} = ${vec4At('A', alignA, j ? `ai + ${4 * j}u` : 'ai')};\n`;
    a = (r, kk) => `subgroupBroadcast(at${r >> 2}.${'xyzw'[r & 3]}, ${kk}u)`;
  } else if (!tA) {
    for (let r = 0; r < R; r++) s += `    let a${r} = ${vec4At('A', alignA, `aRow${r} + k0`)};\n`;
    a = (r, kk) => `a${r}.${'xyzw'[kk]}`;
  } else {
    for (let q = 0; q < 4; q++) {
      s += `    let at${q}_0 = ${vec4At('A', alignA, `aOff + (k0 + ${q}u) * u.m + row0`)};\n`;
      s += `    let at${q}_1 = ${vec4At('A', alignA, `aOff + (k0 + ${q}u) * u.m + row0 + 4u`)};\n`;
    }
    a = (r, kk) => `at${kk}_${r >> 2}.${'xyzw'[r & 3]}`;
  }
  let b: (kk: number) => string;
  if (!tB) {
    for (let kk = 0; kk < step; kk++) s += `    let b${kk} = ${vec4At('B', alignB, `bBase + (k0 + ${kk}u) * u.n`)};\n`;
    b = (kk) => `b${kk}`;
  } else {
    for (let j = 0; j < 4; j++) {
      for (let h = 0; h < step / 4; h++) s += `    let bt${j}_${h} = ${vec4At('B', alignB, `bCol${j} + k0 + ${4 * h}u`)};\n`;
    }
    b = (kk) => `vec4<f32>(${[0, 1, 2, 3].map((j) => `bt${j}_${kk >> 2}.${'xyzw'[kk & 3]}`).join(', ')})`;
  }
  s += fmaStep(R, step, a, b);
  s += '  }\n';

  // The K remainder, one k at a time, every lane loading its own values.
  if (!fullK) {
    s += '  for (var k = u.kFull; k < u.k; k++) {\n';
    const bk = tB
      ? `vec4<f32>(${[0, 1, 2, 3].map((j) => scalarAt('B', alignB, `bCol${j} + k`)).join(', ')})`
      : vec4At('B', alignB, 'bBase + k * u.n');
    s += `    let b = ${bk};\n`;
    const ak = (r: number) => (tA ? scalarAt('A', alignA, `aOff + k * u.m + row0 + ${r}u`) : scalarAt('A', alignA, `aRow${r} + k`));
    s += fmaStep(R, 1, (r) => ak(r), () => 'b');
    s += '  }\n';
  }
  s += storeBlock(R, 'C', alignC, fullM, fullN);
  s += '}\n';
  return s;
}
