/**
 * Corollary 1 of the paper with finite networks: an ensemble of 128 independently initialized
 * width-512 tanh networks, each trained by gradient descent (on its linearization, exactly: the
 * closed form of flow.ts from the member's own empirical NTK), has test-output mean and variance
 * matching the infinite-width GP within the ensemble's standard errors.
 */
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { mseFlow } from '../../linearize/flow.ts';
import { infiniteKernels, infinitePredictor } from '../../linearize/infinite.ts';
import { matrix, symmetricEigen, type Matrix } from '../../linalg/dense.ts';
import { empiricalNtk } from '../../linearize/ntk.ts';
import { Dense, Tanh, serial, type Params } from '../../models/index.ts';

const toMatrix = (t: Tensor): Matrix => matrix(t.shape[0], t.size / t.shape[0], Float64Array.from(t.dataSync()));

describe('ensemble of trained finite networks vs the GP over initializations', () => {
  it('128 networks of width 512: mean and variance at test points within the ensemble standard error', () => {
    const w = { W_std: Math.sqrt(1.5) };
    const net = serial(Dense(512, w), Tanh(), Dense(512, w), Tanh(), Dense(1, w));
    const xTrain = tg.normal(tg.key(31), [6, 4], 'float64');
    const xTest = tg.normal(tg.key(32), [3, 4], 'float64');
    const yTrain = matrix(6, 1, [1, -1, 1, 1, -1, -1]);
    const kernels = infiniteKernels(net, xTrain, xTest);
    const eta = 1 / symmetricEigen(kernels.thetaTrainTrain).values[5];
    const gp = infinitePredictor({ kernels, yTrain, eta, loss: 'sum/2' });
    const steps = [0, 3, 30];
    const expected = [...gp.predictSteps(steps), ...gp.predict([Infinity])];

    const M = 128;
    const outputs: number[][][] = expected.map(() => [[], [], []]); // [time][test point][member]
    const apply = (p: Params, x: Tensor) => net.apply(p, x);
    for (let member = 0; member < M; member++) {
      const { params } = net.init(tg.foldIn(tg.key(33), member), [-1, 4], 'float64');
      const flow = tg.tidy(() =>
        mseFlow({
          thetaTrain: toMatrix(empiricalNtk(apply, params, xTrain, xTrain)),
          thetaTestTrain: toMatrix(empiricalNtk(apply, params, xTest, xTrain)),
          f0Train: toMatrix(apply(params, xTrain)),
          f0Test: toMatrix(apply(params, xTest)),
          yTrain,
          eta,
          loss: 'sum/2',
          singular: 'pinv',
        }),
      );
      tg.dispose(params);
      [...flow.gdTestAt(steps), ...flow.testAt([Infinity])].forEach((f, t) => f.data.forEach((v, j) => outputs[t][j].push(v)));
    }

    expected.forEach((p, t) => {
      for (let j = 0; j < 3; j++) {
        const xs = outputs[t][j];
        const mean = xs.reduce((a, b) => a + b) / M;
        const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (M - 1);
        const gpVar = p.covariance.data[j * 3 + j];
        // Standard errors of the ensemble mean and variance under the GP; the small extra slack
        // covers the O(1/width) difference between width 512 and the limit.
        const seMean = Math.sqrt(gpVar / M);
        const seVar = gpVar * Math.sqrt(2 / (M - 1));
        expect(Math.abs(mean - p.mean.data[j])).toBeLessThan(4 * seMean + 0.01);
        expect(Math.abs(variance - gpVar)).toBeLessThan(4 * seVar + 0.01 * gpVar);
      }
    });
    // The test is not vacuous: training moved the mean far from the prior's 0.
    expect(Math.max(...expected[3].mean.data.map(Math.abs))).toBeGreaterThan(0.2);
  });
});
