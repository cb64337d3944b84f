/**
 * Function-space dynamics of the linearized network with a FIXED kernel for losses without
 * a closed form (PAPER.md section 5): gradient flow f' = -eta Theta grad_f L integrated with
 * Dormand–Prince, heavy-ball momentum as discrete updates and as the continuous-time ODE.
 *
 * Shapes follow flow.ts: `thetaTrain` is n x n and acts on the rows of n x c output matrices
 * (full kernel: n = |D| k and c = 1; traced kernel: n = |D| and c = k). The loss enters only
 * through its gradient with respect to the train outputs, so its scaling (sum or mean) is
 * whatever the gradient function says; `eta` is used as given.
 */
import { dopri5, type DopriOptions, type OdeStats } from './ode.ts';
import { type MseLossScaling, effectiveRate } from './flow.ts';
import {
  type Matrix,
  assertFinite,
  assertShape,
  assertSymmetric,
  matmul,
  matrix,
  shapeOf,
} from '../linalg/dense.ts';
import { toMatrix, type MatrixInput } from './matrix-input.ts';

/** Gradient of the total loss with respect to the train outputs: n x c in, n x c out (must not keep `fTrain`). */
export type OutputGradient = (fTrain: Matrix) => Matrix;

/** Reduction of the cross-entropy over samples: `'sum'` (the paper's total loss) or `'mean'`. */
export type CrossEntropyReduction = 'sum' | 'mean';

/** Options of the cross-entropy helpers; see {@link crossEntropyOutputGradient} for the layouts. */
export interface CrossEntropyOptions {
  readonly reduction: CrossEntropyReduction;
  /** Classes per sample when the outputs are a flattened n x 1 column (full-kernel layout). */
  readonly classes?: number;
}

/** Inputs shared by the function-space integrators. */
export interface FunctionSpaceInputs {
  /** Theta(X, X), n x n symmetric. Every matrix argument may be a Matrix, a Tensor or a typed-array column. */
  readonly thetaTrain: MatrixInput;
  /** Theta(x, X), m x n (optional). */
  readonly thetaTestTrain?: MatrixInput;
  /** f_0(X), n x c. */
  readonly f0Train: MatrixInput;
  /** f_0(x), m x c (required with thetaTestTrain). */
  readonly f0Test?: MatrixInput;
  /** Learning rate (> 0), used as given. */
  readonly eta: number;
  /** grad_f L at the train outputs. */
  readonly gradient: OutputGradient;
  /** Relative symmetry tolerance for `thetaTrain` (default 1e-6). */
  readonly symmetryTolerance?: number;
}

/** Heavy-ball inputs: momentum coefficient `beta` in addition to {@link FunctionSpaceInputs}. */
export interface MomentumInputs extends FunctionSpaceInputs {
  readonly beta: number;
}

/** Outputs at the requested times (or steps); `test` is present iff test inputs were given. */
export interface FunctionSpaceTrajectory {
  readonly times: number[];
  readonly train: Matrix[];
  readonly test?: Matrix[];
  readonly stats?: OdeStats;
}

/**
 * Gradient of the named MSE scaling: f - Y ('sum/2') or (f - Y) / N ('mean/2', N = entries of Y).
 *
 * @example
 * const grad = mseOutputGradient(yTrain, 'sum/2'); // grad(f) = f - yTrain
 */
export function mseOutputGradient(yTrain: MatrixInput, loss: MseLossScaling): OutputGradient {
  const y = toMatrix('mseOutputGradient', 'yTrain', yTrain);
  assertFinite('mseOutputGradient', 'yTrain', y);
  const scale = effectiveRate(1, loss, y.rows * y.cols);
  return (f: Matrix): Matrix => {
    assertShape('mseOutputGradient', 'fTrain', f, y.rows, y.cols);
    const g = matrix(y.rows, y.cols);
    for (let i = 0; i < g.data.length; i++) g.data[i] = scale * (f.data[i] - y.data[i]);
    return g;
  };
}

// Sample groups of a cross-entropy layout: each sample is `classes` consecutive entries.
function crossEntropyLayout(fn: string, y: Matrix, opts: CrossEntropyOptions): { samples: number; classes: number } {
  if (opts.reduction !== 'sum' && opts.reduction !== 'mean') {
    throw new Error(`${fn}: reduction must be 'sum' or 'mean', got '${String(opts.reduction)}'`);
  }
  if (y.cols > 1) {
    if (opts.classes !== undefined && opts.classes !== y.cols) {
      throw new Error(`${fn}: classes=${opts.classes} contradicts the ${shapeOf(y)} target layout (one sample per row)`);
    }
    return { samples: y.rows, classes: y.cols };
  }
  const k = opts.classes;
  if (k === undefined || !Number.isInteger(k) || k < 1 || y.rows % k !== 0) {
    throw new Error(`${fn}: a ${shapeOf(y)} column of targets needs 'classes' dividing ${y.rows}, got ${k}`);
  }
  return { samples: y.rows / k, classes: k };
}

