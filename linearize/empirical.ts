/**
 * neural-tangents' empirical kernel factories: `empiricalNtkFn(f)`, `empiricalNngpFn(f)` and
 * `empiricalKernelFn(f)` return kernel functions of (x1, x2, [get,] params) for a network
 * f(params, x) with outputs [N, K], in neural-tangents' layouts:
 *   traceAxes  (default [-1]): output axes averaged over (the mean of the diagonal pairs, as
 *              neural-tangents divides its trace by the axis size): [N1, N2];
 *   traceAxes [] gives the full kernel [N1, N2, K, K];
 *   diagonalAxes (default []): axes kept once: [0] the batch diagonal Theta(x1_i, x2_i)
 *              ([N, K, K], or [N] traced; x2 must be null or as large as x1), [-1] the output
 *              diagonal ([N1, N2, K]).
 * The NTK is J(x1) J(x2)^T (ntk.ts: 'structured' by default, 'contraction' or 'ntkvp'); the
 * NNGP kernel is the outer product of outputs f(x1) f(x2)^T, reduced the same way. Everything
 * runs on the inputs' backend.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { ApplyFn } from './linearize.ts';
import { empiricalNtk, type NtkMethod } from './ntk.ts';

/** Options of the empirical kernel factories. */
export interface EmpiricalKernelOptions {
  /** Output axes to average the kernel over (default [-1]; [] for the full kernel). */
  traceAxes?: readonly number[];
  /** Output axes to keep only the diagonal of (default []): 0 the batch, -1 / 1 the outputs. */
  diagonalAxes?: readonly number[];
  /** How the NTK is computed (default 'structured'). */
  method?: NtkMethod;
  /** Rows per block of the NTK computation (default 64). */
  blockSize?: number;
}

/** A kernel kind. */
export type EmpiricalGet = 'nngp' | 'ntk';

interface Axes {
  readonly traceOut: boolean;
  readonly diagBatch: boolean;
  readonly diagOut: boolean;
}

function parseAxes(fn: string, opts: EmpiricalKernelOptions): Axes {
  if (opts === null || typeof opts !== 'object') throw new Error(`${fn}: options must be an object`);
  const known = ['traceAxes', 'diagonalAxes', 'method', 'blockSize'];
  for (const key of Object.keys(opts)) if (!known.includes(key)) throw new Error(`${fn}: unknown option '${key}' (${known.join(', ')})`);
  const canon = (name: string, axes: readonly number[]) => {
    if (!Array.isArray(axes)) throw new Error(`${fn}: ${name} must be an array of axes, got ${String(axes)}`);
    return axes.map((a) => {
      if (a !== 0 && a !== 1 && a !== -1 && a !== -2) throw new Error(`${fn}: ${name} has axis ${a}; outputs are [N, K], so axes are 0 (or -2) and 1 (or -1)`);
      return a < 0 ? a + 2 : a;
    });
  };
  const trace = canon('traceAxes', opts.traceAxes ?? [-1]);
  const diag = canon('diagonalAxes', opts.diagonalAxes ?? []);
  if (trace.includes(0)) throw new Error(`${fn}: traceAxes may not include the batch axis 0 (use diagonalAxes [0] for per-sample kernels)`);
  if (trace.some((a) => diag.includes(a))) throw new Error(`${fn}: an axis cannot be both traced and diagonal (traceAxes [${opts.traceAxes}], diagonalAxes [${opts.diagonalAxes}])`);
  return { traceOut: trace.includes(1), diagBatch: diag.includes(0), diagOut: diag.includes(1) };
}

function checkBatches(fn: string, x1: Tensor, x2: Tensor | null, diagBatch: boolean): void {
  if (!(x1 instanceof tg.Tensor)) throw new Error(`${fn}: x1 must be a Tensor`);
  if (x2 !== null && !(x2 instanceof tg.Tensor)) throw new Error(`${fn}: x2 must be a Tensor or null`);
  if (diagBatch && x2 !== null && x2.shape[0] !== x1.shape[0]) {
    throw new Error(`${fn}: the batch diagonal (diagonalAxes [0]) pairs x1[i] with x2[i]: x1 [${x1.shape}] and x2 [${x2.shape}] must have the same batch size`);
  }
}

