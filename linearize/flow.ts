/**
 * Closed-form training dynamics of the linearized network under MSE
 * (Lee et al. 2019, eqs 8-11; PAPER.md section 4), given the empirical NTK.
 *
 * Conventions used throughout linearize/:
 * - `thetaTrain` is n x n and acts on the rows of the output matrices. Either
 *   the FULL kernel (n = |D| * k, outputs flattened sample-major, so every
 *   output matrix is n x 1), or the TRACED |D| x |D| kernel applied to each of
 *   the k output columns (output matrices are |D| x k). The row order of the
 *   outputs must match the kernel's.
 * - Continuous time t is measured so that one gradient-descent step with
 *   learning rate eta equals dt = 1: E_t = exp(-rate * Theta * t), where
 *   `rate` is the effective rate of the chosen loss scaling:
 *     'sum/2'  : L = 1/2 sum ||f - y||^2 (the paper)        -> rate = eta
 *     'mean/2' : L = 0.5 * mean((f - y)^2) (neural-tangents) -> rate = eta / N
 *   with N = yTrain.rows * yTrain.cols = |D| * k for both kernel layouts
 *   (neural-tangents normalizes by fx_train_0.size, and also multiplies t by its
 *   learning rate, so its `predict_fn(t)` with learning_rate eta is our t with 'mean/2').
 * - Discrete GD step i therefore corresponds to continuous time t = i, and the
 *   weights follow from the exposed coefficients: omega = -J_0(X)^T c (one VJP).
 * - Negative eigenvalues of Theta within round-off (|lambda| <= negativeTolerance * lambda_max)
 *   are clamped to 0 and reported; a clearly negative one is an error: Theta is then no kernel.
 *   A zero eigenvalue uses the exact limits (never 0/0).
 * - Discrete gradient descent (and momentum) past the stability edge is refused (it diverges):
 *   rate * lambda_max < 2 for GD, < 2 (1 + beta) with |beta| < 1 for heavy-ball momentum.
 */
import {
  type Matrix,
  NotPositiveDefiniteError,
  addScaled,
  assertFinite,
  assertShape,
  choleskySolve,
  clone,
  matmul,
  matmulTransposeA,
  matrix,
  shapeOf,
  symmetricEigen,
} from '../linalg/dense.ts';
import { toMatrix, toMatrixOptional, type MatrixInput } from './matrix-input.ts';

/** Named MSE loss scaling: `'sum/2'` is the paper's 1/2 sum, `'mean/2'` is neural-tangents' 0.5 * mean. */
export type MseLossScaling = 'sum/2' | 'mean/2';

/**
 * What to do at t = Infinity when Theta is singular: `'error'` throws a clear error,
 * `'pinv'` uses the pseudo-inverse (eigenvalues <= cutoff are treated as exactly 0 at ALL times).
 */
export type SingularPolicy = 'error' | 'pinv';

/** Report of the eigenvalue clamp applied to a kernel: `count` negatives set to 0, the most negative one (0 if none). */
export interface EigenvalueClamp {
  readonly count: number;
  readonly mostNegative: number;
}

/** Inputs of {@link mseFlow}. See the module comment for shapes and scalings. */
export interface MseFlowInputs {
  /** Theta(X, X), n x n symmetric PSD. Every matrix argument may be a Matrix, a Tensor or a typed-array column. */
  readonly thetaTrain: MatrixInput;
  /** Theta(x, X), m x n; required for the test-point methods. */
  readonly thetaTestTrain?: MatrixInput;
  /** f_0(X), n x c (a Float64Array, Float32Array or rank-1 tensor is read as n x 1). */
  readonly f0Train: MatrixInput;
  /** f_0(x), m x c; required for the test-point methods. */
  readonly f0Test?: MatrixInput;
  /** Targets Y, n x c. */
  readonly yTrain: MatrixInput;
  /** Learning rate (> 0), in the units of `loss`. */
  readonly eta: number;
  /** Loss scaling that `eta` refers to. */
  readonly loss: MseLossScaling;
  /** Singular-Theta policy at t = Infinity (default `'error'`). */
  readonly singular?: SingularPolicy;
  /** Relative eigenvalue cutoff for singularity: lambda <= cutoff * lambda_max (default n * eps). */
  readonly relativeCutoff?: number;
  /** Relative symmetry tolerance for `thetaTrain` (default 1e-6 of max|Theta|). */
  readonly symmetryTolerance?: number;
  /**
   * Negative eigenvalues down to -negativeTolerance * lambda_max are round-off and clamped to 0;
   * more negative ones are an error. Default DEFAULT_NEGATIVE_TOLERANCE * n (float64 kernels);
   * a kernel accumulated in float32 needs about 1e-6 * n.
   */
  readonly negativeTolerance?: number;
  /** Let gdTrainAt / momentum*At run past the stability edge (they then diverge; default false). */
  readonly allowUnstableSteps?: boolean;
}

