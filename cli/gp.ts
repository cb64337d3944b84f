/**
 * `npm start -- gp`: the shape of the paper's Figure 2. An ensemble of finite tanh networks
 * (3 hidden layers, no bias, sigma_w^2 = 1.5), each initialized independently and trained by
 * full-batch gradient descent on MSE, against the Gaussian process the infinitely wide ensemble
 * follows (PAPER.md section 7): mean and +-2 standard deviations of the outputs along inputs
 * interpolated between two training points, at several times.
 *
 * Scaled to a 2-core CPU. The paper: width 8192, 100 networks, |D| = 128 CIFAR-10 inputs,
 * eta = 0.5 on the mean loss, t = 0, 16, 256, 65536 steps (prior, early, intermediate,
 * converged). Here: synthetic inputs on the sphere of radius sqrt(d) in d = 8 dimensions,
 * |D| = 8, targets +-1 (the two interpolation endpoints get opposite labels), eta = 1/lambda_max
 * of the analytic NTK (half the stable threshold) on the paper's 1/2 sum loss, and times
 * 0, 2, 16, 128 steps, which span the same four regimes for this kernel (its condition number is
 * ~10, so 128 steps converge every mode). The GP is the exact one for DISCRETE gradient descent
 * (A_i = Theta(x, X) Theta^{-1} (I - (I - eta Theta)^i)), and the t = infinity GP is shown too.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { infiniteKernels, infinitePredictor } from '../linearize/infinite.ts';
import { matrix, symmetricEigen } from '../linalg/dense.ts';
import type { GpPrediction } from '../linearize/gp.ts';
import { Dense, Tanh, paramCount, serial, type AnyLayer, type KernelLayer, type Params } from '../models/index.ts';
import type { GpStudyOptions } from './gp-command.ts';
import type { Progress } from './progress.ts';
import type { HtmlReport, PlotSpec } from './report.ts';

export { GP_DEFAULTS, GP_FLAGS, gpOptions, type GpStudyOptions } from './gp-command.ts';

/** One panel of the figure: outputs along the interpolation at one step. */
export interface GpPanel {
  step: number;
  /** GP (exact for discrete GD) mean and standard deviation at each alpha. */
  gpMean: number[];
  gpSd: number[];
  /** Ensemble mean and standard deviation (Bessel-corrected) at each alpha. */
  ensembleMean: number[];
  ensembleSd: number[];
  /** A few individual networks, for the picture. */
  members: number[][];
  /** max over alphas of |ensemble mean - GP mean| / (GP sd / sqrt(M)). */
  maxMeanZ: number;
  /** max over alphas of |ensemble var - GP var| / (GP var sqrt(2 / (M - 1))). */
  maxVarZ: number;
  /** max over alphas of |ensemble mean - GP mean| and |ensemble sd - GP sd| (absolute). */
  maxMeanDiff: number;
  maxSdDiff: number;
  /** What the PSD projection of the GP covariance changed (round-off). */
  psdClampMostNegative: number;
}

export interface GpStudyReport {
  options: GpStudyOptions;
  parameterCount: number;
  lr: number;
  maxStableLr: number;
  lambdaMin: number;
  lambdaMax: number;
  alpha: number[];
  /** Training targets at the two endpoints (alpha = 0 and 1). */
  endpointTargets: [number, number];
  panels: GpPanel[];
  /** The GP at t = infinity (all layers trained) and the NNGP posterior (readout trained to convergence). */
  infinity: { gpMean: number[]; gpSd: number[]; nngpMean: number[]; nngpSd: number[] };
  /** Mean training loss 1/2 mean (f - y)^2 over the ensemble vs its GP expectation, at every step. */
  trainLoss: { steps: number[]; ensemble: number[]; gp: number[] };
  seconds: { kernels: number; ensemble: number; total: number };
}

/** The paper's Figure 2 network: depth hidden tanh layers, NTK parameterization. */
export function figure2Network(o: Pick<GpStudyOptions, 'width' | 'depth' | 'sigmaW2' | 'sigmaB2'>): KernelLayer {
  const w = { W_std: Math.sqrt(o.sigmaW2), b_std: o.sigmaB2 > 0 ? Math.sqrt(o.sigmaB2) : null };
  const layers: AnyLayer[] = [];
  for (let i = 0; i < o.depth; i++) layers.push(Dense(o.width, w), Tanh());
  return serial(...layers, Dense(1, w)) as KernelLayer;
}

