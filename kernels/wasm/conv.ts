/**
 * The Wasm side of conv2d (kernels/cpu/conv.ts) for convolutions without input dilation: input,
 * kernel, output and tap tables are placed in the kernels' memory once (in place when resident,
 * else copied: kernels/wasm/operands.ts); then, block by block of output rows, every thread builds
 * its share of the patch matrix with the im2col kernel and the GEMM multiplies the block by the
 * kernel in place, writing the output rows where they belong. Returns false (doing nothing) when
 * the operands do not fit the memory.
 */
import type { TypedArray } from '../../engine/dtype.ts';
import { LAYOUT } from './control.ts';
import { runGemm } from './gemm.ts';
import { IM2COL_DESC } from './im2col-kernel.ts';
import { Operands } from './operands.ts';
import type { WasmRuntime } from './runtime.ts';

/** Sizes of an NHWC x HWIO convolution and its tap tables (see kernels/cpu/conv.ts fillTaps). */
export interface ConvGeometry {
  N: number; H: number; W: number; C: number;
  KH: number; KW: number; O: number;
  OH: number; OW: number;
  /** Source row of output row oh through kernel row kr at [oh * KH + kr], or -1 (padding). */
  hTaps: Int32Array;
  /** Source column of output column ow through kernel column kc at [ow * KW + kc], or -1. */
  wTaps: Int32Array;
}

/**
 * Patch-matrix bytes per block. One block's patch (built by all threads) is read right after by
 * the GEMM, so it should mostly still be in cache, and the cap bounds the memory for any input.
 * 16x32x32x16 -> 32, 3x3, float32, 2 threads on a 2-core AMD EPYC (busy with other work, so
 * noisy): 256 KiB 6.3-7.8 ms, 1 MiB 4.6 ms, 4 MiB 4.7-5.7 ms, 16 MiB 3.5-6.5 ms.
 */
const PATCH_BLOCK_BYTES = 1 << 20;
/** The im2col jobs per thread in one block, so a late thread still finds work. */
const GATHER_JOBS_PER_THREAD = 4;
/** The im2col descriptor sits after the GEMM's in the descriptor area. */
const IM2COL_DESC_AT = LAYOUT.desc + 256;

export function wasmConv2d(rt: WasmRuntime, x: TypedArray, w: TypedArray, g: ConvGeometry, out: TypedArray): boolean {
  const f64 = out instanceof Float64Array;
  if (x.constructor !== out.constructor || w.constructor !== out.constructor) return false;
  const E = f64 ? 8 : 4;
  const { N, H, W, C, KH, KW, O, OH, OW } = g;
  const M = N * OH * OW, K = KH * KW * C;
  const rowsPerBlock = Math.max(1, Math.min(M, Math.floor(PATCH_BLOCK_BYTES / (K * E))));

  const ops = new Operands(rt);
  const xAt = ops.input(x, 0, N * H * W * C), wAt = ops.input(w, 0, K * O), outAt = ops.output(out, 0, M * O);
  const hAt = ops.input(g.hTaps, 0, OH * KH), wTapAt = ops.input(g.wTaps, 0, OW * KW);
  const runAt = ops.scratch(OW * 4), patchAt = ops.scratch(rowsPerBlock * K * E);
  return ops.run(() => {
    const buffer = rt.memory.buffer;
    const runs = new Int32Array(buffer, runAt, OW);
    for (let ow = 0; ow < OW; ow++) runs[ow] = isRun(g.wTaps, ow * KW, KW) ? 1 : 0;
    const d = new Int32Array(buffer, IM2COL_DESC_AT, IM2COL_DESC.words);
    d[IM2COL_DESC.x] = xAt; d[IM2COL_DESC.H] = H; d[IM2COL_DESC.W] = W; d[IM2COL_DESC.pix] = C * E;
    d[IM2COL_DESC.OH] = OH; d[IM2COL_DESC.OW] = OW; d[IM2COL_DESC.KH] = KH; d[IM2COL_DESC.KW] = KW;
    d[IM2COL_DESC.hTaps] = hAt; d[IM2COL_DESC.wTaps] = wTapAt; d[IM2COL_DESC.wRun] = runAt; d[IM2COL_DESC.patch] = patchAt;
    const gatherJobs = GATHER_JOBS_PER_THREAD * rt.activeThreads();
    for (let r0 = 0; r0 < M; r0 += rowsPerBlock) {
      const rows = Math.min(rowsPerBlock, M - r0);
      const rowsPerJob = Math.ceil(rows / gatherJobs);
      d[IM2COL_DESC.row0] = r0; d[IM2COL_DESC.rows] = rows; d[IM2COL_DESC.rowsPerJob] = rowsPerJob;
      rt.runJobs('im2col', IM2COL_DESC_AT, Math.ceil(rows / rowsPerJob));
      runGemm(rt, f64, rows, O, K,
        { at: patchAt, rowStride: K * E, depthStride: E },
        { at: wAt, colStride: E, depthStride: O * E },
        outAt + r0 * O * E, O * E);
    }
  });
}

/** Whether the KW taps at taps[at ..] read KW adjacent input columns, all inside the input. */
function isRun(taps: Int32Array, at: number, KW: number): boolean {
  if (taps[at] < 0) return false;
  for (let kc = 1; kc < KW; kc++) if (taps[at + kc] !== taps[at] + kc) return false;
  return true;
}
