/**
 * MSE predictions of the NTK (or NNGP) dynamics from stored kernels, holding one row strip of a
 * kernel at a time (PAPER.md sections 4 and 7; sum loss 1/2 ||f - y||^2, f_0 = 0 in expectation):
 *
 *   t = infinity:  mean(x) = K(x, X) K^{-1} Y
 *                  K^{-1} Y by conjugate gradients, every iteration one pass over the row strips
 *                  of K(X, X) with all output columns at once.
 *   finite t:      mean_t(x) = K(x, X) phi(K) Y,  phi(l) = (1 - exp(-eta t l)) / l  (-> eta t at l = 0),
 *                  and on the training set mean_t(X) = K phi(K) Y = (I - exp(-eta t K)) Y.
 *                  phi(K) Y by Lanczos with full reorthogonalization: m passes over K and an
 *                  N x m basis, until the estimate stops changing.
 *
 * What needs the whole matrix: the predictive covariance. At t = infinity its diagonal needs one
 * solve K^{-1} k(x, X) per test point (a CG run each, feasible but costly); the finite-t NTK
 * covariance (PAPER.md section 7) needs the eigendecomposition of K(X, X). Read the kernels
 * whole (readKernelMatrix) and use linearize's in-memory predictors for those.
 */
import { symmetricEigen, matrix } from '../linalg/dense.ts';
import { kernelRowBlocks } from './read-kernel.ts';
import { KernelStore, type KernelName } from './store.ts';

export interface StoredPredictOptions {
  /** Store of K(X, X): one dataset, the training inputs. */
  train: string;
  /** Store of K(x, X): x1 = the test inputs, x2 = the training inputs. Omitted: training-set predictions only. */
  test?: string;
  /** Targets Y [N, K] row-major. */
  y: { shape: readonly [number, number]; data: ArrayLike<number> };
  /** 'ntk' (default: gradient-descent training of the whole network) or 'nngp' (readout only / Bayesian). */
  kernel?: KernelName;
  /** Training time; Infinity (default) for the converged predictor. */
  t?: number;
  /** Learning rate eta (needed for finite t). */
  lr?: number;
  /** Added to the diagonal of K(X, X) (default 0). */
  ridge?: number;
  /** Relative residual (CG) or relative change (Lanczos) to stop at (default 1e-10). */
  tol?: number;
  /** Most matrix passes (default 1000, or N when smaller for Lanczos). */
  maxIter?: number;
}

export interface StoredPrediction {
  /** Predicted means on the training inputs [N, K]. */
  train: Float64Array;
  /** Predicted means on the test inputs [M, K] (null without a test store). */
  test: Float64Array | null;
  /** Passes over K(X, X) the solve took. */
  iterations: number;
  /** Final relative residual (CG) or relative change of the estimate (Lanczos). */
  residual: number;
}

/** Y -> A Y + ridge Y over the row strips of a stored [N1, N2] kernel, for K columns at once. */
function streamedProduct(store: KernelStore, kernel: KernelName, v: Float64Array, k: number, ridge = 0): Float64Array {
  const { n1, n2 } = store.meta;
  const out = new Float64Array(n1 * k);
  for (const s of kernelRowBlocks(store, kernel)) {
    for (let r = 0; r < s.rows; r++) {
      const row = s.data.subarray(r * n2, (r + 1) * n2);
      const o = (s.start + r) * k;
      for (let j = 0; j < n2; j++) {
        const a = row[j];
        if (a === 0) continue;
        for (let c = 0; c < k; c++) out[o + c] += a * v[j * k + c];
      }
    }
  }
  if (ridge) for (let i = 0; i < out.length; i++) out[i] += ridge * v[i];
  return out;
}

function columnDots(a: Float64Array, b: Float64Array, k: number): Float64Array {
  const d = new Float64Array(k);
  for (let i = 0; i < a.length; i++) d[i % k] += a[i] * b[i];
  return d;
}

