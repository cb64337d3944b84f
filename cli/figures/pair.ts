/**
 * One network against its linearization around initialization, the unit every MSE figure of the
 * suite is made of: the empirical NTK at init (train x train, test x train), the network trained
 * by full-batch gradient descent or heavy-ball momentum on 1/2 sum (f - y)^2, and the linearized
 * model's exact trajectory under the same discrete steps from the closed form (flow.ts: gdTestAt,
 * momentumTestAt; the step-by-step linearized model equals it up to round-off, which the study
 * and its tests check). Outputs are read at log-spaced steps; the result carries the RMSE between
 * the two on the test set over time, the losses, and the relative change of every parameter leaf.
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { mseFlow } from '../../linearize/flow.ts';
import { matrixFromTensor } from '../../linearize/matrix-input.ts';
import { empiricalNtk } from '../../linearize/ntk.ts';
import { matrix, type Matrix } from '../../linalg/dense.ts';
import { momentum, paramCount, type AnyLayer, type Params } from '../../models/index.ts';
import type { Progress } from '../progress.ts';
import { halfMse, leafNames, recordSteps, rmse } from '../study-common.ts';

export interface PairInputs {
  net: AnyLayer;
  /** [N, ...] float32 inputs and their +-1 targets (one output). */
  xTrain: Tensor;
  yTrain: Float32Array;
  xTest: Tensor;
  yTest: Float32Array;
  steps: number;
  /** Heavy-ball coefficient; 0 is plain gradient descent. */
  beta: number;
  /** eta = lrScale / lambda_max(Theta_0) (1: half the GD stability edge 2 / lambda_max). */
  lrScale: number;
  /** Key of the initialization. */
  seed: number;
  /** Also the relative NTK change ||Theta_T - Theta_0|| / ||Theta_0|| (one more kernel). */
  ntkChange?: boolean;
  progress: Progress;
  phase: string;
}

export interface PairResult {
  parameterCount: number;
  lr: number;
  lambdaMax: number;
  lambdaMin: number;
  steps: number[];
  /** 0.5 mean (f - y)^2 of the network and of the linearized model at `steps`. */
  trainLoss: { network: number[]; linearized: number[] };
  testLoss: { network: number[]; linearized: number[] };
  /** RMSE over test points between network and linearization at `steps`. */
  rmse: number[];
  finalRmse: number;
  /** max over the recorded steps of the RMSE (the paper's sup_t). */
  supRmse: number;
  /** ||theta_T - theta_0||_F / ||theta_0||_F per parameter leaf, in tree order. */
  weightChange: { name: string; value: number }[];
  ntkChange: number | null;
  /** The network's and the linearization's test outputs at the last step. */
  finalTest: { network: number[]; linearized: number[] };
  seconds: number;
}

async function read(t: Tensor): Promise<Matrix> {
  const m = await matrixFromTensor(t);
  t.dispose();
  return m;
}

async function frobenius(t: Tensor): Promise<number> {
  return Math.sqrt(await tg.tidy(() => tg.sum(tg.square(tg.cast(t, 'float32')))).item());
}

/**
 * Runs one pair. The network is initialized from `seed`; data tensors stay the caller's.
 * @example const r = await runPair({ net, xTrain, yTrain, xTest, yTest, steps: 300, beta: 0, lrScale: 1, seed: 0, progress, phase: 'width 64' });
 */
