/**
 * Predictions of infinitely wide networks trained with MSE (PAPER.md section 7): the bridge from a
 * model's analytic kernels (models/kernels, float64) to the GP over initializations of gp.ts.
 *
 * An ensemble of infinitely wide networks, each initialized at random and trained on (X, Y) for
 * time t, has outputs at test points x distributed as a GP with
 *   mean_t(x)   = A_t(x) Y
 *   cov_t(x,x') = K(x, x') + A_t(x) K(X, X) A_t(x')^T - (A_t(x) K(X, x') + A_t(x') K(X, x))
 * with A_t = Theta(x, X) Theta^{-1} (I - E_t), E_t = exp(-rate Theta t) (gradient flow), or
 * A_i = Theta(x, X) Theta^{-1} (I - (I - rate Theta)^i) after i discrete gradient-descent steps.
 * rate = eta for the loss 1/2 sum (f - y)^2 ('sum/2'), eta / (|D| k) for 0.5 mean ('mean/2');
 * time is measured in steps (flow.ts). Training only the readout replaces Theta by K; its
 * t -> infinity limit is the exact NNGP posterior (Bayesian inference with the NNGP prior).
 * Kernels are per output unit (|D| x |D|); every output column of Y shares one covariance.
 */
import * as tg from '../engine/index.ts';
import { kernelMatrix } from '../models/kernels/kernel-fn.ts';
import type { KernelInput, KernelOptions, KernelResult } from '../models/kernels/state.ts';
import { checkTimes, effectiveRate, gdIntegral, kernelEigen, type MseLossScaling, type SingularPolicy } from './flow.ts';
import { gpOverInitializations, nngpPosterior, psdProject, type GpPrediction } from './gp.ts';
import {
  addScaled,
  assertFinite,
  assertShape,
  assertSymmetric,
  matmul,
  matrix,
  scaleRows,
  transpose,
  type Matrix,
} from '../linalg/dense.ts';
import { toMatrix, type MatrixInput } from './matrix-input.ts';

/** A model that can evaluate its infinite-width kernels (every layer of models/). */
export interface KernelModel {
  readonly name?: string;
  kernel?(x1: KernelInput, x2?: KernelInput, opts?: KernelOptions): KernelResult;
}

/** The analytic kernels between training inputs X (n of them) and test inputs x (m), float64. */
export interface InfiniteKernels {
  /** K(X, X), n x n. */
  readonly kTrainTrain: Matrix;
  /** K(x, X), m x n. */
  readonly kTestTrain: Matrix;
  /** K(x, x), m x m. */
  readonly kTestTest: Matrix;
  /** Theta(X, X), n x n. */
  readonly thetaTrainTrain: Matrix;
  /** Theta(x, X), m x n. */
  readonly thetaTestTrain: Matrix;
  /** Theta(x, x), m x m. */
  readonly thetaTestTest: Matrix;
}

function block(a: Matrix, r0: number, r1: number, c0: number, c1: number): Matrix {
  const out = matrix(r1 - r0, c1 - c0);
  for (let i = r0; i < r1; i++) out.data.set(a.data.subarray(i * a.cols + c0, i * a.cols + c1), (i - r0) * (c1 - c0));
  return out;
}

function shapeOfInput(x: KernelInput): readonly number[] {
  if (x === null || typeof x !== 'object' || !Array.isArray(x.shape)) throw new Error('infiniteKernels: inputs must be tensors or { shape, data }');
  return x.shape;
}

function valuesOf(x: KernelInput): ArrayLike<number> {
  return x instanceof tg.Tensor ? x.dataSync() : x.data;
}

/**
 * K and Theta of `model` on train and test inputs, from ONE symmetric kernel evaluation on the
 * stacked inputs [X; x] (so train and test kernels come from the same blocks and K(X, X) is
 * exactly symmetric). The model's output must be dense ([N, k]).
 * @example
 * const net = serial(Dense(512, { W_std: Math.sqrt(1.5) }), Tanh(), Dense(1, { W_std: Math.sqrt(1.5) }));
 * const kernels = infiniteKernels(net, xTrain, xTest); // kernels.thetaTestTrain: m x n
 */