/** Solves (K + ridge I) A = Y column by column in lockstep (one streamed pass per iteration). */
function conjugateGradient(store: KernelStore, kernel: KernelName, y: Float64Array, k: number, ridge: number, tol: number, maxIter: number) {
  const x = new Float64Array(y.length);
  const r = Float64Array.from(y);
  const p = Float64Array.from(y);
  let rr = columnDots(r, r, k);
  const yNorm = columnDots(y, y, k).map(Math.sqrt);
  const done = (rr: Float64Array) => rr.every((v, c) => Math.sqrt(v) <= tol * (yNorm[c] || 1));
  let it = 0;
  while (!done(rr) && it < maxIter) {
    const ap = streamedProduct(store, kernel, p, k, ridge);
    it++;
    const pap = columnDots(p, ap, k);
    const alpha = rr.map((v, c) => (pap[c] > 0 ? v / pap[c] : 0));
    for (let i = 0; i < x.length; i++) {
      const c = i % k;
      x[i] += alpha[c] * p[i];
      r[i] -= alpha[c] * ap[i];
    }
    const rrNew = columnDots(r, r, k);
    if (pap.some((v, c) => !(v > 0) && rr[c] > 0)) throw new Error(`predictStored: K(X, X)${ridge ? ' + ridge I' : ''} is not positive definite (p^T K p = ${Math.min(...pap)} at CG iteration ${it}); add a ridge`);
    const beta = rrNew.map((v, c) => (rr[c] > 0 ? v / rr[c] : 0));
    for (let i = 0; i < p.length; i++) p[i] = r[i] + beta[i % k] * p[i];
    rr = rrNew;
  }
  const residual = Math.max(...Array.from(rr, (v, c) => Math.sqrt(v) / (yNorm[c] || 1)));
  if (!(residual <= tol)) throw new Error(`predictStored: conjugate gradients stopped at relative residual ${residual.toExponential(2)} after ${it} passes (tol ${tol}); raise maxIter or add a ridge`);
  return { x, iterations: it, residual };
}

function norm2(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** phi(K) y for one column by Lanczos with full reorthogonalization. */
function lanczosFunction(apply: (v: Float64Array) => Float64Array, y: Float64Array, phi: (l: number) => number, tol: number, maxIter: number): { v: Float64Array; iterations: number; change: number } {
  const n = y.length;
  const beta0 = norm2(y);
  if (beta0 === 0) return { v: new Float64Array(n), iterations: 0, change: 0 };
  const Q: Float64Array[] = [y.map((v) => v / beta0)];
  const alphas: number[] = [];
  const betas: number[] = [];
  let prev: Float64Array | null = null;
  let change = Infinity;
  const estimate = (): Float64Array => {
    const m = alphas.length;
    const T = matrix(m, m);
    for (let i = 0; i < m; i++) {
      T.data[i * m + i] = alphas[i];
      if (i + 1 < m) T.data[i * m + i + 1] = T.data[(i + 1) * m + i] = betas[i];
    }
    const { values, vectors } = symmetricEigen(T);
    // phi(T) e1 = V phi(L) V^T e1.
    const coef = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      const w = phi(values[j]) * vectors.data[0 * m + j];
      for (let i = 0; i < m; i++) coef[i] += vectors.data[i * m + j] * w;
    }
    const out = new Float64Array(n);
    for (let i = 0; i < m; i++) for (let r = 0; r < n; r++) out[r] += beta0 * coef[i] * Q[i][r];
    return out;
  };
  for (let it = 0; it < Math.min(maxIter, n); it++) {
    const q = Q[it];
    const w = apply(q);
    const a = q.reduce((s, v, i) => s + v * w[i], 0);
    alphas.push(a);
    // Full reorthogonalization (twice) keeps the basis orthogonal in floating point.
    for (let pass = 0; pass < 2; pass++) {
      for (const b of Q) {
        const d = b.reduce((s, v, i) => s + v * w[i], 0);
        for (let i = 0; i < n; i++) w[i] -= d * b[i];
      }
    }
    const beta = norm2(w);
    const cur = estimate();
    if (prev) {
      let diff = 0;
      let norm = 0;
      for (let i = 0; i < n; i++) {
        diff = Math.max(diff, Math.abs(cur[i] - prev[i]));
        norm = Math.max(norm, Math.abs(cur[i]));
      }
      change = diff / (norm || 1);
    }
    prev = cur;
    // An invariant subspace (beta ~ 0) makes the estimate exact.
    if (beta <= 1e-14 * Math.abs(alphas[0] || 1) || change <= tol) return { v: cur, iterations: it + 1, change: beta <= 1e-14 * Math.abs(alphas[0] || 1) ? 0 : change };
    betas.push(beta);
    Q.push(w.map((v) => v / beta));
  }
  if (!(change <= tol)) throw new Error(`predictStored: Lanczos did not converge (relative change ${change.toExponential(2)} after ${alphas.length} passes, tol ${tol}); raise maxIter`);
  return { v: prev!, iterations: alphas.length, change };
}

