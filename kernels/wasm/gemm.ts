/**
 * The Wasm side of `gemm` (kernels/cpu/gemm.ts): places A, B and C in the kernels' memory (in place
 * when resident, else copied: kernels/wasm/operands.ts), writes a job descriptor and runs the jobs
 * on every ready thread. Returns false (and does nothing) when it cannot take the product: element
 * types it has no kernel for, or operands that do not fit the memory; the caller then runs the
 * JavaScript kernels.
 */
import type { TypedArray } from '../../engine/dtype.ts';
import { LAYOUT } from './control.ts';
import { GEMM_DESC, GEMM_SHAPES, type GemmShape } from './gemm-kernels.ts';
import { Operands } from './operands.ts';
import { roundUp, type WasmRuntime } from './runtime.ts';

/** Jobs per thread to aim for, so that threads that start late or run slower still share the work. */
const JOBS_PER_THREAD = 4;

export function wasmGemm(
  rt: WasmRuntime,
  m: number, n: number, k: number,
  a: TypedArray, aOffset: number, transA: boolean,
  b: TypedArray, bOffset: number, transB: boolean,
  c: TypedArray, cOffset: number,
): boolean {
  const f64 = c instanceof Float64Array;
  if (a.constructor !== c.constructor || b.constructor !== c.constructor) return false;
  const E = f64 ? 8 : 4;
  const ops = new Operands(rt);
  const aAt = ops.input(a, aOffset, m * k), bAt = ops.input(b, bOffset, k * n), cAt = ops.output(c, cOffset, m * n);
  return ops.run(() =>
    runGemm(rt, f64, m, n, k,
      { at: aAt, rowStride: (transA ? 1 : k) * E, depthStride: (transA ? m : 1) * E },
      { at: bAt, colStride: (transB ? k : 1) * E, depthStride: (transB ? 1 : n) * E },
      cAt, n * E));
}

/** A in the kernels' memory: element (i, p) at `at + i * rowStride + p * depthStride` (bytes). */
export interface LeftOperand {
  at: number;
  rowStride: number;
  depthStride: number;
}

/** B in the kernels' memory: element (p, j) at `at + j * colStride + p * depthStride` (bytes). */
export interface RightOperand {
  at: number;
  colStride: number;
  depthStride: number;
}

/**
 * C (m x n, rows ldc bytes apart, at cAt) = A * B with both operands already in the kernels'
 * memory: the product runs on every ready thread, and nothing is copied in or out.
 */
export function runGemm(rt: WasmRuntime, f64: boolean, m: number, n: number, k: number, a: LeftOperand, b: RightOperand, cAt: number, ldc: number): void {
  const s = f64 ? GEMM_SHAPES.f64 : GEMM_SHAPES.f32;
  const [jobRows, jobCols] = jobShape(s, m, n, rt.activeThreads());
  const colJobs = Math.ceil(n / jobCols);
  const total = Math.ceil(m / jobRows) * colJobs;
  const d = new Int32Array(rt.memory.buffer, LAYOUT.desc, GEMM_DESC.words);
  d[GEMM_DESC.m] = m; d[GEMM_DESC.n] = n; d[GEMM_DESC.k] = k;
  d[GEMM_DESC.a] = a.at; d[GEMM_DESC.aRowStride] = a.rowStride; d[GEMM_DESC.aDepthStride] = a.depthStride;
  d[GEMM_DESC.b] = b.at; d[GEMM_DESC.bColStride] = b.colStride; d[GEMM_DESC.bDepthStride] = b.depthStride;
  d[GEMM_DESC.c] = cAt; d[GEMM_DESC.ldc] = ldc;
  d[GEMM_DESC.jobRows] = jobRows; d[GEMM_DESC.jobCols] = jobCols; d[GEMM_DESC.colJobs] = colJobs;
  rt.runJobs(f64 ? 'gemm_f64' : 'gemm_f32', LAYOUT.desc, total);
}

/**
 * Rows and columns of C per job: at most one packed A block (MC rows) and one packed B block (JC
 * columns); smaller when that gives too few jobs to share among the threads. The depth blocking
 * does not depend on this, so neither does any result.
 */
function jobShape(s: GemmShape, m: number, n: number, threads: number): [number, number] {
  let rows = s.MC;
  let cols = Math.min(s.JC, roundUp(n, s.NR));
  if (threads > 1) {
    const want = JOBS_PER_THREAD * threads;
    const rowJobs = Math.ceil(m / rows);
    if (rowJobs * Math.ceil(n / cols) < want) {
      cols = Math.max(8 * s.NR, roundUp(Math.ceil(n / Math.ceil(want / rowJobs)), s.NR));
      cols = Math.min(cols, roundUp(n, s.NR));
      const colJobs = Math.ceil(n / cols);
      if (rowJobs * colJobs < want) rows = Math.max(2 * s.MR, roundUp(Math.ceil(m / Math.ceil(want / colJobs)), s.MR));
    }
  }
  return [rows, cols];
}