/**
 * Relative round-off allowance for negative eigenvalues, per kernel row. A backward-stable
 * symmetric eigensolver moves eigenvalues by about n * eps * ||Theta||_2 = n * 2.2e-16 * lambda_max,
 * and a float64 kernel J J^T carries entry errors of the same order per term summed; 1e-10 * n
 * leaves five orders of magnitude above both, while an eigenvalue of -1e-10 * n * lambda_max or
 * below cannot come from float64 round-off: the matrix is not positive semi-definite.
 */
export const DEFAULT_NEGATIVE_TOLERANCE = 1e-10;

/** The closed-form MSE dynamics of one linearized model; every method is pure. */
export interface MseFlow {
  /** n, the number of kernel rows (|D| * k for the full kernel, |D| for the traced one). */
  readonly trainSize: number;
  /** m, the number of test rows (0 without test inputs). */
  readonly testSize: number;
  /** c, the number of output columns (1 for the full kernel). */
  readonly outputColumns: number;
  /** The rate in E_t = exp(-rate Theta t): eta ('sum/2') or eta / N ('mean/2'). */
  readonly effectiveRate: number;
  /** Eigenvalues of Theta after clamping negatives to 0 (and, with `'pinv'`, sub-cutoff ones to 0), ascending. */
  readonly eigenvalues: Float64Array;
  /** Orthonormal eigenvectors (columns) matching `eigenvalues`. */
  readonly eigenvectors: Matrix;
  /** How many negative eigenvalues were clamped and the most negative one. */
  readonly clamped: EigenvalueClamp;
  /** The absolute cutoff below which an eigenvalue counts as zero (relativeCutoff * lambda_max). */
  readonly singularCutoff: number;
  /** True when the smallest eigenvalue is at or below `singularCutoff`. */
  readonly singular: boolean;
  /** 2 / lambda_max expressed in the units of `eta` (the GD stability edge); Infinity when Theta = 0. */
  readonly maxStableLearningRate: number;
  /** f_lin_t(X) = Y + E_t (f_0(X) - Y) for each t >= 0 (Infinity allowed). */
  trainAt(times: readonly number[]): Matrix[];
  /** f_lin_t(x) = f_0(x) - Theta(x, X) c_t for each t. */
  testAt(times: readonly number[]): Matrix[];
  /** c_t = Theta^{-1} (I - E_t) (f_0(X) - Y), n x c, so that omega_t = -J_0(X)^T c_t. */
  coefficientsAt(t: number): Matrix;
  /** Discrete GD on f_lin: f_i(X) = Y + (I - rate Theta)^i (f_0(X) - Y) for integer steps i >= 0. */
  gdTrainAt(steps: readonly number[]): Matrix[];
  /** Discrete GD at test points: f_i(x) = f_0(x) - Theta(x, X) c_i. */
  gdTestAt(steps: readonly number[]): Matrix[];
  /** GD coefficients c_i = rate * sum_{j<i} (I - rate Theta)^j (f_0(X) - Y), so omega_i = -J_0(X)^T c_i. */
  gdCoefficientsAt(step: number): Matrix;
  /** Heavy-ball momentum on f_lin (PAPER.md section 5), f_{-1} = f_0: train outputs after each step count. */
  momentumTrainAt(steps: readonly number[], beta: number): Matrix[];
  /** Heavy-ball momentum on f_lin at the test points. */
  momentumTestAt(steps: readonly number[], beta: number): Matrix[];
  /** The same dynamics at another learning rate, reusing this flow's eigendecomposition. */
  withLearningRate(eta: number): MseFlow;
}

/**
 * Effective rate of a named loss scaling: `eta` for 'sum/2', `eta / outputCount` for 'mean/2'.
 *
 * @example
 * effectiveRate(1, 'mean/2', 8); // 0.125
 */
