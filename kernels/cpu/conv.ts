/**
 * The one general 2-D convolution (strides, negative-capable padding, kernel dilation, input
 * dilation, flip) as im2col + gemm: every output pixel's receptive field becomes one row of a
 * patch matrix [rows, KH*KW*C], which multiplied by the kernel viewed as [KH*KW*C, O] gives the
 * NHWC output directly. All the geometry lives in the patch gather, so one fast matmul serves the
 * forward pass and both gradients (which are convolutions again).
 */
import type { TypedArray } from '../../engine/dtype.ts';
import { convOutputLength, type ConvParams } from '../../engine/conv-params.ts';
import { wasmConv2d } from '../wasm/conv.ts';
import { wasmMinWork, wasmRuntime } from './config.ts';
import { gemm } from './gemm.ts';

/**
 * Patch elements built per gemm call. On the 16x32x32x16 -> 32, 3x3 case, blocks of 2^16-2^18
 * elements (still in L2 when gemm packs them) ran ~7% faster than building the whole
 * 2.4M-element matrix first and much faster than 2^12 (per-call packing of the kernel then
 * dominates); the cap also bounds scratch memory for any input size. Rechecked with the Wasm SIMD
 * gemm (one thread, CPU time): 2^16, 2^18 and 2^20 within 10% of each other (9.5-10.3 ms, against
 * 55 ms for the JavaScript gemm); each block's gemm splits its rows among the threads.
 */
const PATCH_BUDGET = 1 << 18;

let patch32 = new Float32Array(0);
let patch64 = new Float64Array(0);
let hIdx = new Int32Array(0);
let wIdx = new Int32Array(0);

/**
 * NHWC x [N,H,W,C] (*) HWIO w [KH,KW,C,O] -> out [N,OH,OW,O] (preallocated, overwritten), with
 * the geometry of `ConvParams`; OH and OW come from `convOutputLength`.
 *
 * @example
 * const out = new Float32Array(1);
 * conv2d(new Float32Array([1, 2]), [1, 1, 2, 1], new Float32Array([3, 4]), [1, 2, 1, 1],
 *   { strides: [1, 1], padding: [[0, 0], [0, 0]], kernelDilation: [1, 1], inputDilation: [1, 1], flip: false }, out);
 * // out = [11]
 */
