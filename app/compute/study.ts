/**
 * The study the page shows live: a network trained by full-batch gradient descent on MSE, its
 * linearization trained step by step, and the closed form from the empirical NTK at init, with
 * the NTK itself followed during training. Browser-safe (the worker runs it; Node tests too).
 *
 * The numbers are computed as the CLI study computes them (cli/study.ts: same network for the
 * default settings, same updates, same recorded steps, same closed form), so the report's common
 * fields equal the CLI's for the same data and seed; test/app checks that. The helpers both use
 * live in cli/study-common.ts (cli/study.ts itself reads files and probes Dawn in a child process).
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { mseFlow, type MseFlow } from '../../linearize/flow.ts';
import { infiniteKernels } from '../../linearize/infinite.ts';
import { linearize } from '../../linearize/linearize.ts';
import { matrixFromTensor } from '../../linearize/matrix-input.ts';
import { empiricalNtk } from '../../linearize/ntk.ts';
import { addScaled, frobeniusNorm, matrix, symmetricEigen, type Matrix } from '../../linalg/dense.ts';
import type { Params } from '../../models/index.ts';
import type { Series, StudyReport } from '../../cli/study.ts';
import { closedFormWeights, firstEntries, halfMse, recordSteps, relativeChanges, rmse, trackedWeights } from '../../cli/study-common.ts';
import { buildNetwork, describeNetwork } from './network.ts';
import type { AppSettings } from './settings.ts';
import type { StudyData } from './datasets.ts';

/** The NTK view: Theta_t on train x train (rows ordered by label), its spectrum and its drift. */
export interface NtkView {
  step: number;
  /** Theta_t block-averaged to at most 64 x 64, rows and columns sorted by target. */
  heatmap: { size: number; values: number[]; labels: number[] };
  /** Eigenvalues of Theta_0 and Theta_t, descending. */
  spectrum0: number[];
  spectrumT: number[];
  /** ||Theta_t - Theta_0||_F / ||Theta_0||_F at the checkpoints so far. */
  change: { steps: number[]; values: number[] };
}

/** What the page draws while the study runs (series cover the recorded steps reached so far). */
export interface StudyLive {
  lr: number;
  maxStableLearningRate: number;
  lambdaMax: number;
  lambdaMin: number;
  parameterCount: number;
  trainLoss: Series;
  testLoss: Series;
  rmseNetworkVsLinearized: StudyReport['rmseNetworkVsLinearized'];
  testOutputs: StudyReport['testOutputs'];
  weights: StudyReport['weights'];
}

export interface StudyHooks {
  live(s: StudyLive): void;
  ntk(v: NtkView): void;
  progress(phase: string, done: number, total: number): void;
}

/** The report's options: the CLI's StudyOptions fields (dataset widened to the app's choices) and the app's settings. */
export type AppStudyOptions = Omit<StudyReport['options'], 'dataset'> & { dataset: AppSettings['data']; settings: AppSettings; network: string; data: string };
export type AppStudyReport = Omit<StudyReport, 'options'> & { options: AppStudyOptions; ntk: NtkView };

/** Eigenvalues, descending, of a symmetric float64 matrix. */
function spectrum(m: Matrix): number[] {
  return Array.from(symmetricEigen(m).values).reverse();
}

/** Theta block-averaged to at most `max` x `max`, after ordering rows and columns by `y`. */
export function heatmapOf(theta: Matrix, y: ArrayLike<number>, max = 64): NtkView['heatmap'] {
  const n = theta.rows;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => y[a] - y[b] || a - b);
  const size = Math.min(n, max);
  const values = new Array<number>(size * size).fill(0);
  const counts = new Array<number>(size * size).fill(0);
  for (let i = 0; i < n; i++) {
    const bi = Math.floor((i * size) / n);
    for (let j = 0; j < n; j++) {
      const bj = Math.floor((j * size) / n);
      values[bi * size + bj] += theta.data[order[i] * n + order[j]];
      counts[bi * size + bj]++;
    }
  }
  const labels = Array.from({ length: size }, (_, b) => y[order[Math.floor((b * n) / size)]]);
  return { size, values: values.map((v, k) => v / counts[k]), labels };
}

