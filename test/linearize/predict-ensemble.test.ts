/**
 * gradientDescentMseEnsemble against gp.ts's GP over initializations (the A_t operator form,
 * PAPER.md section 7, a different formula and code path), its limits (t = Infinity vs the
 * Cholesky path t = null), and its train-set formulas against the test formulas at xTest = xTrain.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tg from '../../engine/index.ts';
import { gradientDescentMseEnsemble } from '../../linearize/predict-ensemble.ts';
import { gpOverInitializations } from '../../linearize/gp.ts';
import type { Gaussian, Get } from '../../linearize/predict.ts';

const cpu = () => tg.backendInstance('cpu')!;

/** A kernel function from random features: NNGP = tanh features' Gram, NTK = NNGP + linear kernel. */
function featureKernelFn(seed: number, d: number) {
  const W = tg.normal(tg.key(seed), [d, 16], 'float64', cpu());
  const feats = (x: tg.Tensor) => tg.tanh(tg.matmul(x, W));
  const nngp = (a: tg.Tensor, b: tg.Tensor) => tg.div(tg.matmul(feats(a), feats(b), { transposeB: true }), 16);
  const ntk = (a: tg.Tensor, b: tg.Tensor) => tg.add(nngp(a, b), tg.div(tg.matmul(a, b, { transposeB: true }), d));
  return (x1: tg.Tensor, x2: tg.Tensor | null, get: Get | readonly Get[]) => {
    const b = x2 ?? x1;
    if (typeof get === 'string') return get === 'nngp' ? nngp(x1, b) : ntk(x1, b);
    return { nngp: get.includes('nngp') ? nngp(x1, b) : null, ntk: get.includes('ntk') ? ntk(x1, b) : null };
  };
}

const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

function setup(seed: number, n: number, m: number, k: number) {
  const d = 3;
  const xTrain = tg.normal(tg.key(seed + 1), [n, d], 'float64', cpu());
  const xTest = tg.normal(tg.key(seed + 2), [m, d], 'float64', cpu());
  const yTrain = tg.normal(tg.key(seed + 3), [n, k], 'float64', cpu());
  return { kernelFn: featureKernelFn(seed, d), xTrain, xTest, yTrain };
}

describe('gradientDescentMseEnsemble', () => {
  it('mean and covariance equal the GP over initializations (NTK: all weights; NNGP: readout only) at finite times', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 1e5 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 2 }), fc.double({ min: 0.2, max: 3, noNaN: true }), async (seed, n, m, k, lr) => {
      const s = setup(seed, n, m, k);
      const predict = gradientDescentMseEnsemble(s.kernelFn, s.xTrain, s.yTrain, { learningRate: lr });
      const times = [0.5, 7, 60];
      const out = await predict(times, s.xTest, ['nngp', 'ntk'], true) as { nngp: Gaussian; ntk: Gaussian };
      expect(out.ntk.mean.shape).toEqual([3, m, k]);
      expect(out.ntk.covariance.shape).toEqual([3, m, m]);
      const kf = s.kernelFn;
      const K = (a: tg.Tensor, b: tg.Tensor | null, g: Get) => kf(a, b, g) as tg.Tensor;
      for (const readoutOnly of [false, true]) {
        const gp = gpOverInitializations({
          kTrainTrain: K(s.xTrain, null, 'nngp'), kTestTrain: K(s.xTest, s.xTrain, 'nngp'), kTestTest: K(s.xTest, null, 'nngp'),
          thetaTrainTrain: K(s.xTrain, null, 'ntk'), thetaTestTrain: K(s.xTest, s.xTrain, 'ntk'),
          yTrain: s.yTrain, eta: lr, loss: 'mean/2', readoutOnly,
        }).at(times);
        const ours = readoutOnly ? out.nngp : out.ntk;
        const mean = ours.mean.dataSync();
        const cov = ours.covariance.dataSync();
        gp.forEach((p, i) => {
          expect(diff(mean.subarray(i * m * k, (i + 1) * m * k), p.mean.data)).toBeLessThan(1e-9);
          expect(diff(cov.subarray(i * m * m, (i + 1) * m * m), p.covariance.data)).toBeLessThan(1e-9);
        });
      }
    }), { numRuns: 15 });
  });

  it('t = Infinity equals t = null (Cholesky); the train set equals xTest = xTrain; one get gives one value', async () => {
    const s = setup(4, 5, 3, 2);
    const predict = gradientDescentMseEnsemble(s.kernelFn, s.xTrain, s.yTrain, { diagReg: 1e-2 });
    for (const g of ['nngp', 'ntk'] as const) {
      const inf = await predict(Infinity, s.xTest, g, true) as Gaussian;
      const none = await predict(null, s.xTest, g, true) as Gaussian;
      expect(diff(inf.mean.dataSync(), none.mean.dataSync())).toBeLessThan(1e-9);
      expect(diff(inf.covariance.dataSync(), none.covariance.dataSync())).toBeLessThan(1e-9);
    }
    const plain = gradientDescentMseEnsemble(s.kernelFn, s.xTrain, s.yTrain);
    for (const g of ['nngp', 'ntk'] as const) {
      const onTrain = await plain([3, 30], null, g, true) as Gaussian;
      const asTest = await plain([3, 30], s.xTrain, g, true) as Gaussian;
      expect(diff(onTrain.mean.dataSync(), asTest.mean.dataSync())).toBeLessThan(1e-9);
      expect(diff(onTrain.covariance.dataSync(), asTest.covariance.dataSync())).toBeLessThan(1e-9);
    }
    const grid = await plain([[3], [30]], s.xTest, 'ntk', true) as Gaussian;
    const flat = await plain([3, 30], s.xTest, 'ntk', true) as Gaussian;
    expect(grid.mean.shape).toEqual([2, 1, 3, 2]);
    expect(grid.covariance.shape).toEqual([2, 1, 3, 3]);
    expect(Array.from(grid.covariance.dataSync())).toEqual(Array.from(flat.covariance.dataSync()));
    const meanOnly = await plain(2, s.xTest, 'ntk');
    expect((meanOnly as tg.Tensor).shape).toEqual([3, 2]);
    await expect(plain(1, s.xTest, 'nngq' as Get)).rejects.toThrow(/get must be 'nngp', 'ntk'/);
    expect(() => gradientDescentMseEnsemble(s.kernelFn, s.xTest, s.yTrain)).toThrow(/differ in the number of samples/);
  });
});