export function effectiveRate(eta: number, loss: MseLossScaling, outputCount: number): number {
  if (!(Number.isFinite(eta) && eta > 0)) throw new Error(`effectiveRate: eta must be a finite positive number, got ${eta}`);
  if (loss === 'sum/2') return eta;
  if (loss === 'mean/2') {
    if (!(outputCount > 0)) throw new Error(`effectiveRate: 'mean/2' needs a positive output count, got ${outputCount}`);
    return eta / outputCount;
  }
  throw new Error(`effectiveRate: unknown loss scaling '${String(loss)}' (use 'sum/2' or 'mean/2')`);
}

/**
 * exp(-rate * lambda * t), the eigenvalue of E_t. Defined at t = Infinity as 0 for lambda > 0 and 1 for lambda = 0.
 *
 * @example
 * flowDecay(2, 0.5, 1); // exp(-1)
 */
export function flowDecay(lambda: number, rate: number, t: number): number {
  if (lambda === 0) return 1;
  if (t === Infinity) return 0;
  return Math.exp(-rate * lambda * t);
}

/**
 * (1 - exp(-rate lambda t)) / lambda, the eigenvalue of Theta^{-1}(I - E_t), with its lambda -> 0 limit rate * t.
 * At t = Infinity it is 1 / lambda (Infinity for lambda = 0).
 *
 * @example
 * flowIntegral(0, 0.1, 5); // 0.5, never 0/0
 */
export function flowIntegral(lambda: number, rate: number, t: number): number {
  if (lambda === 0) return rate * t;
  if (t === Infinity) return 1 / lambda;
  const z = rate * lambda * t;
  if (z >= 1) return -Math.expm1(-z) / lambda;
  // rate * t * (1 - e^{-z}) / z stays exact when z underflows although lambda does not.
  return z === 0 ? rate * t : (rate * t * -Math.expm1(-z)) / z;
}

/**
 * (1 - rate lambda)^i, the eigenvalue of (I - rate Theta)^i.
 *
 * @example
 * gdDecay(1, 0.5, 2); // 0.25
 */
export function gdDecay(lambda: number, rate: number, step: number): number {
  if (step === 0) return 1;
  const x = rate * lambda;
  return x < 1 ? Math.exp(step * Math.log1p(-x)) : Math.pow(1 - x, step);
}

/**
 * rate * sum_{j<i} (1 - rate lambda)^j = (1 - (1 - rate lambda)^i) / lambda, with the lambda -> 0 limit rate * i.
 *
 * @example
 * gdIntegral(0, 0.1, 3); // 0.3
 */
export function gdIntegral(lambda: number, rate: number, step: number): number {
  if (step === 0) return 0;
  if (lambda === 0) return rate * step;
  const x = rate * lambda;
  if (x >= 1) return (1 - Math.pow(1 - x, step)) / lambda;
  // rate * (1 - (1 - x)^i) / x via expm1/log1p: full relative accuracy for tiny x, and the
  // subnormal guard keeps the limit rate * i when x underflows although lambda does not.
  if (x < 1e-290) return rate * step;
  return (rate * -Math.expm1(step * Math.log1p(-x))) / x;
}

/**
 * Heavy-ball momentum scalars for one eigenvalue after `step` steps (f_{-1} = f_0):
 * `decay` = a_i with r_i = a_i r_0 on the train residual, and `integral` = s_i with
 * f_i(x) = f_0(x) - Theta(x, X) V diag(s_i) V^T r_0. Computed with 2x2 / 3x3 matrix powers
 * (exact up to round-off, O(log i), no cancellation as lambda -> 0).
 *
 * @example
 * momentumScalars(1, 0.1, 0, 3); // equals { decay: gdDecay(1, .1, 3), integral: gdIntegral(1, .1, 3) }
 */
export function momentumScalars(lambda: number, rate: number, beta: number, step: number): { decay: number; integral: number } {
  // State (s_i, u_i, 1): u_{i+1} = rate * (1 - lambda s_i) + beta u_i, s_{i+1} = s_i + u_{i+1}.
  const x = rate * lambda;
  const N = [1 - x, beta, rate, -x, beta, rate, 0, 0, 1];
  const P = matPow3(N, step);
  const integral = P[2]; // (N^i [0, 0, 1])_0
  // Residual recurrence a_{i+1} = (1 + beta - x) a_i - beta a_{i-1}, a_0 = a_{-1} = 1.
  const M = matPow2([1 + beta - x, -beta, 1, 0], step);
  const decay = M[0] + M[1];
  return { decay, integral };
}