/**
 * Predictions from stored kernels without loading them whole.
 * @example const { test } = predictStored({ train: 'ktrain.zarr', test: 'ktest.zarr', y: { shape: [n, 1], data: y } });
 */
export function predictStored(opts: StoredPredictOptions): StoredPrediction {
  const kernel = opts.kernel ?? 'ntk';
  const train = KernelStore.open(opts.train);
  if (!train.meta.symmetric) throw new Error(`predictStored: the train store ${opts.train} must hold K(X, X) of one dataset (it has x1 and x2)`);
  if (!train.meta.kernels.includes(kernel)) throw new Error(`predictStored: ${opts.train} has no '${kernel}'`);
  const n = train.meta.n1;
  const [ny, k] = opts.y?.shape ?? [];
  if (ny !== n || !Number.isInteger(k) || k < 1 || opts.y.data.length !== n * k) throw new Error(`predictStored: y must be [${n}, K] with ${n} * K values (the train store has ${n} inputs), got shape [${opts.y?.shape}] with ${opts.y?.data?.length} values`);
  const y = Float64Array.from(opts.y.data);
  const t = opts.t ?? Infinity;
  if (!(t >= 0)) throw new Error(`predictStored: t must be >= 0 or Infinity, got ${t}`);
  const ridge = opts.ridge ?? 0;
  if (!(ridge >= 0) || !Number.isFinite(ridge)) throw new Error(`predictStored: ridge must be a finite number >= 0, got ${ridge}`);
  const tol = opts.tol ?? 1e-10;
  const maxIter = opts.maxIter ?? 1000;
  let test: KernelStore | null = null;
  if (opts.test !== undefined) {
    test = KernelStore.open(opts.test);
    if (test.meta.symmetric || test.meta.n2 !== n || !test.meta.kernels.includes(kernel)) {
      throw new Error(`predictStored: the test store ${opts.test} must hold K(x, X) with x2 = the ${n} training inputs and a '${kernel}' (it is ${test.meta.symmetric ? 'one-dataset' : `[${test.meta.n1}, ${test.meta.n2}]`} with ${test.meta.kernels.join(', ')})`);
    }
  }
  let coef: Float64Array;
  let iterations: number;
  let residual: number;
  let trainMean: Float64Array;
  if (t === Infinity) {
    const cg = conjugateGradient(train, kernel, y, k, ridge, tol, maxIter);
    ({ iterations, residual } = cg);
    coef = cg.x;
    // At t = infinity the training targets are fit exactly (up to the ridge): K (K + rI)^{-1} Y.
    trainMean = ridge ? streamedProduct(train, kernel, coef, k) : Float64Array.from(y);
  } else {
    const lr = opts.lr;
    if (lr === undefined || !(lr > 0) || !Number.isFinite(lr)) throw new Error(`predictStored: a finite t needs a learning rate lr > 0, got ${lr}`);
    const s = lr * t;
    const phi = (l: number) => (Math.abs(s * l) < 1e-300 ? s : -Math.expm1(-s * l) / l);
    coef = new Float64Array(n * k);
    iterations = 0;
    residual = 0;
    for (let c = 0; c < k; c++) {
      const col = new Float64Array(n);
      for (let i = 0; i < n; i++) col[i] = y[i * k + c];
      const r = lanczosFunction((v) => streamedProduct(train, kernel, v, 1, ridge), col, phi, tol, Math.min(maxIter, n));
      for (let i = 0; i < n; i++) coef[i * k + c] = r.v[i];
      iterations += r.iterations;
      residual = Math.max(residual, r.change);
    }
    trainMean = streamedProduct(train, kernel, coef, k, ridge);
  }
  return { train: trainMean, test: test ? streamedProduct(test, kernel, coef, k) : null, iterations, residual };
}
