/**
 * The Gaussian process over random initializations of infinitely wide networks trained
 * with MSE for time t (Lee et al. 2019, Corollary 1, eqs 14-16; PAPER.md section 7),
 * in the symmetric matrix form:
 *
 *   A_t        = Theta(x, X) Theta^{-1} (I - E_t),        E_t = exp(-rate Theta t)
 *   mean_t(x)  = A_t Y
 *   cov_t      = K(x, x) + A_t K(X, X) A_t^T - (A_t K(X, x) + K(x, X) A_t^T)
 *
 * `rate` follows flow.ts: eta for 'sum/2', eta / N for 'mean/2' (N = entries of Y). The
 * kernels are the infinite-width ones (typically |D| x |D|, shared by all k outputs), so the
 * mean is m x k and ONE m x m covariance applies to every output column independently.
 * With `readoutOnly` Theta is replaced by K (only the last layer trains); at t = Infinity
 * that is the exact NNGP posterior.
 */
import { type MseLossScaling, type EigenvalueClamp, type SingularPolicy, checkTimes, effectiveRate, flowIntegral, kernelEigen } from './flow.ts';
import {
  type Matrix,
  NotPositiveDefiniteError,
  addScaled,
  assertFinite,
  assertShape,
  assertSymmetric,
  choleskySolve,
  fromEigen,
  matmul,
  matmulTransposeA,
  scaleRows,
  symmetrize,
  symmetricEigen,
  transpose,
} from '../linalg/dense.ts';
import { toMatrix, toMatrixOptional, type MatrixInput } from './matrix-input.ts';

/** Report of the PSD projection applied to a covariance. */
export interface PsdClamp {
  /** Number of negative eigenvalues set to 0. */
  readonly count: number;
  /** The most negative eigenvalue before clamping (0 if none): the clamp magnitude. */
  readonly mostNegative: number;
  /** Frobenius norm of the change made by the clamp. */
  readonly frobeniusChange: number;
}

/** A Gaussian prediction at the test points. */
export interface GpPrediction {
  /** Time of the prediction (Infinity allowed). */
  readonly t: number;
  /** Mean, m x c. */
  readonly mean: Matrix;
  /** Covariance, m x m, symmetric PSD (shared by every output column). */
  readonly covariance: Matrix;
  /** What the PSD projection of the covariance changed. */
  readonly psdClamp: PsdClamp;
}

/** Inputs of {@link gpOverInitializations}. */
export interface GpInputs {
  /** NNGP kernel K(X, X), n x n. Every matrix argument may be a Matrix, a Tensor or a typed-array column. */
  readonly kTrainTrain: MatrixInput;
  /** K(x, X), m x n. */
  readonly kTestTrain: MatrixInput;
  /** K(x, x), m x m. */
  readonly kTestTest: MatrixInput;
  /** NTK Theta(X, X), n x n (ignored, and optional, with `readoutOnly`). */
  readonly thetaTrainTrain?: MatrixInput;
  /** Theta(x, X), m x n (ignored, and optional, with `readoutOnly`). */
  readonly thetaTestTrain?: MatrixInput;
  /** Targets Y, n x c. */
  readonly yTrain: MatrixInput;
  /** Learning rate (> 0) in the units of `loss`. */
  readonly eta: number;
  /** Loss scaling that `eta` refers to. */
  readonly loss: MseLossScaling;
  /** Train only the readout: Theta is replaced by K. */
  readonly readoutOnly?: boolean;
  /** Singular training kernel at t = Infinity: throw (default) or use the pseudo-inverse. */
  readonly singular?: SingularPolicy;
  /** Relative eigenvalue cutoff for singularity (default n * eps). */
  readonly relativeCutoff?: number;
  /** Relative symmetry tolerance of the square kernels (default 1e-6). */
  readonly symmetryTolerance?: number;
}

/** The GP of {@link gpOverInitializations}. */
export interface GpOverInitializations {
  /** Effective rate in E_t. */
  readonly effectiveRate: number;
  /** Clamped eigenvalues of the training kernel used in E_t (Theta, or K with readoutOnly), ascending. */
  readonly eigenvalues: Float64Array;
  /** Negative eigenvalues of the training kernel clamped to 0. */
  readonly clamped: EigenvalueClamp;
  /** A_t = Theta(x, X) Theta^{-1} (I - E_t), m x n. */
  operatorAt(t: number): Matrix;
  /** Mean and covariance at each time (Infinity allowed). */
  at(times: readonly number[]): GpPrediction[];
}

/**
 * Symmetrizes `a` and projects it onto the PSD cone by clamping negative eigenvalues,
 * returning the projected matrix and what changed (the input is returned symmetrized
 * but otherwise untouched when it has no negative eigenvalue).
 *
 * @example
 * const { matrix: psd, clamp } = psdProject(cov); // clamp.mostNegative ~ -1e-17 from round-off
 */
