/**
 * The main study (the shape of the paper's Figure 3): a wide ReLU network trained by full-batch
 * gradient descent on MSE, set against its linearization around initialization computed three
 * ways: the closed form from the empirical NTK at init (exact for discrete GD on f_lin), the
 * linearized model trained step by step, and the network itself.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { loadCifar10Dir, loadMnist } from '../data/node.ts';
import { mseFlow, type MseLossScaling } from '../linearize/flow.ts';
import { addScaled, frobeniusNorm, matrix } from '../linalg/dense.ts';
import { infiniteKernels } from '../linearize/infinite.ts';
import { linearize } from '../linearize/linearize.ts';
import { matrixFromTensor } from '../linearize/matrix-input.ts';
import { empiricalNtk } from '../linearize/ntk.ts';
import { Dense, Relu, serial, type KernelLayer, type Params } from '../models/index.ts';
import type { Progress } from './progress.ts';
import { closedFormWeights, firstEntries, halfMse, moments, recordSteps, relativeChanges, rmse, trackedWeights } from './study-common.ts';
import { probeWebGpu } from './webgpu-probe.ts';

export interface StudyOptions {
  dataset: 'mnist' | 'cifar2';
  dataDir: string;
  width: number;
  depth: number;
  trainSize: number;
  testSize: number;
  steps: number;
  /** null: half the stable threshold, 1 / lambda_max. */
  lr: number | null;
  loss: MseLossScaling;
  backend: 'auto' | 'cpu' | 'webgpu';
  seed: number;
  /** Test points whose outputs are plotted over time. */
  points: number;
}

export interface Series {
  steps: number[];
  network: number[];
  linearized: number[];
  closedForm: number[];
}

export interface StudyReport {
  options: StudyOptions;
  backend: string;
  backendReason: string;
  lr: number;
  maxStableLearningRate: number;
  lambdaMax: number;
  lambdaMin: number;
  parameterCount: number;
  /** Reported losses are 0.5 * mean((f - y)^2) over the set, whatever the training scaling. */
  trainLoss: Series;
  testLoss: Series;
  /**
   * RMSE over test points between the network and the linearized model (step by step) / the closed
   * form from the empirical Theta_0 / the same closed form with the analytic (infinite-width) Theta
   * and the network's own f_0 (the paper's Figure 3 RMSE panel: Theta_0 predicts the finite network
   * better than the analytic kernel).
   */
  rmseNetworkVsLinearized: { steps: number[]; stepByStep: number[]; closedForm: number[]; analytic: number[] };
  /** ||Theta_0 - Theta_analytic||_F / ||Theta_analytic||_F on the training set. */
  relativeKernelError: number;
  testOutputs: { index: number; label: number; series: Series }[];
  weights: { name: string; series: Series }[];
  relativeWeightChange: { name: string; value: number }[];
  relativeNtkChange: number;
  linearizedVsClosedFormMaxDiff: number;
  seconds: { ntk: number; network: number; linearized: number; closedForm: number; total: number };
}

export function network(width: number, depth: number): KernelLayer {
  const hidden: KernelLayer[] = [];
  // sigma_w^2 = 2, sigma_b^2 = 0.1, NTK parameterization: the paper's Figure 3 setup.
  for (let i = 0; i < depth; i++) hidden.push(Dense(width, { W_std: Math.SQRT2, b_std: Math.sqrt(0.1), parameterization: 'ntk' }), Relu());
  return serial(...hidden, Dense(1, { W_std: Math.SQRT2, b_std: Math.sqrt(0.1), parameterization: 'ntk' })) as KernelLayer;
}

/** The study's data: MNIST 4 vs 9 (standardized pixels) or CIFAR airplane vs horse, flattened, +-1 targets. */
export async function loadData(o: Pick<StudyOptions, 'dataset' | 'dataDir' | 'trainSize' | 'testSize' | 'seed'>): Promise<{ xTrain: Float32Array; yTrain: Float32Array; xTest: Float32Array; yTest: Float32Array; dim: number }> {
  if (o.dataset === 'mnist') {
    // Digits 4 vs 9 (a hard pair), as +-1 regression.
    const { train, test } = await loadMnist({ trainSize: o.trainSize, testSize: o.testSize, classes: [4, 9], seed: o.seed, target: 'pm1', flatten: true });
    // Standardize with the train set's pixel mean and std: raw pixels share a large positive
    // offset that makes one NTK eigenvalue dominate and forces a tiny stable learning rate.
    const [mean, std] = moments(train.x);
    for (const x of [train.x, test.x]) for (let i = 0; i < x.length; i++) x[i] = (x[i] - mean) / std;
    return { xTrain: train.x, yTrain: train.y, xTest: test.x, yTest: test.y, dim: train.xShape[1] };
  }
  const { train, test } = await loadCifar10Dir(o.dataDir, {
    trainSize: o.trainSize, testSize: o.testSize, classes: ['airplane', 'horse'], seed: o.seed, target: 'pm1', standardize: true, flatten: true,
  });
  return { xTrain: train.x, yTrain: train.y, xTest: test.x, yTest: test.y, dim: train.xShape[1] };
}

