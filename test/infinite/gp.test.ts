/**
 * The GP over initializations of infinitely wide networks (PAPER.md section 7) from a model's
 * analytic kernels: t = 0 is the prior, t = infinity the exact formulas, covariances PSD at all
 * times, discrete GD steps against a direct iteration, readout-only training and the NNGP posterior.
 */
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import { infiniteKernels, infinitePredictor, predictInfinite, type InfiniteKernels } from '../../linearize/infinite.ts';
import { addScaled, choleskySolve, matmul, matrix, symmetricEigen, transpose, type Matrix } from '../../linalg/dense.ts';
import { Conv, Dense, Erf, Relu, serial, Tanh } from '../../models/index.ts';
import { host } from './host-kernel.ts';

const o = { W_std: Math.sqrt(1.5), b_std: 0.1 };
const net = serial(Dense(512, o), Erf(), Dense(512, o), Tanh(), Dense(1, o));
const xTrain = tg.normal(tg.key(21), [6, 4], 'float64');
const xTest = tg.normal(tg.key(22), [3, 4], 'float64');
const y = matrix(6, 2, Array.from({ length: 12 }, (_, i) => Math.sin(1.7 * i) + 0.3));
const kernels = infiniteKernels(net, xTrain, xTest);

function maxAbsDiff(a: Matrix, b: Matrix): number {
  expect([a.rows, a.cols]).toEqual([b.rows, b.cols]);
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
  return d;
}

/** mean and covariance for a given operator A (m x n), by the symmetric formula. */
function gpFromOperator(k: InfiniteKernels, A: Matrix, Y: Matrix): { mean: Matrix; cov: Matrix } {
  const AKAt = matmul(matmul(A, k.kTrainTrain), transpose(A));
  const cross = matmul(A, transpose(k.kTestTrain));
  return { mean: matmul(A, Y), cov: addScaled(addScaled(k.kTestTest, AKAt), addScaled(cross, transpose(cross)), 1, -1) };
}

describe('infiniteKernels', () => {
  it('slices one symmetric evaluation on [X; x] into the train/test blocks of the direct calls', () => {
    const direct = host(net.kernel(xTest, xTrain));
    expect(maxAbsDiff(kernels.kTestTrain, direct.nngp)).toBeLessThan(1e-12);
    expect(maxAbsDiff(kernels.thetaTestTrain, direct.ntk!)).toBeLessThan(1e-12);
    expect(maxAbsDiff(kernels.thetaTrainTrain, host(net.kernel(xTrain)).ntk!)).toBeLessThan(1e-12);
    expect([kernels.kTestTest.rows, kernels.kTestTest.cols]).toEqual([3, 3]);
  });

  it('needs a dense readout and the NTK', () => {
    const img = tg.normal(tg.key(3), [2, 3, 3, 1], 'float64');
    expect(() => infiniteKernels(serial(Conv(4, [2, 2]), Relu()), img, img)).toThrow(/end the model with a dense readout/);
    expect(() => infiniteKernels(net, xTrain, xTest, { get: 'nngp' })).toThrow(/needs the NTK too/);
    expect(() => infiniteKernels(net, xTrain, img)).toThrow(/must share every axis/);
  });
});

describe('GP over initializations (gradient flow)', () => {
  const gp = infinitePredictor({ kernels, yTrain: y, eta: 0.7, loss: 'sum/2' });

  it('t = 0: mean 0, covariance K(x, x)', () => {
    const [p] = gp.predict([0]);
    expect(Math.max(...p.mean.data.map(Math.abs))).toBe(0);
    expect(maxAbsDiff(p.covariance, kernels.kTestTest)).toBeLessThan(1e-12);
  });

  it('t = infinity: mean Theta(x,X) Theta^{-1} Y and the symmetric covariance, by an independent Cholesky solve', () => {
    const [p] = gp.predict([Infinity]);
    const A = transpose(choleskySolve(kernels.thetaTrainTrain, transpose(kernels.thetaTestTrain)));
    const ref = gpFromOperator(kernels, A, y);
    const scale = Math.max(...kernels.kTestTest.data.map(Math.abs));
    expect(maxAbsDiff(p.mean, ref.mean)).toBeLessThan(1e-9 * Math.max(1, Math.max(...ref.mean.data.map(Math.abs))));
    expect(maxAbsDiff(p.covariance, ref.cov)).toBeLessThan(1e-9 * scale);
    // The train points themselves are interpolated: A_inf on x = X is the identity.
    const onTrain = infinitePredictor({ kernels: infiniteKernels(net, xTrain, xTrain), yTrain: y, eta: 1, loss: 'sum/2' }).predict([Infinity])[0];
    expect(maxAbsDiff(onTrain.mean, y)).toBeLessThan(1e-8);
    expect(Math.max(...onTrain.covariance.data.map(Math.abs))).toBeLessThan(1e-8 * scale);
  });

  it('covariances are symmetric PSD at every time, and what the clamp changed is round-off', () => {
    const times = [0, 0.1, 1, 3, 10, 30, 100, 1e3, 1e5, Infinity];
    for (const p of [...gp.predict(times), ...gp.predictReadout(times)]) {
      const c = p.covariance;
      for (let i = 0; i < c.rows; i++) for (let j = 0; j < c.cols; j++) expect(c.data[i * c.cols + j]).toBe(c.data[j * c.cols + i]);
      expect(symmetricEigen(c).values[0]).toBeGreaterThan(-1e-12);
      expect(p.psdClamp.mostNegative).toBeGreaterThan(-1e-10);
    }
  });

  it("'mean/2' with eta N k equals 'sum/2' with eta", () => {
    const a = infinitePredictor({ kernels, yTrain: y, eta: 0.7 * 12, loss: 'mean/2' }).predict([5])[0];
    const b = gp.predict([5])[0];
    expect(maxAbsDiff(a.mean, b.mean)).toBeLessThan(1e-12);
    expect(gp.effectiveRate).toBe(0.7);
  });
});