export async function runPair(o: PairInputs): Promise<PairResult> {
  const t0 = performance.now();
  const n = o.xTrain.shape[0];
  if (o.yTrain.length !== n) throw new Error(`runPair: ${n} training inputs but ${o.yTrain.length} targets`);
  if (o.yTest.length !== o.xTest.shape[0]) throw new Error(`runPair: ${o.xTest.shape[0]} test inputs but ${o.yTest.length} targets`);
  const { params: params0 } = o.net.init(tg.key(o.seed), [-1, ...o.xTrain.shape.slice(1)], 'float32');
  tg.keep(params0);
  const apply = (p: Params, x: Tensor) => o.net.apply(p, x) as Tensor;
  const thetaTrain = await read(tg.tidy(() => empiricalNtk(apply, params0, o.xTrain, o.xTrain)));
  const thetaTestTrain = await read(tg.tidy(() => empiricalNtk(apply, params0, o.xTest, o.xTrain)));
  const f0Train = await read(tg.tidy(() => apply(params0, o.xTrain)));
  const f0Test = await read(tg.tidy(() => apply(params0, o.xTest)));
  const yTrain = matrix(n, 1, Float64Array.from(o.yTrain));
  // float32 kernels: round-off allowance of about 1e-6 per row for the eigenvalue clamp.
  const unit = mseFlow({ thetaTrain, thetaTestTrain, f0Train, f0Test, yTrain, eta: 1, loss: 'sum/2', singular: 'pinv', negativeTolerance: 1e-6 * n });
  const lambdaMax = unit.eigenvalues[unit.eigenvalues.length - 1];
  const lr = o.lrScale / lambdaMax;
  const flow = unit.withLearningRate(lr);
  const record = recordSteps(o.steps, 24);
  const linTrain = o.beta === 0 ? flow.gdTrainAt(record) : flow.momentumTrainAt(record, o.beta);
  const linTest = o.beta === 0 ? flow.gdTestAt(record) : flow.momentumTestAt(record, o.beta);

  // The network, by the same discrete steps (heavy ball with beta = 0 is plain GD).
  const optimizer = momentum(lr, o.beta);
  const yTarget = tg.keep(tg.tensor(o.yTrain, [n, 1], o.xTrain.dtype));
  const gradFn = tg.grad((p: Params) => tg.mse(apply(p, o.xTrain), yTarget, 'sum/2'));
  let params = params0;
  let state = optimizer.init(params0);
  const netTrain: Float32Array[] = [];
  const netTest: Float32Array[] = [];
  o.progress.start(o.phase, o.steps, 'steps');
  let next = 0;
  for (let step = 0; step <= o.steps; step++) {
    if (step === record[next]) {
      const [a, b] = tg.tidy(() => [apply(params, o.xTrain), apply(params, o.xTest)]);
      netTrain.push((await a.data()) as Float32Array);
      netTest.push((await b.data()) as Float32Array);
      tg.dispose([a, b]);
      next++;
      o.progress.update(step, `train loss ${halfMse(netTrain[netTrain.length - 1], o.yTrain).toExponential(2)}`);
    }
    o.progress.update(step);
    if (step === o.steps) break;
    const out = tg.tidy(() => tg.keep(optimizer.update(params, gradFn(params), state)));
    if (params !== params0) tg.dispose(params);
    tg.dispose(state);
    params = out.params;
    state = out.state;
  }
  o.progress.stop();
  tg.dispose([state, yTarget]);

  const names = leafNames(params0);
  const leaves0 = tg.treeLeaves(params0);
  const leavesT = tg.treeLeaves(params);
  const weightChange: { name: string; value: number }[] = [];
  for (let i = 0; i < leaves0.length; i++) {
    const diff = tg.tidy(() => tg.sub(leavesT[i], leaves0[i]));
    weightChange.push({ name: names[i], value: (await frobenius(diff)) / (await frobenius(leaves0[i])) });
    diff.dispose();
  }
  let ntkChange: number | null = null;
  if (o.ntkChange) {
    const thetaT = tg.tidy(() => empiricalNtk(apply, params, o.xTrain, o.xTrain));
    const theta0 = tg.tensor(Float32Array.from(thetaTrain.data), [n, n]);
    const d = tg.tidy(() => tg.sub(thetaT, theta0));
    ntkChange = (await frobenius(d)) / (await frobenius(theta0));
    tg.dispose([thetaT, theta0, d]);
  }
  const parameterCount = paramCount(params0);
  if (params !== params0) tg.dispose(params);
  tg.dispose(params0);

  const rmses = record.map((_, i) => rmse(netTest[i], linTest[i].data));
  const last = record.length - 1;
  return {
    parameterCount,
    lr,
    lambdaMax,
    lambdaMin: unit.eigenvalues[0],
    steps: record,
    trainLoss: { network: netTrain.map((f) => halfMse(f, o.yTrain)), linearized: linTrain.map((f) => halfMse(f.data, o.yTrain)) },
    testLoss: { network: netTest.map((f) => halfMse(f, o.yTest)), linearized: linTest.map((f) => halfMse(f.data, o.yTest)) },
    rmse: rmses,
    finalRmse: rmses[last],
    supRmse: Math.max(...rmses),
    weightChange,
    ntkChange,
    finalTest: { network: Array.from(netTest[last]), linearized: Array.from(linTest[last].data) },
    seconds: (performance.now() - t0) / 1000,
  };
}