/** The diagonal of the last two (equal) axes: [..., K, K] -> [..., K]. */
function lastDiagonal(t: Tensor): Tensor {
  const k = t.shape[t.rank - 1];
  const flat = tg.reshape(t, [...t.shape.slice(0, -2), k * k]);
  return tg.take(flat, Array.from({ length: k }, (_, i) => i * (k + 1)), t.rank - 2);
}

/** A full kernel [N1, N2, K, K] reduced as asked (no batch diagonal here). */
function reduceOutputs(full: Tensor, ax: Axes): Tensor {
  if (ax.traceOut) return tg.mean(lastDiagonal(full), -1);
  if (ax.diagOut) return lastDiagonal(full);
  return full;
}

function sliceRow(x: Tensor, i: number): Tensor {
  return tg.slice(x, [i, ...x.shape.slice(1).map(() => 0)], [i + 1, ...x.shape.slice(1)]);
}

function ntkOf<P>(f: ApplyFn<P>, params: P, x1: Tensor, x2: Tensor | null, ax: Axes, opts: EmpiricalKernelOptions): Tensor {
  const method = opts.method ?? 'structured';
  const blockSize = opts.blockSize ?? 64;
  const pair = (a: Tensor, b: Tensor | undefined): Tensor => {
    // Traced without an output diagonal: the traced kernel directly (cheaper than the full one).
    if (ax.traceOut) return empiricalNtk(f, params, a, b ?? a, { method, blockSize, trace: true });
    const flat = empiricalNtk(f, params, a, b ?? a, { method, blockSize });
    const n1 = a.shape[0];
    const n2 = (b ?? a).shape[0];
    const k = flat.shape[0] / n1;
    const full = tg.transpose(tg.reshape(flat, [n1, k, n2, k]), [0, 2, 1, 3]);
    return reduceOutputs(full, ax);
  };
  return tg.tidy(() => {
    if (!ax.diagBatch) return pair(x1, x2 ?? undefined);
    // Batch diagonal: Theta(x1_i, x2_i) per sample, [N, ...].
    const parts = Array.from({ length: x1.shape[0] }, (_, i) => {
      const t = pair(sliceRow(x1, i), x2 ? sliceRow(x2, i) : undefined);
      return tg.reshape(t, t.shape.slice(2));
    });
    return tg.stack(parts, 0);
  });
}

function nngpOf<P>(f: ApplyFn<P>, params: P, x1: Tensor, x2: Tensor | null, ax: Axes): Tensor {
  return tg.tidy(() => {
    const f1 = f(params, x1);
    const f2 = x2 ? f(params, x2) : f1;
    if (f1.rank !== 2) throw new Error(`empirical NNGP: the network must map a batch to outputs [N, K], got [${f1.shape}]`);
    const k = f1.shape[1];
    if (ax.diagBatch) {
      if (ax.traceOut) return tg.mean(tg.mul(f1, f2), 1);
      if (ax.diagOut) return tg.mul(f1, f2);
      return tg.mul(tg.reshape(f1, [f1.shape[0], k, 1]), tg.reshape(f2, [f2.shape[0], 1, k])); // f1[i, k] f2[i, l]
    }
    if (ax.traceOut) return tg.div(tg.matmul(f1, f2, { transposeB: true }), k);
    if (ax.diagOut) return tg.mul(tg.reshape(f1, [f1.shape[0], 1, k]), tg.reshape(f2, [1, f2.shape[0], k]));
    return tg.mul(tg.reshape(f1, [f1.shape[0], 1, k, 1]), tg.reshape(f2, [1, f2.shape[0], 1, k]));
  });
}

/** An empirical NTK function (x1, x2 = null, params) => kernel, marked for `batch`. */
export type EmpiricalNtkFn<P> = ((x1: Tensor, x2: Tensor | null | undefined, params: P) => Tensor) & { readonly batchDiagonal: boolean };