function matPow2(m: number[], p: number): number[] {
  let result = [1, 0, 0, 1];
  let base = m.slice();
  let e = p;
  const mul = (a: number[], b: number[]): number[] => [
    a[0] * b[0] + a[1] * b[2],
    a[0] * b[1] + a[1] * b[3],
    a[2] * b[0] + a[3] * b[2],
    a[2] * b[1] + a[3] * b[3],
  ];
  while (e > 0) {
    if (e % 2 === 1) result = mul(result, base);
    e = Math.floor(e / 2);
    if (e > 0) base = mul(base, base);
  }
  return result;
}

function matPow3(m: number[], p: number): number[] {
  let result = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  let base = m.slice();
  let e = p;
  const mul = (a: number[], b: number[]): number[] => {
    const o = new Array<number>(9).fill(0);
    for (let i = 0; i < 3; i++)
      for (let k = 0; k < 3; k++) {
        const aik = a[i * 3 + k];
        for (let j = 0; j < 3; j++) o[i * 3 + j] += aik * b[k * 3 + j];
      }
    return o;
  };
  while (e > 0) {
    if (e % 2 === 1) result = mul(result, base);
    e = Math.floor(e / 2);
    if (e > 0) base = mul(base, base);
  }
  return result;
}

/** Shared validation and eigendecomposition of a training kernel (used by flow.ts and gp.ts). */
export interface KernelEigen {
  readonly values: Float64Array;
  readonly vectors: Matrix;
  readonly clamped: EigenvalueClamp;
  readonly cutoff: number;
  readonly singular: boolean;
}

/**
 * Eigendecomposes a symmetric PSD kernel: validates finiteness, squareness and symmetry
 * (errors name `fn`), clamps negative eigenvalues to 0 and reports the clamp; with
 * `zeroBelowCutoff` also sets eigenvalues <= cutoff to exactly 0.
 *
 * @example
 * const ke = kernelEigen('mseFlow', 'thetaTrain', theta, {});
 */
export function kernelEigen(
  fn: string,
  name: string,
  theta: Matrix,
  opts: { relativeCutoff?: number; symmetryTolerance?: number; zeroBelowCutoff?: boolean; negativeTolerance?: number },
): KernelEigen {
  assertFinite(fn, name, theta);
  const { values: raw, vectors } = symmetricEigen(theta, { fn, name, symmetryTolerance: opts.symmetryTolerance });
  const n = raw.length;
  const values = new Float64Array(n);
  let count = 0;
  let mostNegative = 0;
  for (let i = 0; i < n; i++) {
    const v = raw[i];
    if (v < 0) {
      count++;
      if (v < mostNegative) mostNegative = v;
      values[i] = 0;
    } else {
      values[i] = v;
    }
  }
  const lambdaMax = n > 0 ? values[n - 1] : 0;
  if (opts.negativeTolerance !== undefined && count > 0) {
    const tol = opts.negativeTolerance;
    if (!(tol >= 0)) throw new Error(`${fn}: negativeTolerance must be >= 0, got ${tol}`);
    if (mostNegative < -tol * lambdaMax) {
      throw new Error(
        `${fn}: ${name} (${n}x${n}) has the eigenvalue ${mostNegative}, below the round-off allowance ` +
          `-${tol} * lambda_max = ${-tol * lambdaMax} (lambda_max ${lambdaMax}): it is not positive semi-definite, so it is no kernel. ` +
          `For a kernel computed in float32, pass negativeTolerance ~ 1e-6 * n`,
      );
    }
  }
  const rel = opts.relativeCutoff ?? Math.max(n, 1) * Number.EPSILON;
  if (!(rel >= 0)) throw new Error(`${fn}: relativeCutoff must be >= 0, got ${rel}`);
  const cutoff = rel * lambdaMax;
  const singular = n > 0 && values[0] <= cutoff;
  if (opts.zeroBelowCutoff) {
    for (let i = 0; i < n; i++) if (values[i] <= cutoff) values[i] = 0;
  }
  return { values, vectors, clamped: { count, mostNegative }, cutoff, singular };
}

