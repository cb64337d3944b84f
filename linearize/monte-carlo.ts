/**
 * Monte Carlo estimates of the infinite-width kernels from finite networks (the paper's figure
 * S9 and PAPER.md identity 8): average over random initializations theta_0 of
 *   empirical NNGP  K_hat(x1, x2)     = f(x1) f(x2)^T / k          (k = output width)
 *   empirical NTK   Theta_hat(x1, x2) = (1/k) sum_i J_i(x1) J_i(x2)^T   (empiricalNtk, traced)
 * Both are per-output kernels like the analytic ones of models/kernels (every output unit of
 * the infinite network has the same kernel), so for k > 1 each sample already averages k units.
 * As the width n grows the mean approaches the analytic kernels, and a single sample's error
 * falls like 1/sqrt(n).
 */
import * as tg from '../engine/index.ts';
import type { DType, Key, Tensor } from '../engine/index.ts';
import { matrix, type Matrix } from './linalg.ts';
import { empiricalNtk, type NtkMethod } from './ntk.ts';

/** What the estimator needs of a model: stax-style init and apply (any layer of models/). */
export interface InitApplyModel {
  readonly name?: string;
  init(key: Key, inputShape: readonly number[], dtype?: DType): { params: unknown };
  apply(params: unknown, x: Tensor): unknown;
}

export interface MonteCarloOptions {
  /** Number of independent initializations (>= 1). */
  samples: number;
  /** Key of sample i is foldIn(key, i). Default tg.key(0). */
  key?: Key;
  /** Also estimate the NTK (default true). */
  ntk?: boolean;
  /** empiricalNtk method (default 'structured'). */
  method?: NtkMethod;
  /** Keep every sample's kernels in `perSample` (default false). */
  keepSamples?: boolean;
  /** Called after each sample (progress). */
  onSample?: (done: number, total: number) => void;
}

/** Monte Carlo kernel estimates, float64, N1 x N2. */
export interface MonteCarloKernels {
  readonly samples: number;
  /** Mean empirical NNGP kernel. */
  readonly nngp: Matrix;
  /** Mean empirical NTK (null with ntk: false). */
  readonly ntk: Matrix | null;
  /** Standard error of the mean, per entry (sample sd / sqrt(samples); 0 with one sample). */
  readonly nngpStdErr: Matrix;
  readonly ntkStdErr: Matrix | null;
  /** The individual samples, with keepSamples. */
  readonly perSample?: readonly { nngp: Matrix; ntk: Matrix | null }[];
}

function toMatrix(t: Tensor): Matrix {
  return matrix(t.shape[0], t.size / t.shape[0], Float64Array.from(t.dataSync()));
}

/**
 * Averages the empirical NNGP and NTK of `model` between x1 and x2 (default x1) over `samples`
 * random initializations drawn in x1's dtype (use float64 for tight comparisons).
 * @example
 * const net = serial(Dense(1024, { W_std: 1.5 }), Erf(), Dense(1, { W_std: 1.5 }));
 * const mc = monteCarloKernels(net, x, undefined, { samples: 16 });
 * const exact = net.kernel(x); // mc.ntk ~ exact.ntk within a few mc.ntkStdErr
 */
export function monteCarloKernels(model: InitApplyModel, x1: Tensor, x2?: Tensor, opts: MonteCarloOptions = { samples: 1 }): MonteCarloKernels {
  const fn = 'monteCarloKernels';
  const S = opts.samples;
  if (!Number.isInteger(S) || S < 1) throw new Error(`${fn}: samples must be a positive integer, got ${S}`);
  if (x1.rank < 2) throw new Error(`${fn}: x1 must be a batch [N, ...], got [${x1.shape.join(',')}]`);
  const y = x2 ?? x1;
  if (y.rank !== x1.rank || y.shape.slice(1).join() !== x1.shape.slice(1).join() || y.dtype !== x1.dtype) {
    throw new Error(`${fn}: x1 ${x1.dtype}[${x1.shape}] and x2 ${y.dtype}[${y.shape}] must be batches of the same input shape and dtype`);
  }
  const withNtk = opts.ntk ?? true;
  const key = opts.key ?? tg.key(0);
  const inputShape = [-1, ...x1.shape.slice(1)];
  const apply = (p: unknown, x: Tensor): Tensor => {
    const out = model.apply(p, x);
    if (!(out instanceof tg.Tensor) || out.rank !== 2) {
      throw new Error(`${fn}: the model must return one [N, k] tensor, got ${out instanceof tg.Tensor ? `[${out.shape.join(',')}]` : 'a list'}`);
    }
    return out;
  };
  const n1 = x1.shape[0];
  const n2 = y.shape[0];
  const sum = { nngp: new Float64Array(n1 * n2), ntk: new Float64Array(n1 * n2) };
  const sq = { nngp: new Float64Array(n1 * n2), ntk: new Float64Array(n1 * n2) };
  const perSample: { nngp: Matrix; ntk: Matrix | null }[] = [];
  for (let s = 0; s < S; s++) {
    const { params } = model.init(tg.foldIn(key, s), inputShape, x1.dtype);
    try {
      const { nngp, ntk } = tg.tidy(() => {
        const f1 = apply(params, x1);
        const f2 = x2 === undefined ? f1 : apply(params, y);
        const k = f1.shape[1];
        const empNngp = toMatrix(tg.div(tg.matmul(f1, f2, { transposeB: true }), k));
        const empNtk = withNtk ? toMatrix(empiricalNtk(apply, params, x1, y, { trace: true, method: opts.method ?? 'structured' })) : null;
        return { nngp: empNngp, ntk: empNtk };
      });
      for (let i = 0; i < n1 * n2; i++) {
        sum.nngp[i] += nngp.data[i];
        sq.nngp[i] += nngp.data[i] * nngp.data[i];
        if (ntk) {
          sum.ntk[i] += ntk.data[i];
          sq.ntk[i] += ntk.data[i] * ntk.data[i];
        }
      }
      if (opts.keepSamples) perSample.push({ nngp, ntk });
    } finally {
      tg.dispose(params);
    }
    opts.onSample?.(s + 1, S);
  }
  const mean = (a: Float64Array) => matrix(n1, n2, a.map((v) => v / S));
  const stdErr = (a: Float64Array, q: Float64Array) =>
    matrix(n1, n2, a.map((v, i) => {
      if (S < 2) return 0;
      const m = v / S;
      // Sample variance with Bessel's correction, guarded against round-off below 0.
      const variance = Math.max(0, (q[i] - S * m * m) / (S - 1));
      return Math.sqrt(variance / S);
    }));
  return {
    samples: S,
    nngp: mean(sum.nngp),
    ntk: withNtk ? mean(sum.ntk) : null,
    nngpStdErr: stdErr(sum.nngp, sq.nngp),
    ntkStdErr: withNtk ? stdErr(sum.ntk, sq.ntk) : null,
    ...(opts.keepSamples ? { perSample } : {}),
  };
}