/**
 * neural-tangents' `empirical_ntk_fn(f, trace_axes, diagonal_axes)`.
 * @example
 * const ntkFn = empiricalNtkFn(net.apply, { traceAxes: [] });
 * const theta = ntkFn(xTest, xTrain, params);   // [N1, N2, K, K]
 */
export function empiricalNtkFn<P>(f: ApplyFn<P>, opts: EmpiricalKernelOptions = {}): EmpiricalNtkFn<P> {
  const fn = 'empiricalNtkFn';
  const ax = parseAxes(fn, opts);
  const out = (x1: Tensor, x2: Tensor | null | undefined, params: P) => {
    checkBatches(fn, x1, x2 ?? null, ax.diagBatch);
    return ntkOf(f, params, x1, x2 ?? null, ax, opts);
  };
  return Object.assign(out, { batchDiagonal: ax.diagBatch });
}

/**
 * neural-tangents' `empirical_nngp_fn(f, trace_axes, diagonal_axes)`: the outer product of the
 * outputs, f(x1) f(x2)^T, reduced like the NTK.
 * @example const k = empiricalNngpFn(net.apply)(x1, null, params); // [N1, N1], mean over outputs
 */
export function empiricalNngpFn<P>(f: ApplyFn<P>, opts: EmpiricalKernelOptions = {}): EmpiricalNtkFn<P> {
  const fn = 'empiricalNngpFn';
  const ax = parseAxes(fn, opts);
  const out = (x1: Tensor, x2: Tensor | null | undefined, params: P) => {
    checkBatches(fn, x1, x2 ?? null, ax.diagBatch);
    return nngpOf(f, params, x1, x2 ?? null, ax);
  };
  return Object.assign(out, { batchDiagonal: ax.diagBatch });
}

/** An empirical kernel function (x1, x2, get, params): one tensor for a string get, else an object by kind. */
export interface EmpiricalKernelFn<P> {
  (x1: Tensor, x2: Tensor | null | undefined, get: EmpiricalGet, params: P): Tensor;
  (x1: Tensor, x2: Tensor | null | undefined, get: readonly EmpiricalGet[] | null | undefined, params: P): { nngp?: Tensor; ntk?: Tensor };
  readonly batchDiagonal: boolean;
}

/**
 * neural-tangents' `empirical_kernel_fn(f, trace_axes, diagonal_axes)`: both kernels behind a
 * `get` argument (null: both), usable wherever a kernel function is (gradientDescentMseEnsemble
 * with params bound, batch).
 * @example
 * const kernelFn = empiricalKernelFn(net.apply);
 * const { nngp, ntk } = kernelFn(xTrain, null, null, params);
 */
export function empiricalKernelFn<P>(f: ApplyFn<P>, opts: EmpiricalKernelOptions = {}): EmpiricalKernelFn<P> {
  const fn = 'empiricalKernelFn';
  const ax = parseAxes(fn, opts);
  const out = (x1: Tensor, x2: Tensor | null | undefined, get: EmpiricalGet | readonly EmpiricalGet[] | null | undefined, params: P) => {
    checkBatches(fn, x1, x2 ?? null, ax.diagBatch);
    const gets: EmpiricalGet[] = get === null || get === undefined ? ['nngp', 'ntk'] : typeof get === 'string' ? [get] : [...get];
    for (const g of gets) if (g !== 'nngp' && g !== 'ntk') throw new Error(`${fn}: get must be 'nngp', 'ntk', a list of them or null, got '${String(g)}'`);
    const one = (g: EmpiricalGet) => (g === 'ntk' ? ntkOf(f, params, x1, x2 ?? null, ax, opts) : nngpOf(f, params, x1, x2 ?? null, ax));
    if (typeof get === 'string') return one(get);
    return Object.fromEntries(gets.map((g) => [g, one(g)]));
  };
  return Object.assign(out, { batchDiagonal: ax.diagBatch }) as EmpiricalKernelFn<P>;
}
