/**
 * Monte Carlo estimates of the infinite-width kernels from finite networks (the paper's figure
 * S9 and PAPER.md identity 8): average over random initializations theta_0 of
 *   empirical NNGP  K_hat(x1, x2)     = f(x1) f(x2)^T / k          (k = output width)
 *   empirical NTK   Theta_hat(x1, x2) = (1/k) sum_i J_i(x1) J_i(x2)^T   (empiricalNtk, traced)
 * Both are per-output kernels like the analytic ones of models/kernels (every output unit of
 * the infinite network has the same kernel), so for k > 1 each sample already averages k units.
 * As the width n grows the mean approaches the analytic kernels, and a single sample's error
 * falls like 1/sqrt(n).
 *
 * Everything stays on the inputs' backend (WebGPU included): the running mean and the sum of
 * squared deviations are tensors updated per sample (Welford's update, which keeps the variance
 * accurate in float32, unlike sum(x^2) - S mean^2), and the caller reads the results when it wants.
 */
import * as tg from '../engine/index.ts';
import type { DType, Key, Tensor } from '../engine/index.ts';
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

/** Monte Carlo kernel estimates: [N1, N2] tensors in the inputs' dtype, on their backend. */
export interface MonteCarloKernels {
  readonly samples: number;
  /** Mean empirical NNGP kernel. */
  readonly nngp: Tensor;
  /** Mean empirical NTK (null with ntk: false). */
  readonly ntk: Tensor | null;
  /** Standard error of the mean, per entry (sample sd / sqrt(samples); 0 with one sample). */
  readonly nngpStdErr: Tensor;
  readonly ntkStdErr: Tensor | null;
  /** The individual samples, with keepSamples. */
  readonly perSample?: readonly { nngp: Tensor; ntk: Tensor | null }[];
}

/** Running mean and sum of squared deviations of one kernel over the samples so far. */
interface Running {
  mean: Tensor;
  m2: Tensor;
}

/** Welford's update with the (s + 1)-th sample x: mean += (x - mean) / (s + 1), m2 += (x - mean_old)(x - mean_new). */
function welford(acc: Running | null, x: Tensor, s: number): Running {
  if (acc === null) return { mean: tg.mul(x, 1), m2: tg.zerosLike(x) };
  const delta = tg.sub(x, acc.mean);
  const mean = tg.add(acc.mean, tg.div(delta, s + 1));
  return { mean, m2: tg.add(acc.m2, tg.mul(delta, tg.sub(x, mean))) };
}

/**
 * Averages the empirical NNGP and NTK of `model` between x1 and x2 (default x1) over `samples`
 * random initializations drawn in x1's dtype (use float64 for tight comparisons), on x1's backend.
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
  if (y.rank !== x1.rank || y.shape.slice(1).join() !== x1.shape.slice(1).join() || y.dtype !== x1.dtype || y.backend !== x1.backend) {
    throw new Error(`${fn}: x1 ${x1.dtype}[${x1.shape}] and x2 ${y.dtype}[${y.shape}] must be batches of the same input shape and dtype, on one backend`);
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
  let accK: Running | null = null;
  let accT: Running | null = null;
  const perSample: { nngp: Tensor; ntk: Tensor | null }[] = [];
  const release = (acc: Running | null) => {
    if (acc) tg.dispose([acc.mean, acc.m2]);
  };
  try {
    for (let s = 0; s < S; s++) {
      const { params } = model.init(tg.foldIn(key, s), inputShape, x1.dtype);
      try {
        const next = tg.tidy(() => {
          const f1 = apply(params, x1);
          const f2 = x2 === undefined ? f1 : apply(params, y);
          const empNngp = tg.div(tg.matmul(f1, f2, { transposeB: true }), f1.shape[1]);
          const empNtk = withNtk ? empiricalNtk(apply, params, x1, y, { trace: true, method: opts.method ?? 'structured' }) : null;
          return {
            k: welford(accK, empNngp, s),
            t: empNtk === null ? null : welford(accT, empNtk, s),
            sample: opts.keepSamples ? { nngp: empNngp, ntk: empNtk } : null,
          };
        });
        release(accK);
        release(accT);
        accK = next.k;
        accT = next.t;
        if (next.sample) perSample.push(next.sample);
      } finally {
        tg.dispose(params);
      }
      opts.onSample?.(s + 1, S);
    }
  } catch (e) {
    release(accK);
    release(accT);
    tg.dispose(perSample);
    throw e;
  }
  const k = accK!;
  const t = accT as Running | null;
  // Sample variance with Bessel's correction (m2 >= 0 by construction), then sd / sqrt(S).
  const stdErr = (acc: Running) => tg.tidy(() => (S < 2 ? tg.zerosLike(acc.m2) : tg.sqrt(tg.div(acc.m2, (S - 1) * S))));
  const result: MonteCarloKernels = {
    samples: S,
    nngp: k.mean,
    ntk: t === null ? null : t.mean,
    nngpStdErr: stdErr(k),
    ntkStdErr: t === null ? null : stdErr(t),
    ...(opts.keepSamples ? { perSample } : {}),
  };
  k.m2.dispose();
  t?.m2.dispose();
  return result;
}