function checkTargets(fn: string, y: Matrix, classes: number): void {
  assertFinite(fn, 'yTrain', y);
  const samples = y.data.length / classes;
  for (let s = 0; s < samples; s++) {
    let sum = 0;
    for (let j = 0; j < classes; j++) {
      const v = y.data[s * classes + j];
      if (v < 0) throw new Error(`${fn}: target of sample ${s}, class ${j} is negative (${v})`);
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-9) {
      throw new Error(`${fn}: targets of sample ${s} sum to ${sum}; cross-entropy targets must be probability vectors`);
    }
  }
}

/**
 * Gradient of the softmax cross-entropy L = sum_samples -sum_j y_j log softmax(f)_j (divided
 * by the number of samples for `'mean'`): softmax(f) - Y per sample. Layouts: a |D| x k target
 * matrix has one sample per row (traced kernel); an n x 1 column holds |D| samples of
 * `classes` consecutive entries each (full kernel, sample-major flattening).
 *
 * @example
 * const grad = crossEntropyOutputGradient(oneHot, { reduction: 'sum' }); // softmax(f) - oneHot
 */
export function crossEntropyOutputGradient(yTrain: MatrixInput, opts: CrossEntropyOptions): OutputGradient {
  const fn = 'crossEntropyOutputGradient';
  const y = toMatrix(fn, 'yTrain', yTrain);
  const { samples, classes } = crossEntropyLayout(fn, y, opts);
  checkTargets(fn, y, classes);
  const scale = opts.reduction === 'mean' ? 1 / samples : 1;
  return (f: Matrix): Matrix => {
    assertShape(fn, 'fTrain', f, y.rows, y.cols);
    const g = matrix(y.rows, y.cols);
    for (let s = 0; s < samples; s++) {
      const o = s * classes;
      let mx = -Infinity;
      for (let j = 0; j < classes; j++) mx = Math.max(mx, f.data[o + j]);
      let z = 0;
      for (let j = 0; j < classes; j++) z += Math.exp(f.data[o + j] - mx);
      for (let j = 0; j < classes; j++) g.data[o + j] = scale * (Math.exp(f.data[o + j] - mx) / z - y.data[o + j]);
    }
    return g;
  };
}

/**
 * Softmax cross-entropy loss value in the same layouts and reductions as {@link crossEntropyOutputGradient}.
 *
 * @example
 * crossEntropyLoss(fromRows([[0, 0]]), fromRows([[1, 0]]), { reduction: 'sum' }); // Math.LN2
 */
export function crossEntropyLoss(f: MatrixInput, yTrain: MatrixInput, opts: CrossEntropyOptions): number {
  const fn = 'crossEntropyLoss';
  const y = toMatrix(fn, 'yTrain', yTrain);
  const fm = toMatrix(fn, 'f', f);
  const { samples, classes } = crossEntropyLayout(fn, y, opts);
  assertShape(fn, 'f', fm, y.rows, y.cols);
  let total = 0;
  for (let s = 0; s < samples; s++) {
    const o = s * classes;
    let mx = -Infinity;
    for (let j = 0; j < classes; j++) mx = Math.max(mx, fm.data[o + j]);
    let z = 0;
    for (let j = 0; j < classes; j++) z += Math.exp(fm.data[o + j] - mx);
    const logZ = mx + Math.log(z);
    for (let j = 0; j < classes; j++) {
      const yj = y.data[o + j];
      if (yj !== 0) total -= yj * (fm.data[o + j] - logZ);
    }
  }
  return opts.reduction === 'mean' ? total / samples : total;
}

interface Prepared {
  n: number;
  m: number;
  c: number;
  theta: Matrix;
  thetaTestTrain?: Matrix;
  f0Train: Matrix;
  f0Test?: Matrix;
}

