/**
 * The GP view (the paper's Figure 2 in one input dimension): an ensemble of fully connected
 * networks (the chosen activation, width, depth, sigma^2 and parameterization), each initialized
 * independently and trained by full-batch gradient descent on 1/2 sum (f - y)^2, against the
 * Gaussian process that infinitely wide networks trained the same way follow (exact for discrete
 * GD, PAPER.md section 7): mean and +-2 sd along a line of inputs.
 *
 * Data: the synthetic regression (datasets.ts) with at most 16 training points, so the band is
 * visible between them. 1-D: the line is the input axis; 2-D: the segment through the first two
 * training points, extended by a quarter on each side (the paper's interpolation). The kernels
 * are analytic, float64, on the CPU backend; the networks train on the current backend.
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { infiniteKernels, infinitePredictor } from '../../linearize/infinite.ts';
import { matrix, symmetricEigen } from '../../linalg/dense.ts';
import type { GpPrediction } from '../../linearize/gp.ts';
import type { Params } from '../../models/index.ts';
import { synthetic } from './datasets.ts';
import { buildNetwork } from './network.ts';
import type { AppSettings } from './settings.ts';

export const GP_MAX_TRAIN = 16;
const LINE_POINTS = 81;

export interface GpView {
  /** The horizontal coordinate: x (1-D) or alpha along x0 -> x1 (2-D). */
  axis: 'x' | 'alpha';
  line: number[];
  /** Training points on the line (1-D: all of them; 2-D: x0 at alpha 0 and x1 at alpha 1). */
  trainAt: number[];
  trainY: number[];
  steps: number;
  lr: number;
  /** The GP at t = 0 (the prior over initializations) and after `steps` GD steps. */
  prior: { mean: number[]; sd: number[] };
  gp: { mean: number[]; sd: number[] };
  /** Over the networks trained so far (Bessel-corrected sd). */
  ensemble: { count: number; of: number; mean: number[]; sd: number[]; members: number[][] };
  /** max over the line of |ensemble mean - GP mean| and |ensemble sd - GP sd|. */
  maxMeanDiff: number;
  maxSdDiff: number;
}

function sdOf(p: GpPrediction, i: number): number {
  return Math.sqrt(Math.max(p.covariance.data[i * p.covariance.cols + i], 0));
}

/** Runs the ensemble on the current backend (`backend`), calling `onUpdate` after each network. */
export async function runGpView(s: AppSettings, backend: 'cpu' | 'webgpu', onUpdate: (v: GpView) => void, progress: (phase: string, done: number, total: number) => void): Promise<GpView> {
  const dim = s.data === 'synth2d' ? 2 : 1;
  const n = Math.min(s.trainSize, GP_MAX_TRAIN);
  const data = synthetic(dim, { trainSize: n, testSize: 1, seed: s.seed });
  const xTrain = Float64Array.from(data.xTrain);
  const yTrain = Float64Array.from(data.yTrain);
  const line = Array.from({ length: LINE_POINTS }, (_, k) => (dim === 1 ? -2.5 + (5 * k) / (LINE_POINTS - 1) : -0.25 + (1.5 * k) / (LINE_POINTS - 1)));
  const xLine = new Float64Array(LINE_POINTS * dim);
  line.forEach((a, k) => {
    if (dim === 1) xLine[k] = a;
    else for (let j = 0; j < 2; j++) xLine[k * 2 + j] = (1 - a) * xTrain[j] + a * xTrain[2 + j];
  });
  const net = buildNetwork({ ...s, arch: 'fc' }, 2);

  progress('GP: analytic kernels', 0, 1);
  await tg.setBackend('cpu');
  let kernels;
  try {
    kernels = infiniteKernels(net, { shape: [n, dim], data: xTrain }, { shape: [LINE_POINTS, dim], data: xLine });
  } finally {
    await tg.setBackend(backend);
  }
  const lambdaMax = symmetricEigen(kernels.thetaTrainTrain).values[n - 1];
  const lr = 1 / lambdaMax;
  const gp = infinitePredictor({ kernels, yTrain: matrix(n, 1, yTrain), eta: lr, loss: 'sum/2' });
  const [p0, pT] = gp.predictSteps([0, s.steps]);
  const prior = { mean: line.map((_, i) => p0.mean.data[i]), sd: line.map((_, i) => sdOf(p0, i)) };
  const gpT = { mean: line.map((_, i) => pT.mean.data[i]), sd: line.map((_, i) => sdOf(pT, i)) };
  progress('GP: analytic kernels', 1, 1);

  const xT = tg.keep(tg.tensor(Float32Array.from(xTrain), [n, dim]));
  const yT = tg.keep(tg.tensor(Float32Array.from(yTrain), [n, 1]));
  const xL = tg.keep(tg.tensor(Float32Array.from(xLine), [LINE_POINTS, dim]));
  const apply = (p: Params, x: Tensor) => net.apply(p, x) as Tensor;
  const grad = tg.grad((p: Params) => tg.mse(apply(p, xT), yT, 'sum/2'));
  const outputs: Float32Array[] = [];
  const view = (): GpView => {
    const M = outputs.length;
    const mean = line.map((_, i) => outputs.reduce((a, f) => a + f[i], 0) / M);
    const sd = line.map((_, i) => (M > 1 ? Math.sqrt(outputs.reduce((a, f) => a + (f[i] - mean[i]) ** 2, 0) / (M - 1)) : 0));
    return {
      axis: dim === 1 ? 'x' : 'alpha',
      line,
      trainAt: dim === 1 ? Array.from(xTrain) : [0, 1],
      trainY: dim === 1 ? Array.from(yTrain) : [yTrain[0], yTrain[1]],
      steps: s.steps,
      lr,
      prior,
      gp: gpT,
      ensemble: { count: M, of: s.ensemble, mean, sd, members: outputs.slice(0, 8).map((f) => Array.from(f)) },
      maxMeanDiff: Math.max(...mean.map((v, i) => Math.abs(v - gpT.mean[i]))),
      maxSdDiff: Math.max(...sd.map((v, i) => Math.abs(v - gpT.sd[i]))),
    };
  };
  try {
    for (let member = 0; member < s.ensemble; member++) {
      const params0 = tg.keep(net.init(tg.foldIn(tg.key(s.seed + 1), member), [-1, dim], 'float32').params);
      let params = params0;
      for (let step = 0; step < s.steps; step++) {
        const next = tg.tidy(() => tg.keep(tg.treeZip([params, grad(params)], ([p, g]) => tg.sub(p, tg.mul(g, lr)))));
        if (params !== params0) tg.dispose(params);
        params = next;
      }
      const f = tg.tidy(() => apply(params, xL));
      outputs.push((await f.data()) as Float32Array);
      f.dispose();
      if (params !== params0) tg.dispose(params);
      tg.dispose(params0);
      progress('GP: ensemble', member + 1, s.ensemble);
      onUpdate(view());
    }
  } finally {
    tg.dispose([xT, yT, xL]);
  }
  return view();
}