/** Full-batch GD on `loss(apply(params, xTrain))`, recording outputs and weights at `record` steps. */
async function gradientDescent(
  apply: (p: Params, x: Tensor) => Tensor, params0: Params, data: { xTrain: Tensor; yTrain: Tensor; xTest: Tensor; yHost: Float32Array },
  lr: number, loss: MseLossScaling, steps: number, record: number[], tracked: { leaf: number }[], progress: Progress, phase: string,
): Promise<{ train: Float32Array[]; test: Float32Array[]; weights: number[][]; final: Params }> {
  const lossFn = (p: Params) => tg.mse(apply(p, data.xTrain), data.yTrain, loss);
  const gradFn = tg.grad(lossFn);
  const train: Float32Array[] = [];
  const test: Float32Array[] = [];
  const weights: number[][] = [];
  let params = params0;
  progress.start(phase, steps, 'steps');
  for (let step = 0; step <= steps; step++) {
    if (record.includes(step)) {
      const [ft, fs] = tg.tidy(() => [apply(params, data.xTrain), apply(params, data.xTest)]);
      train.push((await ft.data()) as Float32Array);
      test.push((await fs.data()) as Float32Array);
      weights.push(await firstEntries(params, tracked));
      tg.dispose([ft, fs]);
      progress.update(step, `train loss ${halfMse(train[train.length - 1], data.yHost).toExponential(3)}`);
    }
    // Every step (the reporter throttles): a log gets its line even between far-apart recorded steps.
    progress.update(step);
    if (step === steps) break;
    const next = tg.tidy(() => tg.keep(tg.treeZip([params, gradFn(params)], ([p, g]) => tg.sub(p, tg.mul(g, lr)))));
    if (params !== params0) tg.dispose(params);
    params = next;
  }
  progress.update(steps);
  progress.stop();
  return { train, test, weights, final: params };
}

/** 'auto' asks a child process first (cli/webgpu-probe.ts), so a CPU fallback prints none of Dawn's warnings. */
export async function chooseBackend(choice: StudyOptions['backend']): Promise<{ backend: tg.Backend; reason: string }> {
  if (choice !== 'auto') return tg.initBackend(choice);
  const probe = await probeWebGpu();
  if (!probe.found) return { backend: await tg.setBackend('cpu'), reason: probe.reason };
  return tg.initBackend();
}

