/**
 * Dense matrix multiply C = op(A) * op(B) in plain TypeScript, for float32 and float64.
 *
 * The fast path follows the BLIS/GotoBLAS layout: panels of A and B are packed into contiguous
 * Float64Array scratch (so the hot loop reads one element type, sequentially, and V8 keeps it
 * monomorphic), blocked so a B micro-panel stays in L1 and an A block in L2, and an 8x4
 * register-blocked micro-kernel keeps 32 accumulators in local doubles over the k loop.
 * Measured on a shared 2-core Xeon (Sapphire Rapids, V8 in Node 20): ~3.3 GFLOP/s in the
 * micro-kernel, ~75 ms best-of-20 for 512x512x512 float32 (tfjs-backend-cpu: ~690 ms). 8x4 beat 4x4, 6x4, 4x8, 3x4 and 8x2 by a few percent: past
 * ~16 accumulators V8 spills, but each spill costs less than the loads and bounds checks a
 * smaller tile re-executes per multiply-add.
 */
import type { TypedArray } from '../../engine/dtype.ts';
import { wasmGemm } from '../wasm/gemm.ts';
import { wasmMinWork, wasmRuntime } from './config.ts';

const MR = 8; // micro-tile rows (of A / C)
const NR = 4; // micro-tile columns (of B / C)
const KC = 256; // depth of one packed block: an 8 x 256 A sliver + 256 x 4 B sliver = 24 KiB, inside L1
const MC = 96; // rows of A packed at once (96 x 256 doubles = 192 KiB, inside L2); a multiple of MR
const NC = 512; // columns of B packed at once (256 x 512 doubles = 1 MiB); a multiple of NR
/** Below this many multiply-adds packing costs more than it saves. */
const SMALL_WORK = 4096;
/** Up to this depth C is a sum of k outer products, written row by row (per-sample weight gradients have k = 1). */
const OUTER_K = 4;
/**
 * A with at most this many rows and B stored transposed: B is read in place (its rows are
 * contiguous along k) instead of packed. With m = 16 each B panel would be packed to be used
 * only twice; measured on [16,512]x[512,512]^T and [16,2048]x[2048,2048]^T (the cotangent times a
 * weight in every backward walk of an NTK): 1.3-1.6x faster than the packed path.
 */
const THIN_M = 32;
const THIN_MIN_K = 64;

// Scratch reused across calls: allocated once at their maximum sizes (MC and NC are multiples of
// MR and NR, so zero-padded edge slivers never exceed them).
let aPack: Float64Array | undefined;
let bPack: Float64Array | undefined;
const tile = new Float64Array(MR * NR);
let vecAcc = new Float64Array(0);
let thinPack = new Float64Array(0);

/**
 * C = op(A) * op(B), with C (m x n, row-major, starting at cOffset) overwritten.
 * A is m x k row-major at aOffset, or stored k x m when transA; B is k x n row-major at bOffset,
 * or stored n x k when transB. C must not overlap A or B.
 *
 * The single entry for every CPU matrix product: large products run the WebAssembly SIMD kernels
 * (kernels/wasm, float32 accumulated in float32, float64 in float64, threads as configured)
 * where the runtime has them; small ones, vector products and the fallback run the JavaScript
 * kernels below, which accumulate in doubles.
 *
 * @example
 * const c = new Float32Array(4);
 * gemm(2, 2, 2, new Float32Array([1, 2, 3, 4]), 0, false, new Float32Array([1, 0, 0, 1]), 0, false, c, 0);
 * // c = [1, 2, 3, 4]
 */