/** Validates a list of times: each >= 0 and not NaN (Infinity allowed). */
export function checkTimes(fn: string, times: readonly number[]): void {
  for (const t of times) {
    if (typeof t !== 'number' || Number.isNaN(t) || t < 0) {
      throw new Error(`${fn}: times must be >= 0 (Infinity allowed), got ${t}`);
    }
  }
}

function checkSteps(fn: string, steps: readonly number[]): void {
  for (const s of steps) {
    if (!Number.isSafeInteger(s) || s < 0) throw new Error(`${fn}: steps must be non-negative integers, got ${s}`);
  }
}

/**
 * Builds the closed-form MSE gradient-flow solution of the linearized model from its
 * empirical NTK, with one symmetric eigendecomposition Theta = V diag(lambda) V^T.
 *
 * @example
 * const flow = mseFlow({ thetaTrain, thetaTestTrain, f0Train, f0Test, yTrain, eta: 0.5, loss: 'sum/2' });
 * const [f0, fMid, fEnd] = flow.trainAt([0, 10, Infinity]); // fEnd equals yTrain
 * const c = flow.coefficientsAt(10); // omega_10 = -J_0(X)^T c
 */
export function mseFlow(inputs: MseFlowInputs): MseFlow {
  const fn = 'mseFlow';
  return buildFlow({
    ...inputs,
    thetaTrain: toMatrix(fn, 'thetaTrain', inputs.thetaTrain),
    thetaTestTrain: toMatrixOptional(fn, 'thetaTestTrain', inputs.thetaTestTrain),
    f0Train: toMatrix(fn, 'f0Train', inputs.f0Train),
    f0Test: toMatrixOptional(fn, 'f0Test', inputs.f0Test),
    yTrain: toMatrix(fn, 'yTrain', inputs.yTrain),
  });
}

/** The inputs with every matrix converted (once, by {@link mseFlow}). */
type FlowMatrices = Omit<MseFlowInputs, 'thetaTrain' | 'thetaTestTrain' | 'f0Train' | 'f0Test' | 'yTrain'> & {
  readonly thetaTrain: Matrix;
  readonly thetaTestTrain: Matrix | undefined;
  readonly f0Train: Matrix;
  readonly f0Test: Matrix | undefined;
  readonly yTrain: Matrix;
};

