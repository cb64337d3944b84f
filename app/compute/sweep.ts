/**
 * The width sweep: the same architecture at several widths, run in turn, each trained by gradient
 * descent for the same number of steps at its own eta = 1/lambda_max (half its stable threshold),
 * against its closed-form linearization. The gap RMSE(network, linearization) on the test set and
 * the relative NTK change shrink with width; the page fits their slopes on log-log axes (the
 * paper: about -1 for the gap of FC networks, -1/2 for the NTK change).
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { matrixFromTensor } from '../../linearize/matrix-input.ts';
import { empiricalNtk } from '../../linearize/ntk.ts';
import type { Params } from '../../models/index.ts';
import type { StudyData } from './datasets.ts';
import { buildNetwork } from './network.ts';
import type { AppSettings } from './settings.ts';
import { rmse } from '../../cli/study-common.ts';
import { closedForm } from './study.ts';

export interface SweepPoint {
  width: number;
  /** RMSE over the test set between the network and the closed-form linearization after the last step. */
  rmse: number;
  /** ||Theta_T - Theta_0||_F / ||Theta_0||_F on train x train. */
  ntkChange: number;
  lr: number;
  seconds: number;
}

export interface SweepResult {
  steps: number;
  points: SweepPoint[];
  /** Least-squares slopes of log(value) against log(width); null with fewer than two points. */
  rmseSlope: number | null;
  ntkChangeSlope: number | null;
}

/**
 * Least-squares slope of log y against log x.
 * @example logLogSlope([1, 2, 4], [1, 0.5, 0.25]) // -1
 */
export function logLogSlope(x: readonly number[], y: readonly number[]): number | null {
  const pairs = x.map((v, i) => [Math.log(v), Math.log(y[i])]).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  if (pairs.length < 2) return null;
  const mx = pairs.reduce((s, [a]) => s + a, 0) / pairs.length;
  const my = pairs.reduce((s, [, b]) => s + b, 0) / pairs.length;
  let sxy = 0;
  let sxx = 0;
  for (const [a, b] of pairs) {
    sxy += (a - mx) * (b - my);
    sxx += (a - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : null;
}

function frobeniusDiff(a: Float64Array, b: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Runs the sweep over `s.sweep` on the current backend; `onPoint` sees the result after each width. */
export async function runWidthSweep(s: AppSettings, data: StudyData, onPoint: (r: SweepResult) => void, progress: (phase: string, done: number, total: number) => void): Promise<SweepResult> {
  const rank = data.inputShape.length === 1 ? 2 : 4;
  const shape = (n: number) => [n, ...data.inputShape];
  const xTrain = tg.keep(tg.tensor(data.xTrain, shape(s.trainSize)));
  const yTrain = tg.keep(tg.tensor(data.yTrain, [s.trainSize, 1]));
  const xTest = tg.keep(tg.tensor(data.xTest, shape(s.testSize)));
  const result: SweepResult = { steps: s.steps, points: [], rmseSlope: null, ntkChangeSlope: null };
  const total = s.sweep.length * s.steps;
  try {
    for (const [k, width] of s.sweep.entries()) {
      const t0 = performance.now();
      const net = buildNetwork({ ...s, width }, rank);
      const apply = (p: Params, x: Tensor) => net.apply(p, x) as Tensor;
      const params0 = tg.keep(net.init(tg.key(s.seed), [-1, ...data.inputShape], 'float32').params);
      const read = async (t: Tensor) => {
        const m = await matrixFromTensor(t);
        t.dispose();
        return m;
      };
      const thetaTrain = await read(tg.tidy(() => empiricalNtk(apply, params0, xTrain, xTrain)));
      const thetaTestTrain = await read(tg.tidy(() => empiricalNtk(apply, params0, xTest, xTrain)));
      const f0Train = await read(tg.tidy(() => apply(params0, xTrain)));
      const f0Test = await read(tg.tidy(() => apply(params0, xTest)));
      const { flow, lr } = closedForm({ thetaTrain, thetaTestTrain, f0Train, f0Test, yTrain: data.yTrain }, s.loss, null);
      const [closedTest] = flow.gdTestAt([s.steps]);
      const grad = tg.grad((p: Params) => tg.mse(apply(p, xTrain), yTrain, s.loss));
      let params = params0;
      let last = performance.now();
      for (let step = 0; step < s.steps; step++) {
        const next = tg.tidy(() => tg.keep(tg.treeZip([params, grad(params)], ([p, g]) => tg.sub(p, tg.mul(g, lr)))));
        if (params !== params0) tg.dispose(params);
        params = next;
        if (performance.now() - last > 100) {
          // A read now and then keeps WebGPU's queue from running far ahead of the progress shown.
          await tg.tidy(() => tg.slice(tg.reshape(tg.treeLeaves(params)[0], [-1]), [0], [1])).data();
          progress(`width sweep: width ${width}`, k * s.steps + step + 1, total);
          last = performance.now();
        }
      }
      const fT = await read(tg.tidy(() => apply(params, xTest)));
      const thetaT = await read(tg.tidy(() => empiricalNtk(apply, params, xTrain, xTrain)));
      if (params !== params0) tg.dispose(params);
      tg.dispose(params0);
      result.points.push({ width, rmse: rmse(fT.data, closedTest.data), ntkChange: frobeniusDiff(thetaT.data, thetaTrain.data), lr, seconds: (performance.now() - t0) / 1000 });
      result.rmseSlope = logLogSlope(result.points.map((p) => p.width), result.points.map((p) => p.rmse));
      result.ntkChangeSlope = logLogSlope(result.points.map((p) => p.width), result.points.map((p) => p.ntkChange));
      progress(`width sweep: width ${width}`, (k + 1) * s.steps, total);
      onPoint({ ...result, points: [...result.points] });
    }
  } finally {
    tg.dispose([xTrain, yTrain, xTest]);
  }
  return result;
}