/** Synthetic data: |D| points on the sphere of radius sqrt(d), targets +-1 with x0 -> +1, x1 -> -1. */
function syntheticData(o: GpStudyOptions): { xTrain: Float64Array; yTrain: Float64Array; xInterp: Float64Array; alpha: number[] } {
  const { trainSize: n, inputDim: d } = o;
  const key = tg.key(o.seed);
  const raw = tg.tidy(() => Float64Array.from(tg.normal(tg.foldIn(key, 1), [n, d], 'float64').dataSync()));
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += raw[i * d + j] ** 2;
    const scale = Math.sqrt(d / s);
    for (let j = 0; j < d; j++) raw[i * d + j] *= scale;
  }
  const bits = tg.randomBits(tg.foldIn(key, 2), n);
  const yTrain = Float64Array.from({ length: n }, (_, i) => (i === 0 ? 1 : i === 1 ? -1 : bits[i] % 2 === 0 ? 1 : -1));
  // alpha = k / q on one grid through 0 and 1 (the training points x0 and x1 themselves).
  const q = o.testPoints - 1;
  const extra = Math.round(o.extrapolate * q);
  const alpha = Array.from({ length: q + 1 + 2 * extra }, (_, k) => (k - extra) / q);
  const m = alpha.length;
  const xInterp = new Float64Array(m * d);
  alpha.forEach((a, k) => {
    for (let j = 0; j < d; j++) xInterp[k * d + j] = (1 - a) * raw[j] + a * raw[d + j];
  });
  return { xTrain: raw, yTrain, xInterp, alpha };
}

function sdOf(p: GpPrediction, i: number): number {
  return Math.sqrt(Math.max(p.covariance.data[i * p.covariance.cols + i], 0));
}

/**
 * Runs the study: analytic kernels and the GP, then the ensemble trained by gradient descent.
 * @example const report = await runGpStudy({ ...GP_DEFAULTS, ensemble: 8 }, progressReporter(false), console.error);
 */