export function psdProject(a: Matrix, fn = 'psdProject'): { matrix: Matrix; clamp: PsdClamp } {
  assertFinite(fn, 'covariance', a);
  const sym = symmetrize(a);
  const { values, vectors } = symmetricEigen(sym, { fn, name: 'covariance' });
  let count = 0;
  let mostNegative = 0;
  let sq = 0;
  const clampedValues = values.map((v) => {
    if (v >= 0) return v;
    count++;
    if (v < mostNegative) mostNegative = v;
    sq += v * v;
    return 0;
  });
  if (count === 0) return { matrix: sym, clamp: { count: 0, mostNegative: 0, frobeniusChange: 0 } };
  return { matrix: fromEigen(vectors, clampedValues), clamp: { count, mostNegative, frobeniusChange: Math.sqrt(sq) } };
}

/**
 * The GP over initializations after training for time t (mean and covariance at the test points).
 *
 * @example
 * const gp = gpOverInitializations({ kTrainTrain, kTestTrain, kTestTest, thetaTrainTrain, thetaTestTrain, yTrain, eta: 1, loss: 'sum/2' });
 * const [prior, , posterior] = gp.at([0, 16, Infinity]); // prior.mean = 0, prior.covariance = K(x, x)
 */
export function gpOverInitializations(inputs: GpInputs): GpOverInitializations {
  const fn = 'gpOverInitializations';
  const K = toMatrix(fn, 'kTrainTrain', inputs.kTrainTrain);
  const Kx = toMatrix(fn, 'kTestTrain', inputs.kTestTrain);
  const Kxx = toMatrix(fn, 'kTestTest', inputs.kTestTest);
  const thetaTrainTrain = toMatrixOptional(fn, 'thetaTrainTrain', inputs.thetaTrainTrain);
  const thetaTestTrain = toMatrixOptional(fn, 'thetaTestTrain', inputs.thetaTestTrain);
  assertSymmetric(fn, 'kTrainTrain', K, inputs.symmetryTolerance);
  const n = K.rows;
  const m = Kx.rows;
  assertShape(fn, 'kTestTrain', Kx, m, n);
  assertFinite(fn, 'kTestTrain', Kx);
  assertShape(fn, 'kTestTest', Kxx, m, m);
  assertSymmetric(fn, 'kTestTest', Kxx, inputs.symmetryTolerance);
  const y = toMatrix(fn, 'yTrain', inputs.yTrain);
  if (y.rows !== n) throw new Error(`${fn}: yTrain must have ${n} rows, got ${y.rows}x${y.cols}`);
  assertFinite(fn, 'yTrain', y);
  const readout = inputs.readoutOnly === true;
  let Th: Matrix;
  let Thx: Matrix;
  if (readout) {
    Th = K;
    Thx = Kx;
  } else {
    if (thetaTrainTrain === undefined || thetaTestTrain === undefined) {
      throw new Error(`${fn}: thetaTrainTrain and thetaTestTrain are required unless readoutOnly is set`);
    }
    Th = thetaTrainTrain;
    Thx = thetaTestTrain;
    assertShape(fn, 'thetaTrainTrain', Th, n, n);
    assertShape(fn, 'thetaTestTrain', Thx, m, n);
    assertFinite(fn, 'thetaTestTrain', Thx);
  }
  const kernelName = readout ? 'kTrainTrain (readout-only training kernel)' : 'thetaTrainTrain';
  const policy = inputs.singular ?? 'error';
  if (policy !== 'error' && policy !== 'pinv') throw new Error(`${fn}: singular must be 'error' or 'pinv', got '${String(policy)}'`);
  const rate = effectiveRate(inputs.eta, inputs.loss, y.rows * y.cols);
  const ke = kernelEigen(fn, kernelName, Th, {
    relativeCutoff: inputs.relativeCutoff,
    symmetryTolerance: inputs.symmetryTolerance,
    zeroBelowCutoff: policy === 'pinv',
  });
  const V = ke.vectors;
  const W = matmul(Thx, V); // Theta(x, X) V, shared by every time point

  let aInfinity: Matrix | undefined;
  const operatorAt = (t: number): Matrix => {
    if (t === Infinity) {
      if (aInfinity !== undefined) return aInfinity;
      if (policy === 'pinv') {
        aInfinity = operatorFromScales(ke.values.map((l) => (l > 0 ? 1 / l : 0)));
        return aInfinity;
      }
      if (ke.singular) {
        throw new Error(
          `${fn}: ${kernelName} (${n}x${n}) is singular (smallest eigenvalue ${ke.values[0]} <= cutoff ${ke.cutoff}); ` +
            `t = Infinity needs its inverse: pass singular: 'pinv' for the pseudo-inverse limit`,
        );
      }
      try {
        // A_inf = Theta(x, X) Theta^{-1} = (Theta^{-1} Theta(X, x))^T.
        aInfinity = transpose(choleskySolve(Th, transpose(Thx), { fn, name: kernelName, symmetryTolerance: inputs.symmetryTolerance }));
      } catch (err) {
        if (err instanceof NotPositiveDefiniteError) {
          throw new Error(`${err.message}; t = Infinity needs its inverse: pass singular: 'pinv' for the pseudo-inverse limit`);
        }
        throw err;
      }
      return aInfinity;
    }
    return operatorFromScales(ke.values.map((l) => flowIntegral(l, rate, t)));
  };

  const Vt = transpose(V);
  function operatorFromScales(g: Float64Array): Matrix {
    // A = (W diag(g)) V^T = W (diag(g) V^T).
    return matmul(W, scaleRows(Vt, g));
  }

  const KxT = transpose(Kx);
  const predict = (t: number): GpPrediction => {
    const A = operatorAt(t);
    const mean = matmul(A, y);
    const AK = matmul(A, K);
    const AKAt = matmul(AK, transpose(A));
    const cross = matmul(A, KxT); // A K(X, x)
    const raw = addScaled(addScaled(Kxx, AKAt), addScaled(cross, transpose(cross)), 1, -1);
    const { matrix: covariance, clamp } = psdProject(raw, fn);
    return { t, mean, covariance, psdClamp: clamp };
  };

  return {
    effectiveRate: rate,
    eigenvalues: ke.values,
    clamped: ke.clamped,
    operatorAt(t: number): Matrix {
      checkTimes(`${fn}.operatorAt`, [t]);
      return operatorAt(t);
    },
    at(times: readonly number[]): GpPrediction[] {
      checkTimes(`${fn}.at`, times);
      return times.map(predict);
    },
  };
}

