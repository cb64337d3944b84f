/**
 * Figure S3: MNIST, all ten classes, softmax cross-entropy (mean over the batch), a ReLU network
 * with two hidden layers (NTK parameterization, sigma_w^2 = 2, sigma_b^2 = 0.1), minibatch SGD
 * (batch 64) with heavy-ball momentum 0.9, eta = 1 (the paper's). The linearized model f_lin
 * (linearize(): f(theta_0) + J_0 (theta - theta_0), trained in weight space) takes exactly the same
 * minibatches (models/train.ts's minibatchIndices, one seeded stream) and the same optimizer.
 * Loss and accuracy of both on the train and test sets over training.
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { linearize } from '../../linearize/linearize.ts';
import { Dense, Relu, accuracy, minibatchIndices, momentum, serial, type Params } from '../../models/index.ts';
import { boundClaim } from './claims.ts';
import { mnistTenClass } from './data.ts';
import { meanInterval } from './fit.ts';
import { COLORS, stepsPlot } from './plots.ts';
import { SIZES } from './scales.ts';
import { recordSteps } from '../study-common.ts';
import type { Figure, FigureContext } from './types.ts';

interface Curves {
  trainLoss: number[];
  testLoss: number[];
  trainAccuracy: number[];
  testAccuracy: number[];
}

export interface S3Run {
  steps: number[];
  network: Curves;
  linearized: Curves;
  /** RMSE between the two models' test logits at `steps`. */
  logitRmse: number[];
  seconds: number;
}

async function evaluate(f: (p: Params, x: Tensor) => Tensor, params: Params, x: Tensor, y: Tensor): Promise<{ loss: number; accuracy: number; logits: Float32Array }> {
  const [logits, loss, acc] = tg.tidy(() => {
    const out = f(params, x);
    return [out, tg.softmaxCrossEntropy(out, y, 'mean'), accuracy(out, y)];
  });
  const result = { loss: (await loss.data())[0], accuracy: (await acc.data())[0], logits: (await logits.data()) as Float32Array };
  tg.dispose([logits, loss, acc]);
  return result;
}

/** One seed: the network and its linearization trained side by side on the same minibatches. */
export async function runS3(ctx: FigureContext, seed: number): Promise<S3Run> {
  const s = SIZES[ctx.scale].s3;
  const t0 = performance.now();
  const data = await mnistTenClass(seed, s.trainSize, s.testSize);
  const w = { W_std: Math.SQRT2, b_std: Math.sqrt(0.1), parameterization: 'ntk' as const };
  const net = serial(Dense(s.width, w), Relu(), Dense(s.width, w), Relu(), Dense(10, w));
  const params0 = tg.keep(net.init(tg.key(seed), [-1, 784], 'float32').params);
  const apply = (p: Params, x: Tensor) => net.apply(p, x) as Tensor;
  const fLin = linearize(apply, params0);
  const models = [apply, fLin as (p: Params, x: Tensor) => Tensor];
  const optimizer = momentum(s.lr, s.beta);
  const grads = models.map((f) => tg.grad((p: Params, x: Tensor, y: Tensor) => tg.softmaxCrossEntropy(f(p, x), y, 'mean')));
  const params: Params[] = [params0, params0];
  const states = models.map(() => optimizer.init(params0));
  const record = recordSteps(s.steps, s.evaluations);
  const curves: Curves[] = models.map(() => ({ trainLoss: [], testLoss: [], trainAccuracy: [], testAccuracy: [] }));
  const logitRmse: number[] = [];
  const key = tg.foldIn(tg.key(seed), 1);
  const n = s.trainSize;
  ctx.progress.start(`S3 seed ${seed + 1}/${ctx.seeds}`, s.steps, 'steps');
  try {
    let next = 0;
    for (let step = 0; step <= s.steps; step++) {
      if (step === record[next]) {
        const logits: Float32Array[] = [];
        for (let m = 0; m < 2; m++) {
          const tr = await evaluate(models[m], params[m], data.xTrain, data.yTrain);
          const te = await evaluate(models[m], params[m], data.xTest, data.yTest);
          curves[m].trainLoss.push(tr.loss);
          curves[m].trainAccuracy.push(tr.accuracy);
          curves[m].testLoss.push(te.loss);
          curves[m].testAccuracy.push(te.accuracy);
          logits.push(te.logits);
        }
        let sq = 0;
        for (let i = 0; i < logits[0].length; i++) sq += (logits[0][i] - logits[1][i]) ** 2;
        logitRmse.push(Math.sqrt(sq / logits[0].length));
        next++;
        ctx.progress.update(step, `test accuracy ${curves[0].testAccuracy.at(-1)!.toFixed(3)} / linearized ${curves[1].testAccuracy.at(-1)!.toFixed(3)}`);
      }
      ctx.progress.update(step);
      if (step === s.steps) break;
      const idx = tg.tensor(Int32Array.from(minibatchIndices(key, n, Math.min(s.batchSize, n), step)), [Math.min(s.batchSize, n)], 'int32');
      const xb = tg.take(data.xTrain, idx, 0);
      const yb = tg.take(data.yTrain, idx, 0);
      for (let m = 0; m < 2; m++) {
        const out = tg.tidy(() => tg.keep(optimizer.update(params[m], grads[m](params[m], xb, yb), states[m])));
        if (params[m] !== params0) tg.dispose(params[m]);
        tg.dispose(states[m]);
        params[m] = out.params;
        states[m] = out.state;
      }
      tg.dispose([idx, xb, yb]);
    }
  } finally {
    ctx.progress.stop();
    fLin.dispose();
    for (const p of params) if (p !== params0) tg.dispose(p);
    tg.dispose(states);
    tg.dispose(params0);
    data.dispose();
  }
  return { steps: record, network: curves[0], linearized: curves[1], logitRmse, seconds: (performance.now() - t0) / 1000 };
}