export async function runGpStudy(o: GpStudyOptions, progress: Progress, log: (s: string) => void): Promise<GpStudyReport> {
  const t0 = performance.now();
  await tg.setBackend('cpu'); // float64 networks: the GP comparison is at the 1e-3 level, keep round-off out of it
  const { xTrain, yTrain, xInterp, alpha } = syntheticData(o);
  const n = o.trainSize;
  const m = alpha.length;
  const d = o.inputDim;
  const net = figure2Network(o);

  // Analytic kernels on [X; x_interp; X] (the train points as test points give the GP's train loss).
  progress.start('kernels', 1, 'kernels');
  const tk = performance.now();
  const testAll = new Float64Array((m + n) * d);
  testAll.set(xInterp, 0);
  testAll.set(xTrain, m * d);
  const kernels = infiniteKernels(net, { shape: [n, d], data: xTrain }, { shape: [m + n, d], data: testAll });
  const lambdas = symmetricEigen(kernels.thetaTrainTrain).values;
  const lambdaMin = lambdas[0];
  const lambdaMax = lambdas[n - 1];
  const lr = o.lr ?? 1 / lambdaMax;
  const y = matrix(n, 1, yTrain);
  const gp = infinitePredictor({ kernels, yTrain: y, eta: lr, loss: 'sum/2' });
  if (!(lr < gp.maxStableEta)) {
    throw new Error(`--lr ${lr} is at or above the stable threshold 2/lambda_max = ${gp.maxStableEta.toPrecision(4)} of the analytic NTK; gradient descent would diverge`);
  }
  const kernelSeconds = (performance.now() - tk) / 1000;
  progress.update(1);
  progress.stop();
  log(`analytic NTK on |D| = ${n}: eigenvalues ${lambdaMin.toPrecision(3)} .. ${lambdaMax.toPrecision(3)}; eta = ${lr.toPrecision(4)}`);

  const maxStep = o.steps[o.steps.length - 1];
  const lossSteps = [...new Set([0, ...Array.from({ length: 40 }, (_, i) => Math.round(Math.pow(Math.max(maxStep, 1), i / 39)))])].filter((s) => s <= maxStep).sort((a, b) => a - b);
  const gpAtSteps = gp.predictSteps(o.steps);
  const gpLoss = gp.predictSteps(lossSteps).map((p) => {
    // E[1/2 mean (f(X) - Y)^2] = 1/(2n) (||mean(X) - Y||^2 + tr cov(X, X)) on the train rows (m..m+n).
    let s = 0;
    for (let i = 0; i < n; i++) s += (p.mean.data[m + i] - yTrain[i]) ** 2 + p.covariance.data[(m + i) * (m + n) + m + i];
    return s / (2 * n);
  });

  // The ensemble: independent initializations, full-batch GD on 1/2 sum (f - y)^2.
  const te = performance.now();
  const xT = tg.keep(tg.tensor(xTrain, [n, d], 'float64'));
  const yT = tg.keep(tg.tensor(yTrain, [n, 1], 'float64'));
  const xI = tg.keep(tg.tensor(xInterp, [m, d], 'float64'));
  const apply = (p: Params, x: Tensor) => net.apply(p, x) as Tensor;
  const valueAndGrad = tg.valueAndGrad((p: Params) => tg.mse(apply(p, xT), yT, 'sum/2'));
  const outputs: Float64Array[][] = o.steps.map(() => []); // [panel][member] -> outputs along alpha
  const lossSum = new Float64Array(lossSteps.length);
  let parameterCount = 0;
  progress.start('ensemble', o.ensemble * maxStep, 'steps');
  for (let member = 0; member < o.ensemble; member++) {
    const params0 = net.init(tg.foldIn(tg.key(o.seed + 1), member), [-1, d], 'float64').params;
    parameterCount = paramCount(params0);
    let params = params0;
    let panel = 0;
    let lossAt = 0;
    for (let step = 0; step <= maxStep; step++) {
      if (step === o.steps[panel]) {
        outputs[panel++].push(tg.tidy(() => Float64Array.from(apply(params, xI).dataSync())));
      }
      if (step === maxStep) {
        // The last step's loss needs one forward pass (no update follows it).
        if (lossSteps[lossAt] === step) lossSum[lossAt++] += tg.tidy(() => tg.mse(apply(params, xT), yT, 'mean/2').itemSync());
        break;
      }
      const [loss, g] = valueAndGrad(params);
      // The loss is 1/2 sum; report 1/2 mean.
      if (lossSteps[lossAt] === step) lossSum[lossAt++] += loss.itemSync() / n;
      const next = tg.tidy(() => tg.keep(tg.treeZip([params, g], ([p, gi]) => tg.sub(p, tg.mul(gi, lr)))));
      tg.dispose([loss, g]);
      if (params !== params0) tg.dispose(params);
      params = next;
      if (step % 8 === 7) progress.update(member * maxStep + step + 1, `network ${member + 1}/${o.ensemble}`);
    }
    if (params !== params0) tg.dispose(params);
    tg.dispose(params0);
    progress.update((member + 1) * maxStep, `network ${member + 1}/${o.ensemble}`);
  }
  progress.stop();
  tg.dispose([xT, yT, xI]);
  const ensembleSeconds = (performance.now() - te) / 1000;

  const M = o.ensemble;
  const panels: GpPanel[] = o.steps.map((step, k) => {
    const p = gpAtSteps[k];
    const ensembleMean = alpha.map((_, i) => outputs[k].reduce((s, f) => s + f[i], 0) / M);
    const ensembleVar = alpha.map((_, i) => (M > 1 ? outputs[k].reduce((s, f) => s + (f[i] - ensembleMean[i]) ** 2, 0) / (M - 1) : 0));
    let maxMeanZ = 0;
    let maxVarZ = 0;
    let maxMeanDiff = 0;
    let maxSdDiff = 0;
    alpha.forEach((_, i) => {
      const v = p.covariance.data[i * (m + n) + i];
      maxMeanDiff = Math.max(maxMeanDiff, Math.abs(ensembleMean[i] - p.mean.data[i]));
      maxSdDiff = Math.max(maxSdDiff, Math.abs(Math.sqrt(ensembleVar[i]) - sdOf(p, i)));
      // Points where the GP variance vanishes (training inputs at t = infinity) carry no z-score.
      if (v > 1e-10) {
        maxMeanZ = Math.max(maxMeanZ, Math.abs(ensembleMean[i] - p.mean.data[i]) / Math.sqrt(v / M));
        if (M > 1) maxVarZ = Math.max(maxVarZ, Math.abs(ensembleVar[i] - v) / (v * Math.sqrt(2 / (M - 1))));
      }
    });
    return {
      step,
      gpMean: alpha.map((_, i) => p.mean.data[i]),
      gpSd: alpha.map((_, i) => sdOf(p, i)),
      ensembleMean,
      ensembleSd: ensembleVar.map(Math.sqrt),
      members: outputs[k].slice(0, 8).map((f) => Array.from(f)),
      maxMeanZ,
      maxVarZ,
      maxMeanDiff,
      maxSdDiff,
      psdClampMostNegative: p.psdClamp.mostNegative,
    };
  });
  const [inf] = gp.predict([Infinity]);
  const post = gp.posterior();
  return {
    options: o,
    parameterCount,
    lr,
    maxStableLr: gp.maxStableEta,
    lambdaMin,
    lambdaMax,
    alpha,
    endpointTargets: [yTrain[0], yTrain[1]],
    panels,
    infinity: {
      gpMean: alpha.map((_, i) => inf.mean.data[i]),
      gpSd: alpha.map((_, i) => sdOf(inf, i)),
      nngpMean: alpha.map((_, i) => post.mean.data[i]),
      nngpSd: alpha.map((_, i) => sdOf(post, i)),
    },
    trainLoss: { steps: lossSteps, ensemble: Array.from(lossSum, (s) => s / M), gp: gpLoss },
    seconds: { kernels: kernelSeconds, ensemble: ensembleSeconds, total: (performance.now() - t0) / 1000 },
  };
}