/**
 * Exact NNGP posterior: mean K(x, X) K^{-1} Y, covariance K(x, x) - K(x, X) K^{-1} K(X, x)
 * (Cholesky; throws a clear error when K(X, X) is not positive definite). Optional `diagReg`
 * adds an absolute ridge to K(X, X) (observation noise).
 *
 * @example
 * const post = nngpPosterior({ kTrainTrain, kTestTrain, kTestTest, yTrain });
 * post.mean; // m x c
 */
export function nngpPosterior(raw: {
  readonly kTrainTrain: MatrixInput;
  readonly kTestTrain: MatrixInput;
  readonly kTestTest: MatrixInput;
  readonly yTrain: MatrixInput;
  readonly diagReg?: number;
  readonly symmetryTolerance?: number;
}): { mean: Matrix; covariance: Matrix; psdClamp: PsdClamp } {
  const fn = 'nngpPosterior';
  const inputs = {
    ...raw,
    kTrainTrain: toMatrix(fn, 'kTrainTrain', raw.kTrainTrain),
    kTestTrain: toMatrix(fn, 'kTestTrain', raw.kTestTrain),
    kTestTest: toMatrix(fn, 'kTestTest', raw.kTestTest),
  };
  const y = toMatrix(fn, 'yTrain', raw.yTrain);
  const n = inputs.kTrainTrain.rows;
  const m = inputs.kTestTrain.rows;
  assertSymmetric(fn, 'kTrainTrain', inputs.kTrainTrain, inputs.symmetryTolerance);
  assertShape(fn, 'kTestTrain', inputs.kTestTrain, m, n);
  assertFinite(fn, 'kTestTrain', inputs.kTestTrain);
  assertShape(fn, 'kTestTest', inputs.kTestTest, m, m);
  assertSymmetric(fn, 'kTestTest', inputs.kTestTest, inputs.symmetryTolerance);
  if (y.rows !== n) throw new Error(`${fn}: yTrain must have ${n} rows, got ${y.rows}x${y.cols}`);
  assertFinite(fn, 'yTrain', y);
  const reg = inputs.diagReg ?? 0;
  if (!(reg >= 0 && Number.isFinite(reg))) throw new Error(`${fn}: diagReg must be a finite number >= 0, got ${reg}`);
  let K = inputs.kTrainTrain;
  if (reg > 0) {
    K = { rows: n, cols: n, data: Float64Array.from(K.data) };
    for (let i = 0; i < n; i++) K.data[i * n + i] += reg;
  }
  // One solve for [Y | K(X, x)].
  const KxT = transpose(inputs.kTestTrain);
  const c = y.cols;
  const rhs = { rows: n, cols: c + m, data: new Float64Array(n * (c + m)) };
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) rhs.data[i * (c + m) + j] = y.data[i * c + j];
    for (let j = 0; j < m; j++) rhs.data[i * (c + m) + c + j] = KxT.data[i * m + j];
  }
  const sol = choleskySolve(K, rhs, { fn, name: 'kTrainTrain', symmetryTolerance: inputs.symmetryTolerance });
  const alpha = { rows: n, cols: c, data: new Float64Array(n * c) };
  const B = { rows: n, cols: m, data: new Float64Array(n * m) };
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) alpha.data[i * c + j] = sol.data[i * (c + m) + j];
    for (let j = 0; j < m; j++) B.data[i * m + j] = sol.data[i * (c + m) + c + j];
  }
  const mean = matmul(inputs.kTestTrain, alpha);
  const reduction = matmulTransposeA(KxT, B); // K(x, X) K^{-1} K(X, x)
  const { matrix: covariance, clamp } = psdProject(addScaled(inputs.kTestTest, reduction, 1, -1), fn);
  return { mean, covariance, psdClamp: clamp };
}