/** `eigen`: the decomposition of inputs.thetaTrain under the same policy, when already computed. */
function buildFlow(inputs: FlowMatrices, eigen?: KernelEigen): MseFlow {
  const fn = 'mseFlow';
  const theta = inputs.thetaTrain;
  const n = theta.rows;
  if (theta.cols !== n) throw new Error(`${fn}: thetaTrain must be square, got ${shapeOf(theta)}`);
  const f0Train = inputs.f0Train;
  const yTrain = inputs.yTrain;
  const c = yTrain.cols;
  assertShape(fn, 'f0Train', f0Train, n, c);
  assertShape(fn, 'yTrain', yTrain, n, c);
  assertFinite(fn, 'f0Train', f0Train);
  assertFinite(fn, 'yTrain', yTrain);
  const rate = effectiveRate(inputs.eta, inputs.loss, n * c);
  const policy = inputs.singular ?? 'error';
  if (policy !== 'error' && policy !== 'pinv') throw new Error(`${fn}: singular must be 'error' or 'pinv', got '${String(policy)}'`);

  const thetaTestTrain = inputs.thetaTestTrain;
  const f0Test = inputs.f0Test;
  const m = thetaTestTrain?.rows ?? f0Test?.rows ?? 0;
  if (thetaTestTrain !== undefined) {
    assertShape(fn, 'thetaTestTrain', thetaTestTrain, m, n);
    assertFinite(fn, 'thetaTestTrain', thetaTestTrain);
  }
  if (f0Test !== undefined) {
    assertShape(fn, 'f0Test', f0Test, m, c);
    assertFinite(fn, 'f0Test', f0Test);
  }

  const ke = eigen ?? kernelEigen(fn, 'thetaTrain', theta, {
    relativeCutoff: inputs.relativeCutoff,
    symmetryTolerance: inputs.symmetryTolerance,
    zeroBelowCutoff: policy === 'pinv',
    negativeTolerance: inputs.negativeTolerance ?? DEFAULT_NEGATIVE_TOLERANCE * Math.max(n, 1),
  });
  const lambda = ke.values;
  const V = ke.vectors;
  const lambdaMax = n > 0 ? lambda[n - 1] : 0;
  const r0 = addScaled(f0Train, yTrain, 1, -1);
  // Residual in the eigenbasis, computed once; every time point is then a diagonal scaling.
  const P = matmulTransposeA(V, r0);

  const pinvScales = (lam: Float64Array): Float64Array => lam.map((l) => (l > 0 ? 1 / l : 0));

  let cInfinity: Matrix | undefined;
  const coefficientsInfinity = (): Matrix => {
    if (cInfinity !== undefined) return cInfinity;
    if (policy === 'pinv') {
      cInfinity = combine(V, P, [pinvScales(lambda)])[0];
      return cInfinity;
    }
    if (ke.singular) {
      throw new Error(
        `${fn}: thetaTrain (${n}x${n}) is singular (smallest eigenvalue ${lambda[0]} <= cutoff ${ke.cutoff}); ` +
          `t = Infinity needs Theta^{-1}: pass singular: 'pinv' for the pseudo-inverse limit`,
      );
    }
    try {
      cInfinity = choleskySolve(theta, r0, { fn, name: 'thetaTrain', symmetryTolerance: inputs.symmetryTolerance });
    } catch (err) {
      if (err instanceof NotPositiveDefiniteError) {
        throw new Error(`${err.message}; t = Infinity needs Theta^{-1}: pass singular: 'pinv' for the pseudo-inverse limit`);
      }
      throw err;
    }
    return cInfinity;
  };

  let W: Matrix | undefined;
  const testBasis = (method: string): { W: Matrix; f0Test: Matrix; thetaTestTrain: Matrix } => {
    if (thetaTestTrain === undefined || f0Test === undefined) {
      throw new Error(`${fn}.${method}: needs both thetaTestTrain and f0Test`);
    }
    W ??= matmul(thetaTestTrain, V);
    return { W, f0Test, thetaTestTrain };
  };

  const coefficientsFor = (t: number): Matrix => {
    if (t === Infinity) return coefficientsInfinity();
    return combine(V, P, [lambda.map((l) => flowIntegral(l, rate, t))])[0];
  };

  const trainAt = (times: readonly number[]): Matrix[] => {
    checkTimes(`${fn}.trainAt`, times);
    const scales: Float64Array[] = [];
    const out: (Matrix | undefined)[] = [];
    const slot: number[] = [];
    for (const t of times) {
      if (t === Infinity && policy === 'error') {
        coefficientsInfinity(); // throws a clear error when Theta is singular
        out.push(clone(yTrain)); // E_inf = 0 for PD Theta, so f = Y exactly
        slot.push(-1);
      } else {
        out.push(undefined);
        slot.push(scales.length);
        scales.push(lambda.map((l) => flowDecay(l, rate, t)));
      }
    }
    const moved = combine(V, P, scales);
    return out.map((o, i) => o ?? addScaled(yTrain, moved[slot[i]]));
  };

  const testAt = (times: readonly number[]): Matrix[] => {
    checkTimes(`${fn}.testAt`, times);
    const tb = testBasis('testAt');
    return times.map((t) => {
      if (t === Infinity && policy === 'error') {
        return addScaled(tb.f0Test, matmul(tb.thetaTestTrain, coefficientsInfinity()), 1, -1);
      }
      const g = t === Infinity ? pinvScales(lambda) : lambda.map((l) => flowIntegral(l, rate, t));
      return addScaled(tb.f0Test, combine(tb.W, P, [g])[0], 1, -1);
    });
  };

  const maxStableLearningRate = lambdaMax > 0 ? (2 / lambdaMax) * (inputs.eta / rate) : Infinity;
  /** Refuses discrete steps that diverge: rate * lambda_max must stay below `edge` (2 for GD). */
  const checkStable = (method: string, edge: number, what: string): void => {
    if (inputs.allowUnstableSteps || rate * lambdaMax < edge) return;
    const threshold = (edge / lambdaMax) * (inputs.eta / rate);
    throw new Error(
      `${fn}.${method}: eta ${inputs.eta} is at or above the stability threshold ${what} = ${threshold.toPrecision(6)} ` +
        `(lambda_max ${lambdaMax.toPrecision(6)}, loss '${inputs.loss}'): the steps would diverge; ` +
        `use a smaller eta (withLearningRate) or pass allowUnstableSteps: true to study the divergence`,
    );
  };
  const checkGd = (method: string) => checkStable(method, 2, '2 / lambda_max');

  const gdTrainAt = (steps: readonly number[]): Matrix[] => {
    checkSteps(`${fn}.gdTrainAt`, steps);
    checkGd('gdTrainAt');
    const moved = combine(V, P, steps.map((i) => lambda.map((l) => gdDecay(l, rate, i))));
    return moved.map((mv) => addScaled(yTrain, mv));
  };

  const gdTestAt = (steps: readonly number[]): Matrix[] => {
    checkSteps(`${fn}.gdTestAt`, steps);
    checkGd('gdTestAt');
    const tb = testBasis('gdTestAt');
    const moved = combine(tb.W, P, steps.map((i) => lambda.map((l) => gdIntegral(l, rate, i))));
    return moved.map((mv) => addScaled(tb.f0Test, mv, 1, -1));
  };

  /** Heavy ball on a quadratic is stable iff |beta| < 1 and 0 < rate * lambda < 2 (1 + beta) (Jury's criterion). */
  const checkBeta = (method: string, beta: number): void => {
    if (!Number.isFinite(beta)) throw new Error(`${fn}.${method}: beta must be finite, got ${beta}`);
    if (!inputs.allowUnstableSteps && Math.abs(beta) >= 1) {
      throw new Error(`${fn}.${method}: beta ${beta} diverges (heavy-ball momentum needs |beta| < 1); pass allowUnstableSteps: true to study it`);
    }
    checkStable(method, 2 * (1 + beta), `2 (1 + beta) / lambda_max with beta ${beta}`);
  };

  return {
    trainSize: n,
    testSize: m,
    outputColumns: c,
    effectiveRate: rate,
    eigenvalues: lambda,
    eigenvectors: V,
    clamped: ke.clamped,
    singularCutoff: ke.cutoff,
    singular: ke.singular,
    maxStableLearningRate,
    trainAt,
    testAt,
    coefficientsAt(t: number): Matrix {
      checkTimes(`${fn}.coefficientsAt`, [t]);
      return clone(coefficientsFor(t));
    },
    gdTrainAt,
    gdTestAt,
    withLearningRate: (eta: number) => buildFlow({ ...inputs, eta }, ke),
    gdCoefficientsAt(step: number): Matrix {
      checkSteps(`${fn}.gdCoefficientsAt`, [step]);
      checkGd('gdCoefficientsAt');
      return combine(V, P, [lambda.map((l) => gdIntegral(l, rate, step))])[0];
    },
    momentumTrainAt(steps: readonly number[], beta: number): Matrix[] {
      checkSteps(`${fn}.momentumTrainAt`, steps);
      checkBeta('momentumTrainAt', beta);
      const moved = combine(V, P, steps.map((i) => lambda.map((l) => momentumScalars(l, rate, beta, i).decay)));
      return moved.map((mv) => addScaled(yTrain, mv));
    },
    momentumTestAt(steps: readonly number[], beta: number): Matrix[] {
      checkSteps(`${fn}.momentumTestAt`, steps);
      checkBeta('momentumTestAt', beta);
      const tb = testBasis('momentumTestAt');
      const moved = combine(tb.W, P, steps.map((i) => lambda.map((l) => momentumScalars(l, rate, beta, i).integral)));
      return moved.map((mv) => addScaled(tb.f0Test, mv, 1, -1));
    },
  };
}

/**
 * For each scale vector s, returns B diag(s) P, with all of them computed as ONE matrix
 * product B [diag(s_1) P | diag(s_2) P | ...].
 */
function combine(B: Matrix, P: Matrix, scales: readonly Float64Array[]): Matrix[] {
  const k = P.rows;
  const c = P.cols;
  const T = scales.length;
  if (T === 0) return [];
  const stacked = matrix(k, T * c);
  for (let q = 0; q < T; q++) {
    const s = scales[q];
    if (s.length !== k) throw new Error(`combine: ${s.length} scales for ${shapeOf(P)}`);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < c; j++) stacked.data[i * T * c + q * c + j] = s[i] * P.data[i * c + j];
    }
  }
  const prod = matmul(B, stacked);
  const out: Matrix[] = [];
  for (let q = 0; q < T; q++) {
    const o = matrix(B.rows, c);
    for (let i = 0; i < B.rows; i++) {
      for (let j = 0; j < c; j++) o.data[i * c + j] = prod.data[i * T * c + q * c + j];
    }
    out.push(o);
  }
  return out;
}