function prepare(fn: string, inputs: FunctionSpaceInputs): Prepared {
  const theta = toMatrix(fn, 'thetaTrain', inputs.thetaTrain);
  assertFinite(fn, 'thetaTrain', theta);
  assertSymmetric(fn, 'thetaTrain', theta, inputs.symmetryTolerance);
  const n = theta.rows;
  const f0Train = toMatrix(fn, 'f0Train', inputs.f0Train);
  if (f0Train.rows !== n) throw new Error(`${fn}: f0Train must have ${n} rows to match thetaTrain, got ${shapeOf(f0Train)}`);
  const c = f0Train.cols;
  assertFinite(fn, 'f0Train', f0Train);
  if (!(Number.isFinite(inputs.eta) && inputs.eta > 0)) throw new Error(`${fn}: eta must be a finite positive number, got ${inputs.eta}`);
  if (typeof inputs.gradient !== 'function') throw new Error(`${fn}: gradient must be a function of the train outputs`);
  const hasTheta = inputs.thetaTestTrain !== undefined;
  const hasF0 = inputs.f0Test !== undefined;
  if (hasTheta !== hasF0) throw new Error(`${fn}: thetaTestTrain and f0Test must be given together`);
  if (!hasTheta) return { n, m: 0, c, theta, f0Train };
  const thetaTestTrain = toMatrix(fn, 'thetaTestTrain', inputs.thetaTestTrain!);
  const f0Test = toMatrix(fn, 'f0Test', inputs.f0Test!);
  const m = thetaTestTrain.rows;
  assertShape(fn, 'thetaTestTrain', thetaTestTrain, m, n);
  assertFinite(fn, 'thetaTestTrain', thetaTestTrain);
  assertShape(fn, 'f0Test', f0Test, m, c);
  assertFinite(fn, 'f0Test', f0Test);
  return { n, m, c, theta, thetaTestTrain, f0Train, f0Test };
}

function checkedGradient(fn: string, p: Prepared, gradient: OutputGradient, fTrain: Matrix): Matrix {
  const g = gradient(fTrain);
  assertShape(fn, 'gradient(fTrain)', g, p.n, p.c);
  return g;
}

function split(p: Prepared, y: Float64Array, offset: number): { train: Matrix; test?: Matrix } {
  const nc = p.n * p.c;
  const train = matrix(p.n, p.c, y.subarray(offset, offset + nc));
  if (p.m === 0 || p.f0Test === undefined) return { train };
  return { train, test: matrix(p.m, p.c, y.subarray(offset + nc, offset + nc + p.m * p.c)) };
}

function initialState(p: Prepared, extra: number): Float64Array {
  const nc = p.n * p.c;
  const state = new Float64Array((nc + p.m * p.c) * extra);
  state.set(p.f0Train.data, 0);
  if (p.f0Test !== undefined) state.set(p.f0Test.data, nc);
  return state;
}

/**
 * Integrates the function-space gradient flow of the linearized model for train and test
 * points jointly: f'(X) = -eta Theta(X, X) g, f'(x) = -eta Theta(x, X) g, g = gradient(f(X)),
 * with Dormand–Prince 5(4). Times are non-decreasing, >= 0 and finite.
 *
 * @example
 * const grad = crossEntropyOutputGradient(oneHot, { reduction: 'mean' });
 * const traj = integrateFunctionSpace({ thetaTrain, thetaTestTrain, f0Train, f0Test, eta: 1, gradient: grad }, [0, 10, 100]);
 * traj.test?.[2]; // test logits at t = 100
 */
export function integrateFunctionSpace(
  inputs: FunctionSpaceInputs,
  times: readonly number[],
  ode: DopriOptions = {},
): FunctionSpaceTrajectory {
  const fn = 'integrateFunctionSpace';
  const p = prepare(fn, inputs);
  checkOdeTimes(fn, times);
  const nc = p.n * p.c;
  const eta = inputs.eta;
  const rhs = (_t: number, y: Float64Array, dy: Float64Array): void => {
    const { train } = split(p, y, 0);
    const g = checkedGradient(fn, p, inputs.gradient, train);
    const dTrain = matmul(p.theta, g);
    for (let i = 0; i < nc; i++) dy[i] = -eta * dTrain.data[i];
    if (p.thetaTestTrain !== undefined) {
      const dTest = matmul(p.thetaTestTrain, g);
      for (let i = 0; i < dTest.data.length; i++) dy[nc + i] = -eta * dTest.data[i];
    }
  };
  const sol = dopri5(rhs, 0, initialState(p, 1), times, ode);
  return packTrajectory(p, sol.times, sol.states, 0, sol.stats);
}

/**
 * Explicit heavy-ball iteration of the linearized model (PAPER.md section 5), train and test jointly:
 * f_{i+1}(x) = f_i(x) - eta Theta(x, X) gradient(f_i(X)) + beta (f_i(x) - f_{i-1}(x)), f_{-1} = f_0.
 * With beta = 0 it is plain discrete gradient descent. `times` in the result are the step counts.
 *
 * @example
 * const traj = momentumDiscrete({ thetaTrain, f0Train, eta: 0.1, beta: 0.9, gradient: mseOutputGradient(y, 'sum/2') }, [0, 10, 100]);
 */
