/**
 * PAPER.md section 10, identities 6-7 and section 8, on real networks: the weight-space closed form
 * (omega_t = -J^T c_t) reproduces the function-space closed form on train and test points, and a
 * wide network trained by gradient descent stays close to its linearization, closer as it widens.
 */
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { mseFlow } from '../../linearize/flow.ts';
import { matrix } from '../../linalg/dense.ts';
import { linearize, weightChange } from '../../linearize/linearize.ts';
import { empiricalNtk } from '../../linearize/ntk.ts';
import { expectClose } from '../engine/util.ts';
import { mlp } from './nets.ts';

const asMatrix = (t: Tensor) => matrix(t.shape[0], t.size / t.shape[0], Float64Array.from(t.dataSync()));

describe('closed form in weight space (identity 7)', () => {
  it('f_lin(theta0 + omega_t) equals the function-space closed form on train and test points', () => {
    tg.tidy(() => {
      const net = mlp(tg.key(5), [3, 16, 16], 2);
      const x = net.input(tg.key(6), 5);
      const xs = net.input(tg.key(7), 4);
      const y = tg.normal(tg.key(8), [5, 2], 'float64');
      const flow = mseFlow({
        thetaTrain: asMatrix(empiricalNtk(net.apply, net.params, x, x)),
        thetaTestTrain: asMatrix(empiricalNtk(net.apply, net.params, xs, x)),
        f0Train: matrix(10, 1, Float64Array.from(net.apply(net.params, x).dataSync())),
        f0Test: matrix(8, 1, Float64Array.from(net.apply(net.params, xs).dataSync())),
        yTrain: matrix(10, 1, Float64Array.from(y.dataSync())),
        eta: 0.05,
        loss: 'sum/2',
      });
      const fLin = linearize(net.apply, net.params);
      for (const t of [0, 3, 40]) {
        const c = flow.coefficientsAt(t);
        const omega = weightChange(net.apply, net.params, x, tg.tensor(c.data, [5, 2], 'float64'));
        const moved = tg.treeZip([net.params, omega], ([p, w]) => tg.add(p, w));
        expectClose(fLin(moved, x).dataSync(), flow.trainAt([t])[0].data, 1e-9, 1e-9, `train t=${t}`);
        expectClose(fLin(moved, xs).dataSync(), flow.testAt([t])[0].data, 1e-9, 1e-9, `test t=${t}`);
      }
    });
  });
});

describe('wide networks evolve as their linearization (section 8)', () => {
  it('the RMSE between network and linearization after training falls with width', () => {
    const gap = (width: number) => tg.tidy(() => {
      const net = mlp(tg.key(1), [4, width, width], 1);
      const x = net.input(tg.key(2), 8);
      const xs = net.input(tg.key(3), 8);
      const y = tg.tanh(tg.sum(x, 1, true));
      const theta = asMatrix(empiricalNtk(net.apply, net.params, x, x));
      const lambdaMax = mseFlow({ thetaTrain: theta, f0Train: new Float64Array(8), yTrain: new Float64Array(8), eta: 1, loss: 'sum/2' }).maxStableLearningRate;
      const lr = lambdaMax / 2;
      const fLin = linearize(net.apply, net.params);
      const train = (f: (p: unknown, x: Tensor) => Tensor) => {
        let p: unknown = net.params;
        const g = tg.grad((q: unknown) => tg.mse(f(q, x), y, 'sum/2'));
        for (let i = 0; i < 30; i++) p = tg.treeZip([p, g(p)], ([a, b]) => tg.sub(a, tg.mul(b, lr)));
        return f(p, xs).dataSync();
      };
      const a = train(net.apply);
      const b = train(fLin);
      let s = 0;
      for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
      return Math.sqrt(s / a.length);
    });
    const widths = [32, 128, 512];
    const gaps = widths.map(gap);
    // Monotone decrease, and overall at least ~1/sqrt(n): 16x the width, at least 4x smaller.
    expect(gaps[1]).toBeLessThan(gaps[0]);
    expect(gaps[2]).toBeLessThan(gaps[1]);
    expect(gaps[2]).toBeLessThan(gaps[0] / 4);
  });
});