describe('GP after discrete gradient-descent steps', () => {
  const eta = 0.5 / symmetricEigen(kernels.thetaTrainTrain).values[5];
  const gp = infinitePredictor({ kernels, yTrain: y, eta, loss: 'sum/2' });

  it('step 0 is the prior; the operator equals the GD iteration A_{i+1} = A_i + eta Theta(x,X) (I - eta Theta)^i', () => {
    const steps = [0, 1, 2, 7, 40];
    const preds = gp.predictSteps(steps);
    expect(maxAbsDiff(preds[0].covariance, kernels.kTestTest)).toBeLessThan(1e-12);
    // Direct iteration of the train residual map: P_i = (I - eta Theta)^i, A_i = eta Theta(x,X) sum_{j<i} P_j.
    const n = 6;
    let P = matrix(n, n);
    for (let i = 0; i < n; i++) P.data[i * n + i] = 1;
    let S = matrix(n, n);
    const I_eta = addScaled(P, kernels.thetaTrainTrain, 1, -eta);
    let at = 0;
    for (let i = 0; i <= 40; i++) {
      if (i === steps[at]) {
        const A = matmul(kernels.thetaTestTrain, S);
        const ref = gpFromOperator(kernels, matrix(A.rows, A.cols, A.data.map((v) => v * eta)), y);
        expect(maxAbsDiff(preds[at].mean, ref.mean)).toBeLessThan(1e-10);
        expect(maxAbsDiff(preds[at].covariance, ref.cov)).toBeLessThan(1e-10);
        at++;
      }
      S = addScaled(S, P);
      P = matmul(P, I_eta);
    }
  });

  it('with a small step, GD steps approach gradient flow at t = steps', () => {
    const small = infinitePredictor({ kernels, yTrain: y, eta: eta / 200, loss: 'sum/2' });
    const [gd] = small.predictSteps([4000]);
    const [flow] = small.predict([4000]);
    expect(maxAbsDiff(gd.mean, flow.mean)).toBeLessThan(5e-3 * Math.max(...flow.mean.data.map(Math.abs)));
    expect(gp.maxStableEta).toBeCloseTo(2 / symmetricEigen(kernels.thetaTrainTrain).values[5], 10);
  });

  it('readout-only steps use K in place of Theta', () => {
    const [p] = gp.predictSteps([25], { readoutOnly: true });
    const swapped = infinitePredictor({
      kernels: { ...kernels, thetaTrainTrain: kernels.kTrainTrain, thetaTestTrain: kernels.kTestTrain },
      yTrain: y, eta, loss: 'sum/2',
    }).predictSteps([25])[0];
    expect(maxAbsDiff(p.mean, swapped.mean)).toBe(0);
    expect(() => gp.predictSteps([1.5])).toThrow(/steps must be non-negative integers/);
  });
});

describe('readout-only training and the NNGP posterior', () => {
  const gp = infinitePredictor({ kernels, yTrain: y, eta: 1, loss: 'sum/2' });

  it('readout training to t = infinity is the exact NNGP posterior', () => {
    const [r] = gp.predictReadout([Infinity]);
    const post = gp.posterior();
    const A = transpose(choleskySolve(kernels.kTrainTrain, transpose(kernels.kTestTrain)));
    const mean = matmul(A, y);
    const cov = addScaled(kernels.kTestTest, matmul(A, transpose(kernels.kTestTrain)), 1, -1);
    const scale = Math.max(...kernels.kTestTest.data.map(Math.abs));
    for (const p of [r, post]) {
      expect(maxAbsDiff(p.mean, mean)).toBeLessThan(1e-9);
      expect(maxAbsDiff(p.covariance, cov)).toBeLessThan(1e-9 * scale);
    }
    expect(post.t).toBe(Infinity);
  });

  it('predictInfinite is the one-call form', () => {
    const [a] = predictInfinite(net, { xTrain, yTrain: y, xTest, eta: 1, loss: 'sum/2', times: [3] });
    expect(maxAbsDiff(a.mean, gp.predict([3])[0].mean)).toBeLessThan(1e-12);
    const [b] = predictInfinite(net, { xTrain, yTrain: y, xTest, eta: 1, loss: 'sum/2', times: [3], readoutOnly: true });
    expect(maxAbsDiff(b.covariance, gp.predictReadout([3])[0].covariance)).toBeLessThan(1e-12);
  });

  it('validates its inputs', () => {
    expect(() => infinitePredictor({ kernels, yTrain: matrix(5, 1), eta: 1, loss: 'sum/2' })).toThrow(/yTrain must have 6 rows/);
    expect(() => gp.predict([-1])).toThrow(/times must be >= 0/);
  });
});