export function infiniteKernels(model: KernelModel, xTrain: KernelInput, xTest: KernelInput, opts: KernelOptions = {}): InfiniteKernels {
  const fn = 'infiniteKernels';
  if (typeof model?.kernel !== 'function') throw new Error(`${fn}: the model ${model?.name ?? ''} has no kernel() (build it from models/ layers)`);
  if (opts.get === 'nngp') throw new Error(`${fn}: needs the NTK too; do not pass get: 'nngp'`);
  const s1 = shapeOfInput(xTrain);
  const s2 = shapeOfInput(xTest);
  if (s1.length !== s2.length || s1.slice(1).some((d, i) => d !== s2[i + 1])) {
    throw new Error(`${fn}: xTrain [${s1.join(',')}] and xTest [${s2.join(',')}] must share every axis but the batch axis`);
  }
  const n = s1[0];
  const m = s2[0];
  const a = valuesOf(xTrain);
  const b = valuesOf(xTest);
  const data = new Float64Array(a.length + b.length);
  data.set(a, 0);
  data.set(b, a.length);
  const all = { shape: [n + m, ...s1.slice(1)], data };
  const { K, T } = tg.tidy(() => {
    const res = model.kernel!(all, undefined, opts);
    if (res.layout !== 'none' || res.nngp.shape.length !== 2 || res.ntk === null) {
      throw new Error(`${fn}: the model's output kernel has shape [${res.nngp.shape.join(',')}]; end the model with a dense readout ([N, k] outputs)`);
    }
    // The GP algebra below is float64 on the host.
    return { K: kernelMatrix(res.nngp), T: kernelMatrix(res.ntk) };
  });
  return {
    kTrainTrain: block(K, 0, n, 0, n),
    kTestTrain: block(K, n, n + m, 0, n),
    kTestTest: block(K, n, n + m, n, n + m),
    thetaTrainTrain: block(T, 0, n, 0, n),
    thetaTestTrain: block(T, n, n + m, 0, n),
    thetaTestTest: block(T, n, n + m, n, n + m),
  };
}

/** Inputs of {@link infinitePredictor}. */
export interface InfinitePredictorInputs {
  readonly kernels: InfiniteKernels;
  /** Targets Y, n x c (a Float64Array is one column). */
  readonly yTrain: MatrixInput;
  /** Learning rate (> 0) in the units of `loss`. */
  readonly eta: number;
  /** Loss scaling `eta` refers to. */
  readonly loss: MseLossScaling;
  /** At t = Infinity with a singular training kernel: throw (default) or pseudo-inverse. */
  readonly singular?: SingularPolicy;
  /** Relative symmetry tolerance of the square kernels (default 1e-6). */
  readonly symmetryTolerance?: number;
}

/** GP predictions of the infinite-width ensemble; see the module comment. */
export interface InfinitePredictor {
  readonly kernels: InfiniteKernels;
  /** The rate in E_t (eta or eta / (|D| k)). */
  readonly effectiveRate: number;
  /** Gradient descent on the network diverges for eta at or above this (2 / (rate factor * lambda_max(Theta))). */
  readonly maxStableEta: number;
  /** Gradient flow for time t, every layer trained (Theta). Times >= 0, Infinity allowed. */
  predict(times: readonly number[]): GpPrediction[];
  /** Gradient flow training only the readout layer (Theta replaced by K). */
  predictReadout(times: readonly number[]): GpPrediction[];
  /** After each number of discrete full-batch gradient-descent steps with step eta. */
  predictSteps(steps: readonly number[], opts?: { readoutOnly?: boolean }): GpPrediction[];
  /** The exact NNGP posterior K(x,X)K^{-1}Y, K(x,x) - K(x,X)K^{-1}K(X,x) (optional ridge diagReg on K(X,X)). */
  posterior(diagReg?: number): GpPrediction;
}

/**
 * The GP over initializations of infinitely wide networks trained with MSE, for many times.
 * @example
 * const gp = infinitePredictor({ kernels: infiniteKernels(net, xTrain, xTest), yTrain, eta: 1, loss: 'sum/2' });
 * const [prior, mid, end] = gp.predict([0, 100, Infinity]); // prior: mean 0, covariance K(x, x)
 * const bayes = gp.posterior();                               // = gp.predictReadout([Infinity])[0]
 */