/** The summary table. @example console.log(gpSummaryRows(report).map(([k, v]) => `${k}: ${v}`).join('\n')) */
export function gpSummaryRows(r: GpStudyReport): [string, string][] {
  const o = r.options;
  const rows: [string, string][] = [
    ['setup', `${o.ensemble} tanh networks, ${o.depth} hidden layers of width ${o.width} (${r.parameterCount.toLocaleString()} params), sigma_w^2 = ${o.sigmaW2}, ${o.sigmaB2 > 0 ? `sigma_b^2 = ${o.sigmaB2}` : 'no bias'}, NTK parameterization`],
    ['data', `|D| = ${o.trainSize} synthetic inputs on the sphere of radius sqrt(${o.inputDim}), targets +-1; ${r.alpha.length} inputs x = (1 - alpha) x0 + alpha x1, alpha in [${r.alpha[0]}, ${r.alpha[r.alpha.length - 1]}], x0 (y = ${r.endpointTargets[0]}) and x1 (y = ${r.endpointTargets[1]}) training points`],
    ['training', `full-batch GD on 1/2 sum (f - y)^2, eta = ${r.lr.toPrecision(4)} (stable below ${r.maxStableLr.toPrecision(4)}); analytic NTK eigenvalues ${r.lambdaMin.toPrecision(3)} .. ${r.lambdaMax.toPrecision(3)}`],
  ];
  for (const p of r.panels) {
    rows.push([
      `step ${p.step}: ensemble vs GP, max |diff| of mean / sd (max |z| of mean / variance)`,
      `${p.maxMeanDiff.toFixed(3)} / ${p.maxSdDiff.toFixed(3)} (${p.maxMeanZ.toFixed(1)} / ${p.maxVarZ.toFixed(1)})`,
    ]);
  }
  const last = r.trainLoss.steps.length - 1;
  rows.push(['final train loss 1/2 mean (f - y)^2: ensemble / GP', `${r.trainLoss.ensemble[last].toExponential(3)} / ${r.trainLoss.gp[last].toExponential(3)}`]);
  rows.push(['time (s): kernels / ensemble / total', `${r.seconds.kernels.toFixed(1)} / ${r.seconds.ensemble.toFixed(1)} / ${r.seconds.total.toFixed(1)}`]);
  return rows;
}

