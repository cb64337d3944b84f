/**
 * The one general 2-D convolution (strides, negative-capable padding, kernel dilation, input
 * dilation, flip) as im2col + gemm: every output pixel's receptive field becomes one row of a
 * patch matrix [rows, KH*KW*C], which multiplied by the kernel viewed as [KH*KW*C, O] gives the
 * NHWC output directly. All the geometry lives in the patch gather, so one fast matmul serves the
 * forward pass and both gradients (which are convolutions again).
 */
import type { TypedArray } from '../../engine/dtype.ts';
import { convOutputLength, type ConvParams } from '../../engine/conv-params.ts';
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