export const figureS3: Figure = {
  id: 'S3',
  title: 'Figure S3: cross-entropy, minibatch SGD with momentum: network vs linearized model',
  config: (c) => ({ ...SIZES[c.scale].s3, seeds: c.seeds }),
  async run(ctx) {
    const s = SIZES[ctx.scale].s3;
    const runs: S3Run[] = [];
    for (let seed = 0; seed < ctx.seeds; seed++) runs.push(await runS3(ctx, seed));
    const accGap = meanInterval(runs.map((r) => Math.abs(r.network.testAccuracy.at(-1)! - r.linearized.testAccuracy.at(-1)!)));
    const lossGap = meanInterval(runs.map((r) => Math.abs(r.network.testLoss.at(-1)! - r.linearized.testLoss.at(-1)!) / r.linearized.testLoss.at(-1)!));
    const r0 = runs[0];
    const claims = [
      boundClaim('S3', 'final test accuracy of the network equals the linearized model\'s (absolute gap)', 'curves coincide', accGap.mean, accGap.interval, 0.02, 'mean accuracy gap'),
      boundClaim('S3', 'final test loss of the network equals the linearized model\'s (relative gap)', 'curves coincide', lossGap.mean, lossGap.interval, 0.1, 'mean relative loss gap'),
    ];
    const curvePlot = (title: string, pick: (c: Curves) => [number[], number[]], y: string, logY: boolean) => {
      const [netTrain, netTest] = pick(r0.network);
      const [linTrain, linTest] = pick(r0.linearized);
      return stepsPlot(title, r0.steps, [
        { name: 'train: network', y: netTrain, color: COLORS[0] },
        { name: 'train: linearized', y: linTrain, color: COLORS[0], dash: 'dash' },
        { name: 'test: network', y: netTest, color: COLORS[1] },
        { name: 'test: linearized', y: linTest, color: COLORS[1], dash: 'dash' },
      ], y, logY);
    };
    return {
      claims,
      summary: [
        ['setup', `MNIST 10 classes, |D| = ${s.trainSize}, test ${s.testSize}; ReLU FC 2 hidden layers of ${s.width}, NTK parameterization; softmax cross-entropy (mean)`],
        ['training', `minibatch SGD, batch ${s.batchSize}, heavy-ball momentum ${s.beta}, eta = ${s.lr}, ${s.steps} steps; the linearized model takes the same minibatches; ${ctx.seeds} seeds`],
        ['final test accuracy, network / linearized (per seed)', runs.map((r) => `${r.network.testAccuracy.at(-1)!.toFixed(3)} / ${r.linearized.testAccuracy.at(-1)!.toFixed(3)}`).join(', ')],
        ['final test loss, network / linearized (per seed)', runs.map((r) => `${r.network.testLoss.at(-1)!.toFixed(3)} / ${r.linearized.testLoss.at(-1)!.toFixed(3)}`).join(', ')],
      ],
      plots: [
        curvePlot('Cross-entropy loss (seed 0): network (solid) vs linearized (dashed)', (c) => [c.trainLoss, c.testLoss], 'loss', true),
        curvePlot('Accuracy (seed 0)', (c) => [c.trainAccuracy, c.testAccuracy], 'accuracy', false),
        stepsPlot('RMSE between the test logits of network and linearized model', r0.steps, runs.map((r, i) => ({ name: `seed ${i}`, y: r.logitRmse })), 'RMSE'),
      ],
      notes: ['The linearized model is trained in weight space (one JVP through the traced f(theta_0, x) per batch): no kernel is formed, so any loss and any optimizer apply.'],
      data: { runs },
    };
  },
};