export function gemm(
  m: number, n: number, k: number,
  a: TypedArray, aOffset: number, transA: boolean,
  b: TypedArray, bOffset: number, transB: boolean,
  c: TypedArray, cOffset: number,
): void {
  if (!checkArgs(m, n, k, a, aOffset, b, bOffset, c, cOffset)) return;
  if (m * n * k >= wasmMinWork() && m > 1 && n > 1 && k > OUTER_K) {
    const rt = wasmRuntime();
    if (rt !== null && wasmGemm(rt, m, n, k, a, aOffset, transA, b, bOffset, transB, c, cOffset)) return;
  }
  if (m * n * k <= SMALL_WORK) {
    gemmNaive(m, n, k, a, aOffset, transA, b, bOffset, transB, c, cOffset);
  } else if (m === 1) {
    // Row vector times matrix: an 8x4 tile would waste 7/8 of its work on padding rows.
    // (A 1 x k or k x 1 vector has unit stride whichever way it is stored; likewise B below.)
    gemv(n, k, b, bOffset, transB ? k : 1, transB ? 1 : n, a, aOffset, 1, c, cOffset);
  } else if (n === 1) {
    gemv(m, k, a, aOffset, transA ? 1 : k, transA ? m : 1, b, bOffset, 1, c, cOffset);
  } else if (k <= OUTER_K) {
    outer(m, n, k, a, aOffset, transA, b, bOffset, transB, c, cOffset);
  } else if (transB && m <= THIN_M && k >= THIN_MIN_K) {
    thinTransB(m, n, k, a, aOffset, transA, b, bOffset, c, cOffset);
  } else {
    blocked(m, n, k, a, aOffset, transA, b, bOffset, transB, c, cOffset);
  }
}

/**
 * The packed, blocked path of {@link gemm} for every size (no small-size or vector shortcut);
 * exported so tests can drive its edge handling with small matrices.
 */
export function gemmBlocked(
  m: number, n: number, k: number,
  a: TypedArray, aOffset: number, transA: boolean,
  b: TypedArray, bOffset: number, transB: boolean,
  c: TypedArray, cOffset: number,
): void {
  if (!checkArgs(m, n, k, a, aOffset, b, bOffset, c, cOffset)) return;
  blocked(m, n, k, a, aOffset, transA, b, bOffset, transB, c, cOffset);
}

/** Validates sizes; handles the empty cases. Returns false when nothing is left to compute. */
function checkArgs(
  m: number, n: number, k: number,
  a: TypedArray, aOffset: number, b: TypedArray, bOffset: number, c: TypedArray, cOffset: number,
): boolean {
  for (const v of [m, n, k, aOffset, bOffset, cOffset]) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`gemm: sizes and offsets must be non-negative integers, got m=${m} n=${n} k=${k} offsets ${aOffset},${bOffset},${cOffset}`);
  }
  if (aOffset + m * k > a.length || bOffset + k * n > b.length || cOffset + m * n > c.length) {
    throw new RangeError(`gemm: [${m},${k}] x [${k},${n}] does not fit the arrays (lengths ${a.length}, ${b.length}, ${c.length} at offsets ${aOffset}, ${bOffset}, ${cOffset})`);
  }
  if (m === 0 || n === 0) return false;
  if (k === 0) {
    // An empty sum: C is zero, and no packed block would ever write it.
    c.fill(0, cOffset, cOffset + m * n);
    return false;
  }
  return true;
}

/** Triple loop over strided views; for tiny products where packing dominates. */
function gemmNaive(
  m: number, n: number, k: number,
  a: TypedArray, aOffset: number, transA: boolean,
  b: TypedArray, bOffset: number, transB: boolean,
  c: TypedArray, cOffset: number,
): void {
  const ars = transA ? 1 : k, acs = transA ? m : 1;
  const brs = transB ? 1 : n, bcs = transB ? k : 1;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let ai = aOffset + i * ars, bi = bOffset + j * bcs;
      for (let p = 0; p < k; p++, ai += acs, bi += brs) s += a[ai] * b[bi];
      c[cOffset + i * n + j] = s;
    }
  }
}

/**
 * out[o] = sum_p mat[matOff + o*outStride + p*inStride] * vec[vecOff + p*vecStride], o < len.
 * Walks mat in whichever order is contiguous: dot products along rows, or row-by-row axpy into a
 * double accumulator when the output index is the contiguous one.
 */
