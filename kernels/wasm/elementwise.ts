/**
 * The Wasm side of the CPU backend's large elementwise kernels (kernels/cpu/elementwise.ts):
 * operands are placed in the kernels' memory (in place when resident, else copied:
 * kernels/wasm/operands.ts) and the SIMD loops run on every ready thread. Each function returns
 * null (doing nothing) when it cannot take the call (element types it has no loop for, or
 * operands that do not fit the memory); the caller then runs its JavaScript loop.
 */
import type { TypedArray } from '../../engine/dtype.ts';
import { LAYOUT } from './control.ts';
import { BINARY_CODES, BINARY_DESC, COLSUM_DESC, OPERAND_MODE, WHERE_DESC, type OperandMode, type WasmBinaryOp } from './elementwise-kernels.ts';
import { Operands } from './operands.ts';
import { roundUp, type WasmRuntime } from './runtime.ts';

/** Elements per flat job and the least a thread gets: below this, the hand-off costs more than the loop. */
const FLAT_CHUNK = 1 << 14;
const JOBS_PER_THREAD = 2;

/** The binary ops the Wasm loops cover. */
export function isWasmBinaryOp(name: string): name is WasmBinaryOp {
  return Object.hasOwn(BINARY_CODES, name);
}

/** A binary operand: its array and how it is read (full, scalar, or row with period P). */
export interface BinaryOperand {
  data: TypedArray;
  mode: OperandMode;
}

/**
 * out[i] = x op y over n elements (float32 or float64, all operands of the output's type); a row
 * operand has `period` elements and is read at i mod period. Returns the output or null.
 */
export function wasmBinary(rt: WasmRuntime, op: WasmBinaryOp, x: BinaryOperand, y: BinaryOperand, n: number, period: number, out: TypedArray): TypedArray | null {
  const f64 = out instanceof Float64Array;
  if (!(out instanceof Float32Array || f64) || x.data.constructor !== out.constructor || y.data.constructor !== out.constructor) return null;
  const E = f64 ? 8 : 4;
  const ops = new Operands(rt);
  const lengthOf = (o: BinaryOperand) => (o.mode === 'full' ? n : o.mode === 'scalar' ? 1 : period);
  const xAt = ops.input(x.data, 0, lengthOf(x)), yAt = ops.input(y.data, 0, lengthOf(y)), outAt = ops.output(out, 0, n);
  const row = x.mode === 'row' || y.mode === 'row';
  const lanes = 16 / E;
  const threads = rt.activeThreads();
  // Flat jobs: whole vectors; row jobs: whole rows.
  const chunk = row
    ? Math.max(1, Math.ceil(Math.max(n / period / (JOBS_PER_THREAD * threads), FLAT_CHUNK / period)))
    : roundUp(Math.max(FLAT_CHUNK, Math.ceil(n / (JOBS_PER_THREAD * threads))), lanes);
  const ran = ops.run(() => {
    const d = new Int32Array(rt.memory.buffer, LAYOUT.desc, BINARY_DESC.words);
    d[BINARY_DESC.op] = BINARY_CODES[op];
    d[BINARY_DESC.xMode] = OPERAND_MODE[x.mode]; d[BINARY_DESC.yMode] = OPERAND_MODE[y.mode];
    d[BINARY_DESC.x] = xAt; d[BINARY_DESC.y] = yAt; d[BINARY_DESC.out] = outAt;
    d[BINARY_DESC.n] = n; d[BINARY_DESC.period] = period; d[BINARY_DESC.chunk] = chunk;
    rt.runJobs(f64 ? 'binary_f64' : 'binary_f32', LAYOUT.desc, Math.ceil((row ? n / period : n) / chunk));
  });
  return ran ? out : null;
}

/**
 * out[i] = c[i] != 0 ? a[i] : b[i] over n elements, each operand full or one element (scalar);
 * all of the output's type. Returns the output or null.
 */
export function wasmWhere(rt: WasmRuntime, c: TypedArray, a: TypedArray, b: TypedArray, n: number, out: TypedArray): TypedArray | null {
  const f64 = out instanceof Float64Array;
  if (!(out instanceof Float32Array || f64) || [c, a, b].some((t) => t.constructor !== out.constructor)) return null;
  const E = f64 ? 8 : 4;
  const ops = new Operands(rt);
  const cAt = ops.input(c, 0, c.length), aAt = ops.input(a, 0, a.length), bAt = ops.input(b, 0, b.length), outAt = ops.output(out, 0, n);
  const chunk = roundUp(Math.max(FLAT_CHUNK, Math.ceil(n / (JOBS_PER_THREAD * rt.activeThreads()))), 16 / E);
  const ran = ops.run(() => {
    const d = new Int32Array(rt.memory.buffer, LAYOUT.desc, WHERE_DESC.words);
    d[WHERE_DESC.c] = cAt; d[WHERE_DESC.a] = aAt; d[WHERE_DESC.b] = bAt; d[WHERE_DESC.out] = outAt; d[WHERE_DESC.n] = n;
    d[WHERE_DESC.cMode] = +(c.length < n); d[WHERE_DESC.aMode] = +(a.length < n); d[WHERE_DESC.bMode] = +(b.length < n);
    d[WHERE_DESC.chunk] = chunk;
    rt.runJobs(f64 ? 'where_f64' : 'where_f32', LAYOUT.desc, Math.ceil(n / chunk));
  });
  return ran ? out : null;
}

/**
 * acc[c] = sum over r of x[r * period + c] (x is [rows, period], float32 or float64), summed in
 * float64 in row order on every thread, columns split among them. Returns false when it cannot.
 */
export function wasmColumnSum(rt: WasmRuntime, x: TypedArray, rows: number, period: number, acc: Float64Array): boolean {
  const f64 = x instanceof Float64Array;
  if (!(x instanceof Float32Array || f64)) return false;
  const ops = new Operands(rt);
  const xAt = ops.input(x, 0, rows * period), accAt = ops.output(acc, 0, period);
  const jobs = JOBS_PER_THREAD * rt.activeThreads();
  // Even column counts per job; at least enough rows x columns per job to pay for the hand-off.
  const colsPerJob = 2 * Math.ceil(Math.max(period / jobs, FLAT_CHUNK / rows) / 2);
  return ops.run(() => {
    new Float64Array(rt.memory.buffer, accAt, period).fill(0);
    const d = new Int32Array(rt.memory.buffer, LAYOUT.desc, COLSUM_DESC.words);
    d[COLSUM_DESC.x] = xAt; d[COLSUM_DESC.acc] = accAt; d[COLSUM_DESC.rows] = rows; d[COLSUM_DESC.period] = period;
    d[COLSUM_DESC.colsPerJob] = colsPerJob;
    rt.runJobs(f64 ? 'colsum_f64' : 'colsum_f32', LAYOUT.desc, Math.ceil(period / colsPerJob));
  });
}