export function conv2d(
  x: TypedArray, xShape: readonly [number, number, number, number],
  w: TypedArray, wShape: readonly [number, number, number, number],
  p: ConvParams,
  out: TypedArray,
): void {
  const [N, H, W, C] = xShape;
  const [KH, KW, WC, O] = wShape;
  const [sh, sw] = p.strides;
  const [[pt, pb], [pl, pr]] = p.padding;
  const [kdh, kdw] = p.kernelDilation;
  const [idh, idw] = p.inputDilation;
  if (WC !== C) throw new RangeError(`conv2d: kernel channels differ from input channels: x [${xShape}] w [${wShape}]`);
  const OH = convOutputLength(H, KH, sh, pt, pb, kdh, idh);
  const OW = convOutputLength(W, KW, sw, pl, pr, kdw, idw);
  if (OH < 1 || OW < 1) {
    throw new RangeError(`conv2d: empty output ${OH}x${OW}: x [${xShape}] w [${wShape}] strides [${p.strides}] padding [${p.padding}]`);
  }
  const M = N * OH * OW, K = KH * KW * C;
  if (x.length < N * H * W * C || w.length < K * O || out.length < M * O) {
    throw new RangeError(`conv2d: arrays too short for x [${xShape}] w [${wShape}] out [${N},${OH},${OW},${O}]`);
  }
  if (M === 0 || O === 0) return;

  if (KH === 1 && KW === 1 && sh === 1 && sw === 1 && pt === 0 && pb === 0 && pl === 0 && pr === 0 && idh === 1 && idw === 1) {
    // A 1x1 convolution's patch matrix is the input itself.
    gemm(M, O, C, x, 0, false, w, 0, false, out, 0);
    return;
  }
  if (K === 0) {
    out.fill(0, 0, M * O);
    return;
  }

  // Source row/column for each (output position, kernel tap), or -1 where the tap reads padding
  // or an inserted hole. Tap index kr is the kernel's row; the read position uses the flipped
  // index when flip is set.
  if (hIdx.length < OH * KH) hIdx = new Int32Array(OH * KH);
  if (wIdx.length < OW * KW) wIdx = new Int32Array(OW * KW);
  fillTaps(hIdx, OH, KH, H, sh, pt, kdh, idh, p.flip);
  fillTaps(wIdx, OW, KW, W, sw, pl, kdw, idw, p.flip);
  if (idh > 1 || idw > 1) {
    conv2dByPhases(x, xShape, w, wShape, p, OH, OW, out);
    return;
  }
  if (M * O * K >= wasmMinWork()) {
    // The Wasm path gathers the patches on every thread straight into the GEMM's memory.
    const rt = wasmRuntime();
    if (rt !== null && wasmConv2d(rt, x, w, { N, H, W, C, KH, KW, O, OH, OW, hTaps: hIdx, wTaps: wIdx }, out)) return;
  }

  const rowsPerBlock = Math.max(1, Math.min(M, Math.floor(PATCH_BUDGET / K)));
  const need = rowsPerBlock * K;
  let patch: TypedArray;
  if (x instanceof Float64Array) {
    if (patch64.length < need) patch64 = new Float64Array(need);
    patch = patch64;
  } else {
    if (patch32.length < need) patch32 = new Float32Array(need);
    patch = patch32;
  }
  for (let r0 = 0; r0 < M; r0 += rowsPerBlock) {
    const rows = Math.min(rowsPerBlock, M - r0);
    im2col(x, H, W, C, OH, OW, KH, KW, hIdx, wIdx, r0, rows, patch);
    gemm(rows, O, K, patch, 0, false, w, 0, false, out, r0 * O);
  }
}

/** taps[o*K + t] = source index read by output o through kernel tap t, or -1 (padding / hole). */
function fillTaps(
  taps: Int32Array, outLen: number, kLen: number, inLen: number,
  stride: number, padBefore: number, kDil: number, inDil: number, flip: boolean,
): void {
  const dilated = (inLen - 1) * inDil + 1;
  for (let o = 0; o < outLen; o++) {
    for (let t = 0; t < kLen; t++) {
      const tap = flip ? kLen - 1 - t : t;
      const d = o * stride + tap * kDil - padBefore;
      taps[o * kLen + t] = d >= 0 && d < dilated && d % inDil === 0 ? d / inDil : -1;
    }
  }
}

/** Rows r0 .. r0+rows-1 of the patch matrix; row (n, oh, ow), column (kr, kc, c). */
function im2col(
  x: TypedArray, H: number, W: number, C: number, OH: number, OW: number, KH: number, KW: number,
  hIdx: Int32Array, wIdx: Int32Array, r0: number, rows: number, patch: TypedArray,
): void {
  const rowLen = KW * C;
  let o = 0;
  for (let r = r0; r < r0 + rows; r++) {
    const ow = r % OW;
    const t = (r - ow) / OW;
    const oh = t % OH;
    const xn = ((t - oh) / OH) * H * W * C;
    for (let kr = 0; kr < KH; kr++) {
      const ih = hIdx[oh * KH + kr];
      if (ih < 0) {
        patch.fill(0, o, o + rowLen);
        o += rowLen;
        continue;
      }
      const xrow = xn + ih * W * C;
      for (let kc = 0; kc < KW; kc++) {
        const iw = wIdx[ow * KW + kc];
        if (iw < 0) {
          for (let c = 0; c < C; c++) patch[o + c] = 0;
        } else {
          const s = xrow + iw * C;
          for (let c = 0; c < C; c++) patch[o + c] = x[s + c];
        }
        o += C;
      }
    }
  }
}

// ---------------------------------------------------------------- input dilation by output phases