function band(x: number[], mean: number[], sd: number[], name: string, color: string): unknown[] {
  const upper = mean.map((v, i) => v + 2 * sd[i]);
  const lower = mean.map((v, i) => v - 2 * sd[i]);
  return [
    { x: [...x, ...[...x].reverse()], y: [...upper, ...[...lower].reverse()], fill: 'toself', fillcolor: color.replace('rgb', 'rgba').replace(')', ', 0.15)'), line: { width: 0 }, hoverinfo: 'skip', name: `${name} ±2 sd`, showlegend: true },
    { x, y: mean, mode: 'lines', line: { color, width: 2 }, name: `${name} mean` },
  ];
}

/** The HTML report: one panel per time, the loss curves and the t = infinity comparison. */
export function gpStudyHtml(r: GpStudyReport): HtmlReport {
  const x = r.alpha;
  const endpoints = { x: [0, 1], y: r.endpointTargets, mode: 'markers', marker: { symbol: 'x', size: 12, color: 'black' }, name: 'training points' };
  const axes = (title: string) => ({ xaxis: { title: { text: 'alpha: x = (1 - alpha) x0 + alpha x1' } }, yaxis: { title: { text: title } } });
  const plots: PlotSpec[] = r.panels.map((p) => ({
    title: `Step ${p.step}: ensemble of ${r.options.ensemble} networks vs the GP (mean ± 2 sd)`,
    data: [
      ...p.members.map((f, i) => ({ x, y: f, mode: 'lines', line: { color: 'rgba(120,120,120,0.35)', width: 1 }, name: 'individual networks', legendgroup: 'members', showlegend: i === 0 })),
      ...band(x, p.gpMean, p.gpSd, 'GP', 'rgb(31,119,180)'),
      {
        x, y: p.ensembleMean, mode: 'markers', marker: { color: 'rgb(214,39,40)', size: 6 }, name: 'ensemble mean ± 2 sd',
        error_y: { type: 'data', array: p.ensembleSd.map((s) => 2 * s), color: 'rgba(214,39,40,0.6)', thickness: 1 },
      },
      endpoints,
    ],
    layout: axes('f(x)'),
  }));
  const lossKeep = r.trainLoss.steps.map((s, i) => [s, i] as const).filter(([s]) => s >= 1);
  plots.push({
    title: 'Training loss 1/2 mean (f − y)²: ensemble average vs the GP expectation',
    data: [
      { x: lossKeep.map(([s]) => s), y: lossKeep.map(([, i]) => r.trainLoss.ensemble[i]), mode: 'markers', name: 'ensemble' },
      { x: lossKeep.map(([s]) => s), y: lossKeep.map(([, i]) => r.trainLoss.gp[i]), mode: 'lines', name: 'GP' },
    ],
    layout: { xaxis: { type: 'log', title: { text: 'gradient descent step' } }, yaxis: { type: 'log', title: { text: 'loss' } } },
  });
  plots.push({
    title: 't = ∞: all layers trained (NTK GP) vs only the readout trained (exact NNGP posterior)',
    data: [...band(x, r.infinity.gpMean, r.infinity.gpSd, 'NTK GP', 'rgb(31,119,180)'), ...band(x, r.infinity.nngpMean, r.infinity.nngpSd, 'NNGP posterior', 'rgb(44,160,44)'), endpoints],
    layout: axes('f(x)'),
  });
  return {
    title: 'An ensemble of wide networks vs the GP over initializations (Lee et al. 2019, Figure 2)',
    summary: gpSummaryRows(r),
    plots,
    notes: [
      'Blue: the Gaussian process of infinitely wide networks trained by the same discrete gradient descent (exact formula for GD steps). Red: mean ± 2 standard deviations over the ensemble of finite networks trained by gradient descent. Grey: a few individual networks.',
      'z-scores measure the ensemble mean (variance) against the GP in units of the standard error of an ensemble of this size; |z| up to ~3 is what sampling alone gives over ~50 points.',
      "Finite width shows where the GP variance is tiny: near the training points at intermediate steps each network's own empirical NTK (which differs from the analytic one by O(1/sqrt(width))) sets how far its residual has decayed, adding an O(1/width) variance (~1e-3 at width 256) that the infinite-width GP does not have. It vanishes once training has converged, and shrinks with --width.",
    ],
  };
}