export function infinitePredictor(inputs: InfinitePredictorInputs): InfinitePredictor {
  const fn = 'infinitePredictor';
  const k = inputs.kernels;
  const y = toMatrix(fn, 'yTrain', inputs.yTrain);
  const tol = inputs.symmetryTolerance;
  const n = k.kTrainTrain.rows;
  const m = k.kTestTrain.rows;
  assertShape(fn, 'thetaTrainTrain', k.thetaTrainTrain, n, n);
  assertShape(fn, 'thetaTestTrain', k.thetaTestTrain, m, n);
  assertShape(fn, 'kTestTrain', k.kTestTrain, m, n);
  assertShape(fn, 'kTestTest', k.kTestTest, m, m);
  if (y.rows !== n) throw new Error(`${fn}: yTrain must have ${n} rows (one per training input), got ${y.rows}x${y.cols}`);
  const rate = effectiveRate(inputs.eta, inputs.loss, y.rows * y.cols);
  const thetaEigen = kernelEigen(fn, 'thetaTrainTrain', k.thetaTrainTrain, { symmetryTolerance: tol });
  const lambdaMax = thetaEigen.values[n - 1] ?? 0;
  const gp = (readoutOnly: boolean) =>
    gpOverInitializations({
      kTrainTrain: k.kTrainTrain,
      kTestTrain: k.kTestTrain,
      kTestTest: k.kTestTest,
      thetaTrainTrain: k.thetaTrainTrain,
      thetaTestTrain: k.thetaTestTrain,
      yTrain: y,
      eta: inputs.eta,
      loss: inputs.loss,
      readoutOnly,
      singular: inputs.singular,
      symmetryTolerance: tol,
    });
  let full: ReturnType<typeof gp> | undefined;
  let readout: ReturnType<typeof gp> | undefined;

  const stepsGp = (steps: readonly number[], readoutOnly: boolean): GpPrediction[] => {
    for (const s of steps) if (!Number.isSafeInteger(s) || s < 0) throw new Error(`${fn}.predictSteps: steps must be non-negative integers, got ${s}`);
    const Th = readoutOnly ? k.kTrainTrain : k.thetaTrainTrain;
    const Thx = readoutOnly ? k.kTestTrain : k.thetaTestTrain;
    assertSymmetric(fn, 'kTrainTrain', k.kTrainTrain, tol);
    assertSymmetric(fn, 'kTestTest', k.kTestTest, tol);
    assertFinite(fn, 'kTestTrain', k.kTestTrain);
    assertFinite(fn, 'thetaTestTrain', k.thetaTestTrain);
    const ke = readoutOnly ? kernelEigen(fn, 'kTrainTrain', Th, { symmetryTolerance: tol }) : thetaEigen;
    const W = matmul(Thx, ke.vectors);
    const Vt = transpose(ke.vectors);
    const KxT = transpose(k.kTestTrain);
    return steps.map((i) => {
      // A_i = Theta(x, X) V diag((1 - (1 - rate l)^i) / l) V^T (the lambda -> 0 limit is rate * i).
      const A = matmul(W, scaleRows(Vt, ke.values.map((l) => gdIntegral(l, rate, i))));
      const mean = matmul(A, y);
      const AKAt = matmul(matmul(A, k.kTrainTrain), transpose(A));
      const cross = matmul(A, KxT);
      const raw = addScaled(addScaled(k.kTestTest, AKAt), addScaled(cross, transpose(cross)), 1, -1);
      const { matrix: covariance, clamp } = psdProject(raw, `${fn}.predictSteps`);
      return { t: i, mean, covariance, psdClamp: clamp };
    });
  };

  return {
    kernels: k,
    effectiveRate: rate,
    maxStableEta: lambdaMax > 0 ? (2 / lambdaMax) * (inputs.eta / rate) : Infinity,
    predict(times) {
      checkTimes(`${fn}.predict`, times);
      full ??= gp(false);
      return full.at(times);
    },
    predictReadout(times) {
      checkTimes(`${fn}.predictReadout`, times);
      readout ??= gp(true);
      return readout.at(times);
    },
    predictSteps(steps, opts = {}) {
      return stepsGp(steps, opts.readoutOnly === true);
    },
    posterior(diagReg = 0) {
      const post = nngpPosterior({ kTrainTrain: k.kTrainTrain, kTestTrain: k.kTestTrain, kTestTest: k.kTestTest, yTrain: y, diagReg, symmetryTolerance: tol });
      return { t: Infinity, ...post };
    },
  };
}

/**
 * One call from a model to GP predictions: analytic kernels, then {@link infinitePredictor}.
 * @example
 * const [atT, atInf] = predictInfinite(net, { xTrain, yTrain, xTest, eta: 0.5, loss: 'mean/2', times: [256, Infinity] });
 */
export function predictInfinite(
  model: KernelModel,
  inputs: { xTrain: KernelInput; yTrain: MatrixInput; xTest: KernelInput; eta: number; loss: MseLossScaling; times: readonly number[]; readoutOnly?: boolean; kernelOptions?: KernelOptions },
): GpPrediction[] {
  const kernels = infiniteKernels(model, inputs.xTrain, inputs.xTest, inputs.kernelOptions);
  const p = infinitePredictor({ kernels, yTrain: inputs.yTrain, eta: inputs.eta, loss: inputs.loss });
  return inputs.readoutOnly ? p.predictReadout(inputs.times) : p.predict(inputs.times);
}