export function momentumDiscrete(inputs: MomentumInputs, steps: readonly number[]): FunctionSpaceTrajectory {
  const fn = 'momentumDiscrete';
  const p = prepare(fn, inputs);
  checkBeta(fn, inputs.beta);
  let prevStep = 0;
  for (const s of steps) {
    if (!Number.isSafeInteger(s) || s < prevStep) {
      throw new Error(`${fn}: steps must be non-decreasing non-negative integers, got ${s} after ${prevStep}`);
    }
    prevStep = s;
  }
  const nc = p.n * p.c;
  const eta = inputs.eta;
  const beta = inputs.beta;
  let cur: Float64Array = initialState(p, 1);
  let prev: Float64Array = Float64Array.from(cur);
  const states: Float64Array[] = [];
  let step = 0;
  for (const target of steps) {
    while (step < target) {
      const { train } = split(p, cur, 0);
      const g = checkedGradient(fn, p, inputs.gradient, train);
      const dTrain = matmul(p.theta, g);
      const next = new Float64Array(cur.length);
      for (let i = 0; i < nc; i++) next[i] = cur[i] - eta * dTrain.data[i] + beta * (cur[i] - prev[i]);
      if (p.thetaTestTrain !== undefined) {
        const dTest = matmul(p.thetaTestTrain, g);
        for (let i = 0; i < dTest.data.length; i++) {
          next[nc + i] = cur[nc + i] - eta * dTest.data[i] + beta * (cur[nc + i] - prev[nc + i]);
        }
      }
      prev = cur;
      cur = next;
      step++;
    }
    states.push(Float64Array.from(cur));
  }
  return packTrajectory(p, steps.slice(), states, 0);
}

/**
 * Continuous time of momentum step i: t = i * sqrt(eta).
 *
 * @example
 * momentumTime(100, 0.01); // 10
 */
export function momentumTime(step: number, eta: number): number {
  return step * Math.sqrt(eta);
}

/**
 * Friction of the continuous momentum ODE: beta~ = (beta - 1) / sqrt(eta).
 *
 * @example
 * momentumFriction(0.9, 0.01); // -1
 */
export function momentumFriction(beta: number, eta: number): number {
  return (beta - 1) / Math.sqrt(eta);
}

/**
 * Continuous-time momentum dynamics (PAPER.md section 5) in t = i * sqrt(eta):
 * f'' = beta~ f' - Theta gradient(f(X)), beta~ = (beta - 1) / sqrt(eta), f(0) = f_0, f'(0) = 0,
 * for train and test points jointly (Dormand–Prince on the first-order system (f, f')).
 * `eta` enters only through beta~; `times` are continuous times (see {@link momentumTime}).
 *
 * @example
 * const traj = momentumContinuous({ thetaTrain, f0Train, eta: 0.01, beta: 0.9, gradient }, [momentumTime(100, 0.01)]);
 */
export function momentumContinuous(inputs: MomentumInputs, times: readonly number[], ode: DopriOptions = {}): FunctionSpaceTrajectory {
  const fn = 'momentumContinuous';
  const p = prepare(fn, inputs);
  checkBeta(fn, inputs.beta);
  checkOdeTimes(fn, times);
  const friction = momentumFriction(inputs.beta, inputs.eta);
  const total = (p.n + p.m) * p.c;
  const nc = p.n * p.c;
  const rhs = (_t: number, y: Float64Array, dy: Float64Array): void => {
    const { train } = split(p, y, 0);
    const g = checkedGradient(fn, p, inputs.gradient, train);
    const force = matmul(p.theta, g);
    for (let i = 0; i < total; i++) dy[i] = y[total + i];
    for (let i = 0; i < nc; i++) dy[total + i] = friction * y[total + i] - force.data[i];
    if (p.thetaTestTrain !== undefined) {
      const forceTest = matmul(p.thetaTestTrain, g);
      for (let i = 0; i < forceTest.data.length; i++) dy[total + nc + i] = friction * y[total + nc + i] - forceTest.data[i];
    }
  };
  const sol = dopri5(rhs, 0, initialState(p, 2), times, ode);
  return packTrajectory(p, sol.times, sol.states, 0, sol.stats);
}

function checkBeta(fn: string, beta: number): void {
  if (!Number.isFinite(beta)) throw new Error(`${fn}: beta must be finite, got ${beta}`);
}

function checkOdeTimes(fn: string, times: readonly number[]): void {
  let prev = 0;
  for (const t of times) {
    if (!Number.isFinite(t) || t < prev) {
      throw new Error(`${fn}: times must be finite, non-decreasing and >= 0 (no closed form at Infinity); got ${t} after ${prev}`);
    }
    prev = t;
  }
}

function packTrajectory(
  p: Prepared,
  times: number[],
  states: Float64Array[],
  offset: number,
  stats?: OdeStats,
): FunctionSpaceTrajectory {
  const train: Matrix[] = [];
  const test: Matrix[] = [];
  for (const s of states) {
    const parts = split(p, s, offset);
    train.push(parts.train);
    if (parts.test !== undefined) test.push(parts.test);
  }
  const base = { times, train, ...(stats === undefined ? {} : { stats }) };
  return p.f0Test !== undefined ? { ...base, test } : base;
}
