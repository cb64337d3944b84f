/**
 * neural-tangents' empirical kernel factories: `empiricalNtkFn(f)`, `empiricalNngpFn(f)` and
 * `empiricalKernelFn(f)` return kernel functions of (x1, x2, [get,] params) for a network
 * f(params, x) with outputs [N, ...S] (e.g. [N, K], or [N, H, W, C]), in neural-tangents' layouts:
 * the full kernel is zipped, [N1, N2, s1, s1', s2, s2', ...] ([N1, N2, K, K] for outputs [N, K]);
 *   traceAxes  (default [-1]): output axes averaged over (the mean of the diagonal pair, as
 *              neural-tangents divides its trace by the axis size) and removed: [N1, N2];
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

/** Per output axis after the batch axis: 'pair' (both sides kept), 'trace' (mean of the diagonal) or 'diag'. */
type AxisMode = 'pair' | 'trace' | 'diag';

/** The axes as given (negative ones resolve against the output rank at each call). */
interface Axes {
  readonly trace: readonly number[];
  readonly diag: readonly number[];
  readonly diagBatch: boolean;
}

function parseAxes(fn: string, opts: EmpiricalKernelOptions): Axes {
  if (opts === null || typeof opts !== 'object') throw new Error(`${fn}: options must be an object`);
  const known = ['traceAxes', 'diagonalAxes', 'method', 'blockSize'];
  for (const key of Object.keys(opts)) if (!known.includes(key)) throw new Error(`${fn}: unknown option '${key}' (${known.join(', ')})`);
  for (const [name, axes] of [['traceAxes', opts.traceAxes], ['diagonalAxes', opts.diagonalAxes]] as const) {
    if (axes !== undefined && (!Array.isArray(axes) || axes.some((a) => !Number.isInteger(a)))) throw new Error(`${fn}: ${name} must be an array of integer axes, got ${String(axes)}`);
  }
  const trace = opts.traceAxes ?? [-1];
  const diag = opts.diagonalAxes ?? [];
  // What can be checked before the output rank is known; the rest on the first call.
  if (trace.includes(0)) throw new Error(`${fn}: traceAxes may not include the batch axis 0 (use diagonalAxes [0] for per-sample kernels)`);
  if (trace.some((a) => diag.includes(a))) throw new Error(`${fn}: an axis cannot be both traced and diagonal (traceAxes [${trace}], diagonalAxes [${diag}])`);
  return { trace, diag, diagBatch: diag.includes(0) };
}

/** Resolves the axes against the output rank: the mode of each non-batch output axis. */
function axisModes(fn: string, ax: Axes, rank: number): AxisMode[] {
  const canon = (name: string, axes: readonly number[]) => axes.map((a) => {
    if (a < -rank || a >= rank) throw new Error(`${fn}: ${name} has axis ${a}, outside the outputs' rank ${rank}`);
    return a < 0 ? a + rank : a;
  });
  const trace = canon('traceAxes', ax.trace);
  const diag = canon('diagonalAxes', ax.diag);
  if (trace.includes(0)) throw new Error(`${fn}: traceAxes may not include the batch axis 0 (use diagonalAxes [0] for per-sample kernels)`);
  if (trace.some((a) => diag.includes(a))) throw new Error(`${fn}: an axis cannot be both traced and diagonal (traceAxes [${ax.trace}], diagonalAxes [${ax.diag}])`);
  if (diag.includes(0) && !ax.diagBatch) throw new Error(`${fn}: diagonalAxes [${ax.diag}] names the batch axis by a negative index; write it as 0`);
  return Array.from({ length: rank - 1 }, (_, i) => (trace.includes(i + 1) ? 'trace' : diag.includes(i + 1) ? 'diag' : 'pair'));
}

function checkBatches(fn: string, x1: Tensor, x2: Tensor | null, diagBatch: boolean): void {
  if (!(x1 instanceof tg.Tensor)) throw new Error(`${fn}: x1 must be a Tensor`);
  if (x2 !== null && !(x2 instanceof tg.Tensor)) throw new Error(`${fn}: x2 must be a Tensor or null`);
  if (diagBatch && x2 !== null && x2.shape[0] !== x1.shape[0]) {
    throw new Error(`${fn}: the batch diagonal (diagonalAxes [0]) pairs x1[i] with x2[i]: x1 [${x1.shape}] and x2 [${x2.shape}] must have the same batch size`);
  }
}

/** The diagonal of the adjacent equal axes (pos, pos + 1): [..., d, d, ...] -> [..., d, ...]. */
function pairDiagonal(t: Tensor, pos: number): Tensor {
  const d = t.shape[pos];
  const merged = tg.reshape(t, [...t.shape.slice(0, pos), d * d, ...t.shape.slice(pos + 2)]);
  return tg.take(merged, Array.from({ length: d }, (_, i) => i * (d + 1)), pos);
}

/**
 * A zipped kernel [N1, N2, a1, a2, b1, b2, ...] reduced per output axis: traced pairs become the
 * mean of their diagonal, diagonal pairs their diagonal, the rest stay.
 */
function reduceZipped(full: Tensor, modes: readonly AxisMode[]): Tensor {
  let t = full;
  let pos = 2;
  for (const mode of modes) {
    if (mode === 'pair') {
      pos += 2;
      continue;
    }
    t = pairDiagonal(t, pos);
    if (mode === 'trace') t = tg.mean(t, pos);
    else pos += 1;
  }
  return t;
}

