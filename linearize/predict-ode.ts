/**
 * neural-tangents' `predict.gradient_descent` (and its momentum form): function-space training of
 * the linearized network for ANY differentiable loss, by integrating the ODE with adaptive
 * Dormand–Prince (ode.ts), the loss gradient taken by the engine's autodiff in float64.
 *
 *   gradient descent: f' = -Theta grad_f L(f, y), time in units of learningRate (t_abs = lr t)
 *   momentum m:       f'' = -Theta grad_f L + ((m - 1) / sqrt(lr)) f', t_abs = sqrt(lr) t
 * for the train outputs and, through Theta(x, X), the test outputs. `loss(fx, yTrain)` receives
 * float64 CPU tensors shaped like yTrain and returns a scalar tensor (e.g. 0.5 * mean((f - y)^2),
 * or -mean(logSoftmax(f) * y)). Kernels follow predict.ts (traceAxes, zipped or matrix form).
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { matmul, type Matrix } from '../linalg/dense.ts';
import { dopri5, type DopriOptions } from './ode.ts';
import { assertFiniteArray, readArray, toTensor, type ArrayInput } from './host-array.ts';
import { checkOptions, outputMatrix, readTargets, trainKernel, type Predictions } from './predict.ts';

/** The full ODE state (neural-tangents' `ODEState`): outputs and, with momentum, their velocities. */
export class ODEState {
  constructor(
    readonly fxTrain: Tensor | null = null,
    readonly fxTest: Tensor | null = null,
    readonly qxTrain: Tensor | null = null,
    readonly qxTest: Tensor | null = null,
  ) {}
}

/** A differentiable loss of the train outputs: (fx, yTrain) -> scalar tensor. */
export type OutputLoss = (fx: Tensor, yTrain: Tensor) => Tensor;

/** Options of {@link gradientDescent}. */
export interface GradientDescentOptions {
  learningRate?: number;
  /** Heavy-ball momentum (null / omitted: plain gradient descent). */
  momentum?: number | null;
  traceAxes?: readonly number[];
  /** Integrator settings (default rtol 1e-10, atol 1e-12). */
  ode?: DopriOptions;
}

/**
 * Builds `predict(t, fxTrainOrState0 = 0, fxTest0?, kTestTrain?)`: outputs after training time(s)
 * t (a number or a non-decreasing list, finite: the ODE has no infinite-time form; for MSE use
 * gradientDescentMse). With an ODEState as second argument the full state comes back.
 * @example
 * const ce = (f, y) => tg.neg(tg.mean(tg.mul(tg.logSoftmax(f, -1), y)));
 * const predict = gradientDescent(ce, ntkTrainTrain, yTrain, { learningRate: 1, momentum: 0.9 });
 * const { train, test } = predict([10, 100], fxTrain0, fxTest0, ntkTestTrain);
 */