function gemv(
  len: number, k: number,
  mat: TypedArray, matOff: number, outStride: number, inStride: number,
  vec: TypedArray, vecOff: number, vecStride: number,
  out: TypedArray, outOff: number,
): void {
  if (outStride === 1 && len > 1) {
    if (vecAcc.length < len) vecAcc = new Float64Array(len);
    const acc = vecAcc;
    acc.fill(0, 0, len);
    for (let p = 0; p < k; p++) {
      const v = vec[vecOff + p * vecStride];
      const row = matOff + p * inStride;
      for (let o = 0; o < len; o++) acc[o] += v * mat[row + o];
    }
    for (let o = 0; o < len; o++) out[outOff + o] = acc[o];
  } else {
    for (let o = 0; o < len; o++) {
      let s = 0;
      let mi = matOff + o * outStride, vi = vecOff;
      for (let p = 0; p < k; p++, mi += inStride, vi += vecStride) s += mat[mi] * vec[vi];
      out[outOff + o] = s;
    }
  }
}

/**
 * C as a sum of k <= OUTER_K outer products, one output row at a time: the blocked path would run
 * its micro-kernel for one to four steps per 8x4 tile and spend its time packing and storing.
 * Rows accumulate in doubles (k = 1 is a single rounding, written directly).
 */
function outer(
  m: number, n: number, k: number,
  a: TypedArray, aOffset: number, transA: boolean,
  b: TypedArray, bOffset: number, transB: boolean,
  c: TypedArray, cOffset: number,
): void {
  const ars = transA ? 1 : k, acs = transA ? m : 1;
  const brs = transB ? 1 : n, bcs = transB ? k : 1;
  if (k === 1) {
    for (let i = 0; i < m; i++) {
      const ai = a[aOffset + i * ars];
      const row = cOffset + i * n;
      for (let j = 0, bj = bOffset; j < n; j++, bj += bcs) c[row + j] = ai * b[bj];
    }
    return;
  }
  if (vecAcc.length < n) vecAcc = new Float64Array(n);
  const acc = vecAcc;
  for (let i = 0; i < m; i++) {
    const a0 = a[aOffset + i * ars];
    for (let j = 0, bj = bOffset; j < n; j++, bj += bcs) acc[j] = a0 * b[bj];
    for (let p = 1; p < k; p++) {
      const ap = a[aOffset + i * ars + p * acs];
      for (let j = 0, bj = bOffset + p * brs; j < n; j++, bj += bcs) acc[j] += ap * b[bj];
    }
    const row = cOffset + i * n;
    for (let j = 0; j < n; j++) c[row + j] = acc[j];
  }
}

/**
 * Few rows of A times B stored transposed ([n, k]): A is packed whole into slivers of MR rows,
 * B is read where it lies, four of its rows (= four columns of C) at a time, over the full depth.
 */
function thinTransB(
  m: number, n: number, k: number,
  a: TypedArray, aOffset: number, transA: boolean,
  b: TypedArray, bOffset: number,
  c: TypedArray, cOffset: number,
): void {
  const slivers = Math.ceil(m / MR);
  if (thinPack.length < slivers * MR * k) thinPack = new Float64Array(slivers * MR * k);
  const ap = thinPack;
  pack(ap, MR, a, aOffset, transA ? 1 : k, transA ? m : 1, m, k);
  for (let j = 0; j < n; j += NR) {
    const cols = Math.min(NR, n - j);
    for (let s = 0; s < slivers; s++) {
      if (cols === NR) micro8x4Rows(k, ap, s * MR * k, b, bOffset + j * k, k);
      else microEdgeRows(k, ap, s * MR * k, b, bOffset + j * k, k, cols);
      store(c, cOffset + s * MR * n + j, n, Math.min(MR, m - s * MR), cols, false);
    }
  }
}