/**
 * With input dilation D > 1 (the input gradient of a strided convolution), most taps of most
 * outputs read an inserted hole: for stride 2 and a 3x3 kernel, 5 of 9 on average, so im2col
 * would build a patch matrix three quarters zeros. Which taps read real pixels depends only on
 * the output index modulo P = D / gcd(stride, D) (its phase), so each pair of phases (ph, pw) is
 * an ordinary convolution of the undilated input with the sub-kernel of its valid taps, over the
 * outputs ph, ph + P, ph + 2P, ...: im2col + gemm on those rows only, scattered into place.
 * Padding outside the input still reads zero through the tap tables.
 */
interface AxisPhases {
  /** The phase period P: outputs o and o + P read holes through the same taps. */
  period: number;
  /** For each phase q < P: the kernel indices whose taps read real input positions. */
  taps: number[][];
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function axisPhases(kLen: number, stride: number, padBefore: number, kDil: number, inDil: number, flip: boolean): AxisPhases {
  const period = inDil / gcd(stride, inDil);
  const taps: number[][] = [];
  for (let q = 0; q < period; q++) {
    const valid: number[] = [];
    for (let t = 0; t < kLen; t++) {
      const tap = flip ? kLen - 1 - t : t;
      const d = q * stride + tap * kDil - padBefore;
      if (((d % inDil) + inDil) % inDil === 0) valid.push(t);
    }
    taps.push(valid);
  }
  return { period, taps };
}

/** Outputs of phase q along an axis of length outLen: q, q + period, ... */
function phaseLength(outLen: number, q: number, period: number): number {
  return q < outLen ? Math.ceil((outLen - q) / period) : 0;
}

/** taps[o*kLen + t] restricted to the outputs of phase q and the kernel indices `valid`. */
function phaseTaps(full: Int32Array, kLen: number, q: number, period: number, count: number, valid: readonly number[], into: Int32Array): void {
  const k = valid.length;
  for (let i = 0; i < count; i++) {
    const row = (q + i * period) * kLen;
    for (let a = 0; a < k; a++) into[i * k + a] = full[row + valid[a]];
  }
}

let phasePatch32 = new Float32Array(0);
let phasePatch64 = new Float64Array(0);
let phaseOut32 = new Float32Array(0);
let phaseOut64 = new Float64Array(0);
let phaseKernel32 = new Float32Array(0);
let phaseKernel64 = new Float64Array(0);
let phaseH = new Int32Array(0);
let phaseW = new Int32Array(0);

/** conv2d for inputDilation > 1, with the full tap tables already in hIdx / wIdx. */
function conv2dByPhases(
  x: TypedArray, xShape: readonly [number, number, number, number],
  w: TypedArray, wShape: readonly [number, number, number, number],
  p: ConvParams, OH: number, OW: number, out: TypedArray,
): void {
  const [N, H, W, C] = xShape;
  const [KH, KW, , O] = wShape;
  const rows = axisPhases(KH, p.strides[0], p.padding[0][0], p.kernelDilation[0], p.inputDilation[0], p.flip);
  const cols = axisPhases(KW, p.strides[1], p.padding[1][0], p.kernelDilation[1], p.inputDilation[1], p.flip);
  const f64 = x instanceof Float64Array;
  for (let qh = 0; qh < rows.period; qh++) {
    const ohCount = phaseLength(OH, qh, rows.period);
    const th = rows.taps[qh];
    for (let qw = 0; qw < cols.period; qw++) {
      const owCount = phaseLength(OW, qw, cols.period);
      const tw = cols.taps[qw];
      if (ohCount === 0 || owCount === 0) continue;
      const M = N * ohCount * owCount;
      const K = th.length * tw.length * C;
      if (K === 0) {
        // Every tap of these outputs reads a hole.
        for (let r = 0; r < M; r++) {
          const dst = phaseRow(r, ohCount, owCount, OH, OW, qh, qw, rows.period, cols.period) * O;
          out.fill(0, dst, dst + O);
        }
        continue;
      }
      if (phaseH.length < ohCount * th.length) phaseH = new Int32Array(ohCount * th.length);
      if (phaseW.length < owCount * tw.length) phaseW = new Int32Array(owCount * tw.length);
      phaseTaps(hIdx, KH, qh, rows.period, ohCount, th, phaseH);
      phaseTaps(wIdx, KW, qw, cols.period, owCount, tw, phaseW);
      const rowsPerBlock = Math.max(1, Math.min(M, Math.floor(PATCH_BUDGET / K)));
      let patch: TypedArray, tmp: TypedArray, kernel: TypedArray;
      if (f64) {
        if (phasePatch64.length < rowsPerBlock * K) phasePatch64 = new Float64Array(rowsPerBlock * K);
        if (phaseOut64.length < rowsPerBlock * O) phaseOut64 = new Float64Array(rowsPerBlock * O);
        if (phaseKernel64.length < K * O) phaseKernel64 = new Float64Array(K * O);
        [patch, tmp, kernel] = [phasePatch64, phaseOut64, phaseKernel64];
      } else {
        if (phasePatch32.length < rowsPerBlock * K) phasePatch32 = new Float32Array(rowsPerBlock * K);
        if (phaseOut32.length < rowsPerBlock * O) phaseOut32 = new Float32Array(rowsPerBlock * O);
        if (phaseKernel32.length < K * O) phaseKernel32 = new Float32Array(K * O);
        [patch, tmp, kernel] = [phasePatch32, phaseOut32, phaseKernel32];
      }
      // The sub-kernel [th, tw, C, O]: rows (a, b, c) pair with patch columns (a, b, c).
      const block = C * O;
      for (let a = 0; a < th.length; a++) {
        for (let b = 0; b < tw.length; b++) {
          const src = (th[a] * KW + tw[b]) * block;
          kernel.set(w.subarray(src, src + block), (a * tw.length + b) * block);
        }
      }
      const rt = M * O * K >= wasmMinWork() ? wasmRuntime() : null;
      if (rt !== null) {
        // The phase as one convolution on the Wasm kernels, its rows then scattered into place.
        if (f64 && phaseOut64.length < M * O) phaseOut64 = new Float64Array(M * O);
        if (!f64 && phaseOut32.length < M * O) phaseOut32 = new Float32Array(M * O);
        const phaseOut = f64 ? phaseOut64 : phaseOut32;
        const geometry = { N, H, W, C, KH: th.length, KW: tw.length, O, OH: ohCount, OW: owCount, hTaps: phaseH, wTaps: phaseW };
        if (wasmConv2d(rt, x, kernel, geometry, phaseOut)) {
          for (let r = 0; r < M; r++) {
            const dst = phaseRow(r, ohCount, owCount, OH, OW, qh, qw, rows.period, cols.period) * O;
            out.set(phaseOut.subarray(r * O, (r + 1) * O), dst);
          }
          continue;
        }
      }
      for (let r0 = 0; r0 < M; r0 += rowsPerBlock) {
        const count = Math.min(rowsPerBlock, M - r0);
        im2col(x, H, W, C, ohCount, owCount, th.length, tw.length, phaseH, phaseW, r0, count, patch);
        gemm(count, O, K, patch, 0, false, kernel, 0, false, tmp, 0);
        for (let r = 0; r < count; r++) {
          const dst = phaseRow(r0 + r, ohCount, owCount, OH, OW, qh, qw, rows.period, cols.period) * O;
          out.set(tmp.subarray(r * O, (r + 1) * O), dst);
        }
      }
    }
  }
}

/** The output row (n, oh, ow) of row r of a phase's patch matrix (n, i, j). */
function phaseRow(r: number, ohCount: number, owCount: number, OH: number, OW: number, qh: number, qw: number, ph: number, pw: number): number {
  const j = r % owCount;
  const t = (r - j) / owCount;
  const i = t % ohCount;
  const n = (t - i) / ohCount;
  return (n * OH + qh + i * ph) * OW + qw + j * pw;
}