export function gradientDescent(loss: OutputLoss, kTrainTrain: ArrayInput, yTrain: ArrayInput, opts: GradientDescentOptions = {}) {
  const fn = opts.momentum === undefined || opts.momentum === null ? 'gradientDescent' : 'gradientDescent (momentum)';
  if (typeof loss !== 'function') throw new Error(`${fn}: loss must be a function (fx, yTrain) => scalar tensor, got ${typeof loss}`);
  const { ode, momentum: mom, ...rest } = opts;
  const o = checkOptions(fn, rest);
  if (mom !== undefined && mom !== null && !(typeof mom === 'number' && Number.isFinite(mom))) throw new Error(`${fn}: momentum must be a finite number or null, got ${String(mom)}`);
  const hasMomentum = mom !== undefined && mom !== null;
  if (hasMomentum && !(o.learningRate > 0)) throw new Error(`${fn}: momentum needs learningRate > 0, got ${o.learningRate}`);
  const { y, layout } = readTargets(fn, yTrain, o.traceAxes);
  const n = y.shape[0];
  const K = trainKernel(layout, 'kTrainTrain', kTrainTrain, n);
  const cpu = tg.backendInstance('cpu')!;
  const yTensor = tg.keep(tg.tensor(y.data, y.shape, 'float64', cpu));
  const timeScale = hasMomentum ? Math.sqrt(o.learningRate) : o.learningRate;
  const friction = hasMomentum ? (mom! - 1) / Math.sqrt(o.learningRate) : 0;
  const gradLoss = tg.grad((f: Tensor) => {
    const v = loss(f, yTensor);
    if (!(v instanceof tg.Tensor) || v.size !== 1) throw new Error(`${fn}: loss must return a scalar tensor, got ${v instanceof tg.Tensor ? `shape [${v.shape.join(',')}]` : typeof v}`);
    return tg.reshape(v, []);
  });
  // grad_f L as a matrix [rows, cols] in the traced layout, from the train outputs in that layout.
  const lossGradient = (fMatrix: Float64Array): Matrix => tg.tidy(() => {
    const f = layout.fromMatrix(fMatrix, n);
    const g = gradLoss(tg.tensor(f.data, f.shape, 'float64', cpu));
    return layout.toMatrix('grad of loss', { shape: [...g.shape], data: Float64Array.from(g.dataSync()) }, n);
  });

  return (t: number | readonly number[], fxTrainOrState0: ArrayInput | number | null | ODEState = 0, fxTest0?: ArrayInput | number | null, kTestTrain?: ArrayInput | null): Predictions | ODEState => {
    const asState = fxTrainOrState0 instanceof ODEState;
    if (asState && fxTest0 !== undefined && fxTest0 !== null) throw new Error(`${fn}: with an ODEState, pass the test outputs inside it (fxTest0 must be omitted)`);
    const state0 = asState ? fxTrainOrState0 : null;
    const fx0In = asState ? state0!.fxTrain : (fxTrainOrState0 as ArrayInput | number | null);
    const ft0In = asState ? state0!.fxTest : fxTest0 ?? null;
    if (!hasMomentum && state0 && (state0.qxTrain || state0.qxTest)) throw new Error(`${fn}: the ODEState has momentum variables but momentum is null`);
    const times = typeof t === 'number' ? [t] : Array.isArray(t) ? [...t] : null;
    if (times === null || times.some((v) => typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new Error(`${fn}: t must be a finite time >= 0 or a list of them (the ODE has no infinite-time form; for MSE use gradientDescentMse with t = null), got ${String(t)}`);
    }
    for (let i = 1; i < times.length; i++) if (times[i] < times[i - 1]) throw new Error(`${fn}: times must be non-decreasing, got [${times.join(', ')}]`);
    const wantTest = ft0In !== null && ft0In !== undefined;
    let Ktd: Matrix | undefined;
    let m = 0;
    if (wantTest) {
      if (kTestTrain === undefined || kTestTrain === null) throw new Error(`${fn}: test predictions need kTestTrain`);
      const a = readArray(fn, 'kTestTrain', kTestTrain);
      assertFiniteArray(fn, 'kTestTrain', a);
      const km = layout.kernelMatrix('kTestTrain', a, n);
      Ktd = km.matrix;
      m = km.n1;
    }
    const F0 = outputMatrix(layout, 'fxTrain0', fx0In ?? 0, n);
    const Ft0 = wantTest ? outputMatrix(layout, 'fxTest0', ft0In!, m) : undefined;
    const a = F0.data.length;
    const b = Ft0 ? Ft0.data.length : 0;
    // State: [f_train, f_test, q_train, q_test] in the traced matrix layout.
    const y0 = new Float64Array(hasMomentum ? 2 * (a + b) : a + b);
    y0.set(F0.data, 0);
    if (Ft0) y0.set(Ft0.data, a);
    if (hasMomentum && state0) {
      if (state0.qxTrain) y0.set(outputMatrix(layout, 'qxTrain', state0.qxTrain, n).data, a + b);
      if (state0.qxTest && wantTest) y0.set(outputMatrix(layout, 'qxTest', state0.qxTest, m).data, 2 * a + b);
    }
    const rhs = (_t: number, s: Float64Array, ds: Float64Array) => {
      const G = lossGradient(s.subarray(0, a));
      const dTrain = matmul(K, G).data;
      const dTest = Ktd ? matmul(Ktd, G).data : undefined;
      if (!hasMomentum) {
        for (let i = 0; i < a; i++) ds[i] = -dTrain[i];
        if (dTest) for (let i = 0; i < b; i++) ds[a + i] = -dTest[i];
        return;
      }
      for (let i = 0; i < a + b; i++) ds[i] = s[a + b + i];
      for (let i = 0; i < a; i++) ds[a + b + i] = -dTrain[i] + friction * s[a + b + i];
      if (dTest) for (let i = 0; i < b; i++) ds[2 * a + b + i] = -dTest[i] + friction * s[2 * a + b + i];
    };
    const sol = dopri5(rhs, 0, y0, times.map((v) => v * timeScale), { rtol: 1e-10, atol: 1e-12, ...ode });
    const lead = typeof t === 'number' ? [] : [times.length];
    const gather = (offset: number, len: number, count: number): Tensor => {
      const all = new Float64Array(len * sol.states.length);
      sol.states.forEach((s, i) => all.set(s.subarray(offset, offset + len), i * len));
      return toTensor(layout.fromMatrix(all, count, lead));
    };
    const fxTrain = gather(0, a, n);
    const fxTest = wantTest ? gather(a, b, m) : null;
    if (asState) {
      return new ODEState(fxTrain, fxTest, hasMomentum ? gather(a + b, a, n) : null, hasMomentum && wantTest ? gather(2 * a + b, b, m) : null);
    }
    const out: { train?: Tensor; test?: Tensor } = {};
    if (fxTrainOrState0 !== null) out.train = fxTrain;
    if (fxTest) out.test = fxTest;
    return out;
  };
}

/**
 * Heavy-ball momentum in function space (neural-tangents' `gradient_descent(..., momentum=m)`,
 * the `predict.momentum` of its older releases): {@link gradientDescent} with `momentum` required.
 * @example const predict = momentum(mse, ntkTrainTrain, yTrain, { learningRate: 1e-2, momentum: 0.9 });
 */
export function momentum(loss: OutputLoss, kTrainTrain: ArrayInput, yTrain: ArrayInput, opts: GradientDescentOptions & { momentum: number }) {
  if (opts === null || typeof opts !== 'object' || typeof opts.momentum !== 'number') throw new Error(`momentum: opts.momentum must be a number, got ${String(opts?.momentum)}`);
  return gradientDescent(loss, kTrainTrain, yTrain, opts);
}