/** tile = (8 x kc sliver of packed A) * (4 rows of B at b[bi..], each contiguous along k, ldb apart)^T. */
function micro8x4Rows(kc: number, ap: Float64Array, ai: number, b: TypedArray, bi: number, ldb: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  let c40 = 0, c41 = 0, c42 = 0, c43 = 0, c50 = 0, c51 = 0, c52 = 0, c53 = 0;
  let c60 = 0, c61 = 0, c62 = 0, c63 = 0, c70 = 0, c71 = 0, c72 = 0, c73 = 0;
  let r0 = bi, r1 = (bi + ldb) | 0, r2 = (bi + 2 * ldb) | 0, r3 = (bi + 3 * ldb) | 0;
  for (let p = 0; p < kc; p++) {
    const b0 = b[r0], b1 = b[r1], b2 = b[r2], b3 = b[r3];
    const a0 = ap[ai]; c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    const a1 = ap[(ai + 1) | 0]; c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    const a2 = ap[(ai + 2) | 0]; c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    const a3 = ap[(ai + 3) | 0]; c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    const a4 = ap[(ai + 4) | 0]; c40 += a4 * b0; c41 += a4 * b1; c42 += a4 * b2; c43 += a4 * b3;
    const a5 = ap[(ai + 5) | 0]; c50 += a5 * b0; c51 += a5 * b1; c52 += a5 * b2; c53 += a5 * b3;
    const a6 = ap[(ai + 6) | 0]; c60 += a6 * b0; c61 += a6 * b1; c62 += a6 * b2; c63 += a6 * b3;
    const a7 = ap[(ai + 7) | 0]; c70 += a7 * b0; c71 += a7 * b1; c72 += a7 * b2; c73 += a7 * b3;
    ai = (ai + 8) | 0;
    r0 = (r0 + 1) | 0; r1 = (r1 + 1) | 0; r2 = (r2 + 1) | 0; r3 = (r3 + 1) | 0;
  }
  const t = tile;
  t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c03;
  t[4] = c10; t[5] = c11; t[6] = c12; t[7] = c13;
  t[8] = c20; t[9] = c21; t[10] = c22; t[11] = c23;
  t[12] = c30; t[13] = c31; t[14] = c32; t[15] = c33;
  t[16] = c40; t[17] = c41; t[18] = c42; t[19] = c43;
  t[20] = c50; t[21] = c51; t[22] = c52; t[23] = c53;
  t[24] = c60; t[25] = c61; t[26] = c62; t[27] = c63;
  t[28] = c70; t[29] = c71; t[30] = c72; t[31] = c73;
}

/** The last (cols < 4) columns of {@link thinTransB}. */
function microEdgeRows(kc: number, ap: Float64Array, ai: number, b: TypedArray, bi: number, ldb: number, cols: number): void {
  const t = tile;
  t.fill(0);
  for (let q = 0; q < cols; q++) {
    const row = bi + q * ldb;
    for (let i = 0; i < MR; i++) {
      let s = 0;
      for (let p = 0; p < kc; p++) s += ap[ai + p * MR + i] * b[row + p];
      t[i * NR + q] = s;
    }
  }
}

function blocked(
  m: number, n: number, k: number,
  a: TypedArray, aOffset: number, transA: boolean,
  b: TypedArray, bOffset: number, transB: boolean,
  c: TypedArray, cOffset: number,
): void {
  aPack ??= new Float64Array(MC * KC);
  bPack ??= new Float64Array(KC * NC);
  const ap = aPack, bp = bPack;
  // Element (i, p) of A is a[aOffset + i*ars + p*acs]; element (p, j) of B is b[bOffset + p*brs + j*bcs].
  const ars = transA ? 1 : k, acs = transA ? m : 1;
  const brs = transB ? 1 : n, bcs = transB ? k : 1;
  for (let jc = 0; jc < n; jc += NC) {
    const nb = Math.min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kb = Math.min(KC, k - pc);
      // The first depth block stores into C, later ones add: C is never read before written.
      const accumulate = pc > 0;
      pack(bp, NR, b, bOffset + pc * brs + jc * bcs, bcs, brs, nb, kb);
      for (let ic = 0; ic < m; ic += MC) {
        const mb = Math.min(MC, m - ic);
        pack(ap, MR, a, aOffset + ic * ars + pc * acs, ars, acs, mb, kb);
        for (let jr = 0; jr < nb; jr += NR) {
          const cols = Math.min(NR, nb - jr);
          const bi = jr * kb; // sliver jr/NR starts at (jr/NR) * NR * kb
          for (let ir = 0; ir < mb; ir += MR) {
            const rows = Math.min(MR, mb - ir);
            micro8x4(kb, ap, ir * kb, bp, bi);
            store(c, cOffset + (ic + ir) * n + jc + jr, n, rows, cols, accumulate);
          }
        }
      }
    }
  }
}