/** [N1, ...S, N2, ...S] -> the zipped [N1, N2, s1, s1', s2, s2', ...]. */
function zip(t: Tensor, r: number): Tensor {
  const perm = [0, r + 1];
  for (let i = 0; i < r; i++) perm.push(1 + i, r + 2 + i);
  return tg.transpose(t, perm);
}

function sliceRow(x: Tensor, i: number): Tensor {
  return tg.slice(x, [i, ...x.shape.slice(1).map(() => 0)], [i + 1, ...x.shape.slice(1)]);
}

/** f with its outputs flattened per sample, [N, ...S] -> [N, prod S] (what ntk.ts computes on), and S. */
function flattened<P>(fn: string, f: ApplyFn<P>, params: P, x: Tensor): { g: ApplyFn<P>; outShape: number[] } {
  const out = f(params, sliceRow(x, 0));
  const outShape = out.shape.slice(1);
  out.dispose();
  if (out.rank < 1 || out.shape[0] !== 1) throw new Error(`${fn}: the network must map a batch of inputs to outputs [N, ...], got [${out.shape}] for one input`);
  if (out.rank === 2) return { g: f, outShape };
  return { g: (p: P, xx: Tensor) => tg.reshape(f(p, xx), [xx.shape[0], -1]), outShape };
}

function ntkOf<P>(fn: string, f: ApplyFn<P>, params: P, x1: Tensor, x2: Tensor | null, ax: Axes, opts: EmpiricalKernelOptions): Tensor {
  const method = opts.method ?? 'structured';
  const blockSize = opts.blockSize ?? 64;
  return tg.tidy(() => {
    const { g, outShape } = flattened(fn, f, params, x1);
    const modes = axisModes(fn, ax, outShape.length + 1);
    const pair = (a: Tensor, b: Tensor | undefined): Tensor => {
      // Outputs [N, K] traced over K: ntk.ts's traced kernel directly (cheaper than the full one).
      if (modes.length === 1 && modes[0] === 'trace') return empiricalNtk(g, params, a, b ?? a, { method, blockSize, trace: true });
      const flat = empiricalNtk(g, params, a, b ?? a, { method, blockSize });
      const n1 = a.shape[0];
      const n2 = (b ?? a).shape[0];
      return reduceZipped(zip(tg.reshape(flat, [n1, ...outShape, n2, ...outShape]), outShape.length), modes);
    };
    if (!ax.diagBatch) return pair(x1, x2 ?? undefined);
    // Batch diagonal: Theta(x1_i, x2_i) per sample, [N, ...].
    const parts = Array.from({ length: x1.shape[0] }, (_, i) => {
      const t = pair(sliceRow(x1, i), x2 ? sliceRow(x2, i) : undefined);
      return tg.reshape(t, t.shape.slice(2));
    });
    return tg.stack(parts, 0);
  });
}

function nngpOf<P>(fn: string, f: ApplyFn<P>, params: P, x1: Tensor, x2: Tensor | null, ax: Axes): Tensor {
  return tg.tidy(() => {
    const f1 = f(params, x1);
    const f2 = x2 ? f(params, x2) : f1;
    if (f1.rank < 1) throw new Error(`${fn}: the network must map a batch to outputs [N, ...], got a scalar`);
    const outShape = f1.shape.slice(1);
    const r = outShape.length;
    const modes = axisModes(fn, ax, r + 1);
    const n1 = f1.shape[0];
    const n2 = f2.shape[0];
    if (r === 1 && modes[0] === 'trace' && !ax.diagBatch) return tg.div(tg.matmul(f1, f2, { transposeB: true }), outShape[0]);
    if (ax.diagBatch) {
      // Per sample the outer product f1[i] ⊗ f2[i], zipped [N, 1, a1, a2, ...] through the same reduction.
      const outer = tg.mul(tg.reshape(f1, [n1, ...outShape, ...outShape.map(() => 1)]), tg.reshape(f2, [n2, ...outShape.map(() => 1), ...outShape]));
      const zipped = tg.transpose(tg.reshape(outer, [n1, 1, ...outShape, ...outShape]), [0, 1, ...outShape.flatMap((_, i) => [2 + i, 2 + r + i])]);
      const t = reduceZipped(zipped, modes);
      return tg.reshape(t, [n1, ...t.shape.slice(2)]);
    }
    const outer = tg.mul(tg.reshape(f1, [n1, ...outShape, 1, ...outShape.map(() => 1)]), tg.reshape(f2, [1, ...outShape.map(() => 1), n2, ...outShape]));
    return reduceZipped(zip(outer, r), modes);
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
    return ntkOf(fn, f, params, x1, x2 ?? null, ax, opts);
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
    return nngpOf(fn, f, params, x1, x2 ?? null, ax);
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
    const one = (g: EmpiricalGet) => (g === 'ntk' ? ntkOf(fn, f, params, x1, x2 ?? null, ax, opts) : nngpOf(fn, f, params, x1, x2 ?? null, ax));
    if (typeof get === 'string') return one(get);
    return Object.fromEntries(gets.map((g) => [g, one(g)]));
  };
  return Object.assign(out, { batchDiagonal: ax.diagBatch }) as EmpiricalKernelFn<P>;
}