export async function runStudy(o: StudyOptions, progress: Progress, log: (s: string) => void): Promise<StudyReport> {
  const t0 = performance.now();
  const data = await loadData(o);
  const { backend, reason } = await chooseBackend(o.backend);
  log(`backend: ${backend.name} (${reason})`);
  const net = network(o.width, o.depth);
  const xTrain = tg.keep(tg.tensor(data.xTrain, [o.trainSize, data.dim]));
  const yTrain = tg.keep(tg.tensor(data.yTrain, [o.trainSize, 1]));
  const xTest = tg.keep(tg.tensor(data.xTest, [o.testSize, data.dim]));
  const { params: params0 } = net.init(tg.key(o.seed), [-1, data.dim], 'float32');
  tg.keep(params0);
  const apply = (p: Params, x: Tensor) => net.apply(p, x) as Tensor;
  const parameterCount = tg.treeLeaves(params0).reduce((n, l) => n + l.size, 0);

  // The empirical NTK at initialization, train x train and test x train (structured: no Jacobian).
  const tNtk = performance.now();
  progress.start('NTK', 2, 'kernels');
  const read = async (t: Tensor) => {
    const m = await matrixFromTensor(t);
    t.dispose();
    return m;
  };
  const thetaTrain = await read(tg.tidy(() => empiricalNtk(apply, params0, xTrain, xTrain)));
  progress.update(1, 'train x train');
  const thetaTestTrain = await read(tg.tidy(() => empiricalNtk(apply, params0, xTest, xTrain)));
  progress.update(2, 'test x train');
  progress.stop();
  const f0Train = await read(tg.tidy(() => apply(params0, xTrain)));
  const f0Test = await read(tg.tidy(() => apply(params0, xTest)));
  const ntkSeconds = (performance.now() - tNtk) / 1000;
  const yTrainM = matrix(o.trainSize, 1, Float64Array.from(data.yTrain));
  // One eigendecomposition: the threshold does not depend on eta, so the flow is built at eta = 1
  // and moved to the chosen learning rate.
  progress.start('eigen', 1, 'decompositions');
  const unitFlow = mseFlow({ thetaTrain, thetaTestTrain, f0Train, f0Test, yTrain: yTrainM, eta: 1, loss: o.loss, singular: 'pinv' });
  progress.update(1, `${thetaTrain.rows}x${thetaTrain.rows} kernel`);
  progress.stop();
  const threshold = unitFlow.maxStableLearningRate;
  const lr = o.lr ?? threshold / 2;
  if (!(lr < threshold)) {
    throw new Error(`--lr ${lr} is at or above the stable threshold 2/lambda_max = ${threshold.toPrecision(4)} for this kernel and loss '${o.loss}'; gradient descent would diverge`);
  }
  const flow = unitFlow.withLearningRate(lr);
  const record = recordSteps(o.steps);
  const tracked = trackedWeights(params0);
  const tensors = { xTrain, yTrain, xTest, yHost: data.yTrain };

  const tNet = performance.now();
  const net1 = await gradientDescent(apply, params0, tensors, lr, o.loss, o.steps, record, tracked, progress, 'network');
  const netSeconds = (performance.now() - tNet) / 1000;
  const fLin = linearize(apply, params0);
  const tLin = performance.now();
  const lin = await gradientDescent(fLin, params0, tensors, lr, o.loss, o.steps, record, tracked, progress, 'linearized');
  const linSeconds = (performance.now() - tLin) / 1000;

  const tClosed = performance.now();
  const closedTrain = flow.gdTrainAt(record);
  const closedTest = flow.gdTestAt(record);
  progress.start('closed form', 1, 'batches');
  // The same closed form with the analytic kernel of the infinitely wide network (float64 on the
  // host) and this network's f_0: what the infinite-width theory predicts for this network.
  const analytic = infiniteKernels(net, { shape: [o.trainSize, data.dim], data: data.xTrain }, { shape: [o.testSize, data.dim], data: data.xTest });
  const analyticTest = mseFlow({
    thetaTrain: analytic.thetaTrainTrain, thetaTestTrain: analytic.thetaTestTrain, f0Train, f0Test, yTrain: yTrainM, eta: lr, loss: o.loss,
    singular: 'pinv', allowUnstableSteps: true,
  }).gdTestAt(record);
  const relativeKernelError = frobeniusNorm(addScaled(thetaTrain, analytic.thetaTrainTrain, 1, -1)) / frobeniusNorm(analytic.thetaTrainTrain);
  const closedWeights = await closedFormWeights(fLin, params0, xTrain, record.map((step) => flow.gdCoefficientsAt(step)), tracked);
  fLin.dispose();
  progress.update(1);
  progress.stop();
  const closedSeconds = (performance.now() - tClosed) / 1000;

  const yTest = data.yTest;
  const series = (pick: (i: number, source: 'network' | 'linearized' | 'closedForm') => number): Series => ({
    steps: record,
    network: record.map((_, i) => pick(i, 'network')),
    linearized: record.map((_, i) => pick(i, 'linearized')),
    closedForm: record.map((_, i) => pick(i, 'closedForm')),
  });
  const trainOf = (i: number, s: string) => (s === 'network' ? net1.train[i] : s === 'linearized' ? lin.train[i] : closedTrain[i].data);
  const testOf = (i: number, s: string) => (s === 'network' ? net1.test[i] : s === 'linearized' ? lin.test[i] : closedTest[i].data);
  let linVsClosed = 0;
  record.forEach((_, i) => {
    for (let j = 0; j < o.trainSize; j++) linVsClosed = Math.max(linVsClosed, Math.abs(lin.train[i][j] - closedTrain[i].data[j]));
  });

  // Relative weight change per layer and relative NTK change between init and the trained network.
  const { relativeWeightChange, relativeNtkChange } = await relativeChanges(apply, params0, net1.final, xTrain, thetaTrain);

  const points = Math.min(o.points, o.testSize);
  const report: StudyReport = {
    options: o,
    backend: backend.name,
    backendReason: reason,
    lr,
    maxStableLearningRate: threshold,
    lambdaMax: flow.eigenvalues[flow.eigenvalues.length - 1] ,
    lambdaMin: flow.eigenvalues[0],
    parameterCount,
    trainLoss: series((i, s) => halfMse(trainOf(i, s), data.yTrain)),
    testLoss: series((i, s) => halfMse(testOf(i, s), yTest)),
    rmseNetworkVsLinearized: {
      steps: record,
      stepByStep: record.map((_, i) => rmse(net1.test[i], lin.test[i])),
      closedForm: record.map((_, i) => rmse(net1.test[i], closedTest[i].data)),
      analytic: record.map((_, i) => rmse(net1.test[i], analyticTest[i].data)),
    },
    relativeKernelError,
    testOutputs: Array.from({ length: points }, (_, p) => ({ index: p, label: yTest[p], series: series((i, s) => testOf(i, s)[p]) })),
    weights: tracked.map((w, k) => ({
      name: w.name,
      series: { steps: record, network: net1.weights.map((r) => r[k]), linearized: lin.weights.map((r) => r[k]), closedForm: closedWeights.map((r) => r[k]) },
    })),
    relativeWeightChange,
    relativeNtkChange,
    linearizedVsClosedFormMaxDiff: linVsClosed,
    seconds: { ntk: ntkSeconds, network: netSeconds, linearized: linSeconds, closedForm: closedSeconds, total: (performance.now() - t0) / 1000 },
  };
  tg.dispose([xTrain, yTrain, xTest, params0, net1.final, lin.final]);
  return report;
}