/**
 * Packs `count` lines x `depth` of a strided matrix into slivers of `width` lines:
 * dst[s*width*depth + p*width + r] = src[off + (s*width + r)*lineStride + p*depthStride],
 * zero-padded past `count` so the micro-kernel never needs an edge case inside its loop.
 */
function pack(
  dst: Float64Array, width: number,
  src: TypedArray, off: number, lineStride: number, depthStride: number,
  count: number, depth: number,
): void {
  let o = 0;
  for (let l0 = 0; l0 < count; l0 += width) {
    const r = Math.min(width, count - l0);
    const base = off + l0 * lineStride;
    if (r === width && lineStride === 1) {
      // Lines contiguous in memory (the transposed side): copy runs of `width`.
      for (let p = 0; p < depth; p++) {
        const s = base + p * depthStride;
        for (let q = 0; q < width; q++) dst[o + q] = src[s + q];
        o += width;
      }
    } else {
      for (let p = 0; p < depth; p++) {
        const s = base + p * depthStride;
        let q = 0;
        for (; q < r; q++) dst[o + q] = src[s + q * lineStride];
        for (; q < width; q++) dst[o + q] = 0;
        o += width;
      }
    }
  }
}

/**
 * tile = (8 x kc sliver of A at ap[ai..]) * (kc x 4 sliver of B at bp[bi..]). Unrolled by hand:
 * V8 keeps the 32 sums in registers/stack slots only when they are distinct locals. `| 0` on the
 * indices tells V8 they stay int32, which drops an overflow check per load.
 */
function micro8x4(kc: number, ap: Float64Array, ai: number, bp: Float64Array, bi: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  let c40 = 0, c41 = 0, c42 = 0, c43 = 0, c50 = 0, c51 = 0, c52 = 0, c53 = 0;
  let c60 = 0, c61 = 0, c62 = 0, c63 = 0, c70 = 0, c71 = 0, c72 = 0, c73 = 0;
  for (let p = 0; p < kc; p++) {
    const b0 = bp[bi], b1 = bp[(bi + 1) | 0], b2 = bp[(bi + 2) | 0], b3 = bp[(bi + 3) | 0];
    const a0 = ap[ai]; c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    const a1 = ap[(ai + 1) | 0]; c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    const a2 = ap[(ai + 2) | 0]; c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    const a3 = ap[(ai + 3) | 0]; c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    const a4 = ap[(ai + 4) | 0]; c40 += a4 * b0; c41 += a4 * b1; c42 += a4 * b2; c43 += a4 * b3;
    const a5 = ap[(ai + 5) | 0]; c50 += a5 * b0; c51 += a5 * b1; c52 += a5 * b2; c53 += a5 * b3;
    const a6 = ap[(ai + 6) | 0]; c60 += a6 * b0; c61 += a6 * b1; c62 += a6 * b2; c63 += a6 * b3;
    const a7 = ap[(ai + 7) | 0]; c70 += a7 * b0; c71 += a7 * b1; c72 += a7 * b2; c73 += a7 * b3;
    ai = (ai + 8) | 0;
    bi = (bi + 4) | 0;
  }
  const t = tile;
  t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c03;
  t[4] = c10; t[5] = c11; t[6] = c12; t[7] = c13;
  t[8] = c20; t[9] = c21; t[10] = c22; t[11] = c23;
  t[12] = c30; t[13] = c31; t[14] = c32; t[15] = c33;
  t[16] = c40; t[17] = c41; t[18] = c42; t[19] = c43;
  t[20] = c50; t[21] = c51; t[22] = c52; t[23] = c53;
  t[24] = c60; t[25] = c61; t[26] = c62; t[27] = c63;
  t[28] = c70; t[29] = c71; t[30] = c72; t[31] = c73;
}

/** Writes (or adds) the valid rows x cols corner of the tile into C; padding lanes are dropped. */
function store(c: TypedArray, ci: number, ldc: number, rows: number, cols: number, accumulate: boolean): void {
  const t = tile;
  for (let i = 0; i < rows; i++) {
    const row = ci + i * ldc;
    if (accumulate) for (let j = 0; j < cols; j++) c[row + j] += t[i * NR + j];
    else for (let j = 0; j < cols; j++) c[row + j] = t[i * NR + j];
  }
}