function relativeChange(a: Matrix, b: Matrix): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.data.length; i++) {
    num += (a.data[i] - b.data[i]) ** 2;
    den += b.data[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** About `count` of the recorded steps (always the first and the last) at which Theta_t is recomputed. */
function ntkCheckpoints(record: number[], count = 8): Set<number> {
  const every = Math.max(1, Math.ceil((record.length - 1) / (count - 1)));
  return new Set(record.filter((_, i) => i % every === 0 || i === record.length - 1));
}

/** Builds the closed form at eta = 1 and moves it to the chosen rate (one eigendecomposition), as the CLI. */
export function closedForm(inputs: { thetaTrain: Matrix; thetaTestTrain: Matrix; f0Train: Matrix; f0Test: Matrix; yTrain: Float32Array }, loss: AppSettings['loss'], lr: number | null): { flow: MseFlow; lr: number; threshold: number } {
  const n = inputs.yTrain.length;
  // Theta is computed in float32 (on WebGPU always): its round-off reaches ~1e-7 n lambda_max, far
  // above the float64 allowance, and low-rank kernels (1-D inputs) show it as small negative eigenvalues.
  const unitFlow = mseFlow({ ...inputs, yTrain: matrix(n, 1, Float64Array.from(inputs.yTrain)), eta: 1, loss, singular: 'pinv', negativeTolerance: 1e-6 * n });
  const threshold = unitFlow.maxStableLearningRate;
  const eta = lr ?? threshold / 2;
  if (!(eta < threshold)) {
    throw new Error(`learning rate ${eta} is at or above the stable threshold 2/lambda_max = ${threshold.toPrecision(4)} for this kernel and loss '${loss}'; gradient descent would diverge`);
  }
  return { flow: unitFlow.withLearningRate(eta), lr: eta, threshold };
}

/**
 * Runs the study on the current backend, calling `hooks` as results arrive.
 * @example const report = await runAppStudy(DEFAULTS, data, 'cpu', 'requested', { live() {}, ntk() {}, progress() {} });
 */
export async function runAppStudy(s: AppSettings, data: StudyData, backendName: string, backendReason: string, hooks: StudyHooks): Promise<AppStudyReport> {
  const t0 = performance.now();
  const rank = data.inputShape.length === 1 ? 2 : 4;
  const net = buildNetwork(s, rank);
  const shape = (n: number) => [n, ...data.inputShape];
  const xTrain = tg.keep(tg.tensor(data.xTrain, shape(s.trainSize)));
  const yTrain = tg.keep(tg.tensor(data.yTrain, [s.trainSize, 1]));
  const xTest = tg.keep(tg.tensor(data.xTest, shape(s.testSize)));
  const { params: params0 } = net.init(tg.key(s.seed), [-1, ...data.inputShape], 'float32');
  tg.keep(params0);
  const apply = (p: Params, x: Tensor) => net.apply(p, x) as Tensor;
  const parameterCount = tg.treeLeaves(params0).reduce((n, l) => n + l.size, 0);

  hooks.progress('NTK at initialization', 0, 2);
  const tNtk = performance.now();
  const read = async (t: Tensor) => {
    const m = await matrixFromTensor(t);
    t.dispose();
    return m;
  };
  const thetaTrain = await read(tg.tidy(() => empiricalNtk(apply, params0, xTrain, xTrain)));
  hooks.progress('NTK at initialization', 1, 2);
  const thetaTestTrain = await read(tg.tidy(() => empiricalNtk(apply, params0, xTest, xTrain)));
  hooks.progress('NTK at initialization', 2, 2);
  const f0Train = await read(tg.tidy(() => apply(params0, xTrain)));
  const f0Test = await read(tg.tidy(() => apply(params0, xTest)));
  const ntkSeconds = (performance.now() - tNtk) / 1000;

  const tClosed0 = performance.now();
  const { flow, lr, threshold } = closedForm({ thetaTrain, thetaTestTrain, f0Train, f0Test, yTrain: data.yTrain }, s.loss, s.lr);
  const record = recordSteps(s.steps);
  const closedTrain = flow.gdTrainAt(record);
  const closedTest = flow.gdTestAt(record);
  // As the CLI: the same closed form with the analytic (infinite-width) kernel and this network's f_0.
  const analytic = infiniteKernels(net, { shape: shape(s.trainSize), data: data.xTrain }, { shape: shape(s.testSize), data: data.xTest });
  const analyticTest = mseFlow({
    thetaTrain: analytic.thetaTrainTrain, thetaTestTrain: analytic.thetaTestTrain, f0Train, f0Test,
    yTrain: matrix(s.trainSize, 1, Float64Array.from(data.yTrain)), eta: lr, loss: s.loss, singular: 'pinv', allowUnstableSteps: true,
  }).gdTestAt(record);
  const relativeKernelError = frobeniusNorm(addScaled(thetaTrain, analytic.thetaTrainTrain, 1, -1)) / frobeniusNorm(analytic.thetaTrainTrain);
  let closedSeconds = (performance.now() - tClosed0) / 1000;
  const tracked = trackedWeights(params0);
  const fLin = linearize(apply, params0);
  const tClosed1 = performance.now();
  const closedWeights = await closedFormWeights(fLin, params0, xTrain, record.map((step) => flow.gdCoefficientsAt(step)), tracked);
  closedSeconds += (performance.now() - tClosed1) / 1000;

  const spectrum0 = spectrum(thetaTrain);
  const checkpoints = ntkCheckpoints(record);
  const ntkChange = { steps: [] as number[], values: [] as number[] };
  let ntkView: NtkView = { step: 0, heatmap: heatmapOf(thetaTrain, data.yTrain), spectrum0, spectrumT: spectrum0, change: ntkChange };

  // Both trainings advance together, so every view moves at once (the numbers do not depend on the order).
  const lossFn = (f: (p: Params, x: Tensor) => Tensor) => tg.grad((p: Params) => tg.mse(f(p, xTrain), yTrain, s.loss));
  const models = [
    { apply, grad: lossFn(apply), params: params0, train: [] as Float32Array[], test: [] as Float32Array[], weights: [] as number[][], seconds: 0 },
    { apply: fLin as (p: Params, x: Tensor) => Tensor, grad: lossFn(fLin), params: params0, train: [] as Float32Array[], test: [] as Float32Array[], weights: [] as number[][], seconds: 0 },
  ];
  const [netRun, linRun] = models;
  const points = Math.min(s.points, s.testSize);
  const live = (): StudyLive => {
    const k = netRun.train.length;
    const steps = record.slice(0, k);
    const series = (pick: (i: number, source: 'network' | 'linearized' | 'closedForm') => number): Series => ({
      steps,
      network: steps.map((_, i) => pick(i, 'network')),
      linearized: steps.map((_, i) => pick(i, 'linearized')),
      closedForm: steps.map((_, i) => pick(i, 'closedForm')),
    });
    const trainOf = (i: number, src: string) => (src === 'network' ? netRun.train[i] : src === 'linearized' ? linRun.train[i] : closedTrain[i].data);
    const testOf = (i: number, src: string) => (src === 'network' ? netRun.test[i] : src === 'linearized' ? linRun.test[i] : closedTest[i].data);
    return {
      lr, maxStableLearningRate: threshold, lambdaMax: flow.eigenvalues[flow.eigenvalues.length - 1], lambdaMin: flow.eigenvalues[0], parameterCount,
      trainLoss: series((i, src) => halfMse(trainOf(i, src), data.yTrain)),
      testLoss: series((i, src) => halfMse(testOf(i, src), data.yTest)),
      rmseNetworkVsLinearized: {
        steps,
        stepByStep: steps.map((_, i) => rmse(netRun.test[i], linRun.test[i])),
        closedForm: steps.map((_, i) => rmse(netRun.test[i], closedTest[i].data)),
        analytic: steps.map((_, i) => rmse(netRun.test[i], analyticTest[i].data)),
      },
      testOutputs: Array.from({ length: points }, (_, p) => ({ index: p, label: data.yTest[p], series: series((i, src) => testOf(i, src)[p]) })),
      weights: tracked.map((w, j) => ({
        name: w.name,
        series: { steps, network: netRun.weights.map((r) => r[j]), linearized: linRun.weights.map((r) => r[j]), closedForm: closedWeights.slice(0, k).map((r) => r[j]) },
      })),
    };
  };

  let lastPost = 0;
  for (let step = 0; step <= s.steps; step++) {
    if (record.includes(step)) {
      for (const m of models) {
        const t = performance.now();
        const [ft, fs] = tg.tidy(() => [m.apply(m.params, xTrain), m.apply(m.params, xTest)]);
        m.train.push((await ft.data()) as Float32Array);
        m.test.push((await fs.data()) as Float32Array);
        m.weights.push(await firstEntries(m.params, tracked));
        tg.dispose([ft, fs]);
        m.seconds += (performance.now() - t) / 1000;
      }
      hooks.live(live());
      if (checkpoints.has(step) && step > 0) {
        const thetaT = await read(tg.tidy(() => empiricalNtk(apply, netRun.params, xTrain, xTrain)));
        ntkChange.steps.push(step);
        ntkChange.values.push(relativeChange(thetaT, thetaTrain));
        ntkView = { step, heatmap: heatmapOf(thetaT, data.yTrain), spectrum0, spectrumT: spectrum(thetaT), change: ntkChange };
        hooks.ntk(ntkView);
      } else if (step === 0) {
        ntkChange.steps.push(0);
        ntkChange.values.push(0);
        hooks.ntk(ntkView);
      }
    }
    if (performance.now() - lastPost > 100 || step === s.steps) {
      hooks.progress('training: network and linearized model', step, s.steps);
      lastPost = performance.now();
    }
    if (step === s.steps) break;
    for (const m of models) {
      const t = performance.now();
      const next = tg.tidy(() => tg.keep(tg.treeZip([m.params, m.grad(m.params)], ([p, g]) => tg.sub(p, tg.mul(g, lr)))));
      if (m.params !== params0) tg.dispose(m.params);
      m.params = next;
      m.seconds += (performance.now() - t) / 1000;
    }
  }
  fLin.dispose();

  const final = live();
  let linVsClosed = 0;
  record.forEach((_, i) => {
    for (let j = 0; j < s.trainSize; j++) linVsClosed = Math.max(linVsClosed, Math.abs(linRun.train[i][j] - closedTrain[i].data[j]));
  });
  const { relativeWeightChange, relativeNtkChange } = await relativeChanges(apply, params0, netRun.params, xTrain, thetaTrain);
  tg.dispose([xTrain, yTrain, xTest, params0, netRun.params, linRun.params]);

  return {
    options: {
      dataset: s.data, dataDir: '', width: s.width, depth: s.depth, trainSize: s.trainSize, testSize: s.testSize, steps: s.steps,
      lr: s.lr, loss: s.loss, backend: s.backend, seed: s.seed, points: s.points,
      settings: s, network: describeNetwork(s), data: data.description,
    },
    backend: backendName,
    backendReason,
    ...final,
    relativeKernelError,
    relativeWeightChange,
    relativeNtkChange,
    linearizedVsClosedFormMaxDiff: linVsClosed,
    seconds: { ntk: ntkSeconds, network: netRun.seconds, linearized: linRun.seconds, closedForm: closedSeconds, total: (performance.now() - t0) / 1000 },
    ntk: ntkView,
  };
}
