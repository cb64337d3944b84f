/**
 * gradientDescent / momentum (the function-space ODE for any loss) against independent
 * references: the closed form for MSE (gradientDescentMse, eigendecomposition, no ODE), explicit
 * small-step iterations with a hand-written loss gradient (no autodiff, no Dormand-Prince), and
 * the explicit heavy-ball iteration whose continuous limit the momentum ODE is.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tg from '../../engine/index.ts';
import { gradientDescent, momentum, ODEState } from '../../linearize/predict-ode.ts';
import { gradientDescentMse } from '../../linearize/predict.ts';
import { rng } from './random-matrices.ts';

type Arr = { shape: number[]; data: Float64Array };
const mse = (f: tg.Tensor, y: tg.Tensor) => tg.mul(tg.mean(tg.square(tg.sub(f, y))), 0.5);
const crossEntropy = (f: tg.Tensor, y: tg.Tensor) => tg.neg(tg.mean(tg.mul(tg.logSoftmax(f, -1), y)));

function psd(total: number, rand: () => number): Float64Array {
  const r = total + 1;
  const a = Array.from({ length: total * r }, rand);
  const k = new Float64Array(total * total);
  for (let i = 0; i < total; i++) for (let j = 0; j < total; j++) {
    let s = 0;
    for (let p = 0; p < r; p++) s += a[i * r + p] * a[j * r + p];
    k[i * total + j] = s / r + (i === j ? 0.05 : 0);
  }
  return k;
}

function problem(seed: number, n: number, m: number, k: number) {
  const rand = rng(seed);
  const total = n + m;
  const kAll = psd(total, rand);
  const blk = (r0: number, r1: number, c0: number, c1: number): Arr => {
    const data = new Float64Array((r1 - r0) * (c1 - c0));
    for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) data[(i - r0) * (c1 - c0) + j - c0] = kAll[i * total + j];
    return { shape: [r1 - r0, c1 - c0], data };
  };
  const arr = (shape: number[]): Arr => ({ shape, data: Float64Array.from({ length: shape[0] * shape[1] }, rand) });
  // One-hot targets for the cross-entropy.
  const onehot = { shape: [n, k], data: new Float64Array(n * k) };
  for (let i = 0; i < n; i++) onehot.data[i * k + (i % k)] = 1;
  return { kdd: blk(0, n, 0, n), ktd: blk(n, total, 0, n), y: arr([n, k]), onehot, f0: arr([n, k]), ft0: arr([m, k]) };
}

function mul(a: Float64Array, r: number, k: number, b: Float64Array, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let p = 0; p < k; p++) for (let j = 0; j < c; j++) out[i * c + j] += a[i * k + p] * b[p * c + j];
  return out;
}

const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Hand-written gradient of -mean(logSoftmax(f) y) over n x k entries. */
function ceGradient(f: Float64Array, y: Float64Array, n: number, k: number): Float64Array {
  const g = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, f[i * k + j]);
    let z = 0;
    for (let j = 0; j < k; j++) z += Math.exp(f[i * k + j] - mx);
    let ysum = 0;
    for (let j = 0; j < k; j++) ysum += y[i * k + j];
    for (let j = 0; j < k; j++) g[i * k + j] = ((Math.exp(f[i * k + j] - mx) / z) * ysum - y[i * k + j]) / (n * k);
  }
  return g;
}

describe('gradientDescent (function-space ODE)', () => {
  it('with the MSE loss equals the closed form gradientDescentMse (random sizes and learning rates)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.double({ min: 0.2, max: 4, noNaN: true }), (seed, n, m, k, lr) => {
      const p = problem(seed, n, m, k);
      const times = [0, 1.5, 12, 80];
      const ode = gradientDescent(mse, p.kdd, p.y, { learningRate: lr })(times, p.f0, p.ft0, p.ktd) as { train: tg.Tensor; test: tg.Tensor };
      const closed = gradientDescentMse(p.kdd, p.y, { learningRate: lr })(times, p.f0, p.ft0, p.ktd);
      expect(ode.train.shape).toEqual([4, n, k]);
      expect(diff(ode.train.dataSync(), closed.train!.dataSync())).toBeLessThan(1e-7);
      expect(diff(ode.test.dataSync(), closed.test!.dataSync())).toBeLessThan(1e-7);
    }), { numRuns: 10 });
  });

  it('with cross-entropy matches explicit small-step gradient descent with a hand-written gradient', () => {
    const [n, m, k] = [5, 3, 3];
    const p = problem(21, n, m, k);
    const T = 40;
    const ode = gradientDescent(crossEntropy, p.kdd, p.onehot)(T, p.f0, p.ft0, p.ktd) as { train: tg.Tensor; test: tg.Tensor };
    const errs = [0.02, 0.005].map((h) => {
      let f = Float64Array.from(p.f0.data);
      let ft = Float64Array.from(p.ft0.data);
      for (let s = 0; s < Math.round(T / h); s++) {
        const g = ceGradient(f, p.onehot.data, n, k);
        const d = mul(p.kdd.data, n, n, g, k);
        const dt = mul(p.ktd.data, m, n, g, k);
        f = f.map((v, i) => v - h * d[i]);
        ft = ft.map((v, i) => v - h * dt[i]);
      }
      return Math.max(diff(ode.train.dataSync(), f), diff(ode.test.dataSync(), ft));
    });
    expect(errs[0]).toBeLessThan(1e-3);
    expect(errs[1]).toBeLessThan(errs[0] / 2.5); // Euler converges at first order to the ODE solution
  });

  it('momentum: the ODE is the limit of explicit heavy-ball iterations (error shrinks as sqrt(lr))', () => {
    const [n, m, k] = [4, 2, 2];
    const p = problem(5, n, m, k);
    const frictionTilde = -1.5; // (beta - 1) / sqrt(lr), held fixed as lr -> 0
    const T = 6; // absolute time sqrt(lr) * steps
    const errs = [1e-2, 1e-3].map((lr) => {
      const beta = 1 + frictionTilde * Math.sqrt(lr);
      const steps = Math.round(T / Math.sqrt(lr));
      const predict = momentum(mse, p.kdd, p.y, { learningRate: lr, momentum: beta });
      const ode = predict(steps, p.f0, p.ft0, p.ktd) as { train: tg.Tensor; test: tg.Tensor };
      let f = Float64Array.from(p.f0.data);
      let fPrev = Float64Array.from(f);
      let ft = Float64Array.from(p.ft0.data);
      let ftPrev = Float64Array.from(ft);
      for (let s = 0; s < steps; s++) {
        const g = f.map((v, i) => (v - p.y.data[i]) / (n * k));
        const d = mul(p.kdd.data, n, n, g, k);
        const dt = mul(p.ktd.data, m, n, g, k);
        const fNext = f.map((v, i) => v - lr * d[i] + beta * (v - fPrev[i]));
        const ftNext = ft.map((v, i) => v - lr * dt[i] + beta * (v - ftPrev[i]));
        [fPrev, f, ftPrev, ft] = [f, fNext, ft, ftNext];
      }
      return Math.max(diff(ode.train.dataSync(), f), diff(ode.test.dataSync(), ft));
    });
    expect(errs[0]).toBeLessThan(0.1);
    expect(errs[1]).toBeLessThan(errs[0] / 2); // sqrt(10) ~ 3.2 expected
  });

  it('an ODEState in gives the full state out, and resuming from it equals one longer run', () => {
    const p = problem(8, 4, 2, 2);
    const predict = gradientDescent(crossEntropy, p.kdd, p.onehot, { learningRate: 0.5, momentum: 0.8 });
    const t0 = (a: Arr) => tg.tensor(a.data, a.shape, 'float64', tg.backendInstance('cpu'));
    const mid = predict(10, new ODEState(t0(p.f0), t0(p.ft0)), undefined, p.ktd) as ODEState;
    expect(mid).toBeInstanceOf(ODEState);
    expect(mid.qxTrain!.shape).toEqual([4, 2]);
    const resumed = predict(15, mid, undefined, p.ktd) as ODEState;
    const direct = predict(25, new ODEState(t0(p.f0), t0(p.ft0)), undefined, p.ktd) as ODEState;
    expect(diff(resumed.fxTrain!.dataSync(), direct.fxTrain!.dataSync())).toBeLessThan(1e-7);
    expect(diff(resumed.fxTest!.dataSync(), direct.fxTest!.dataSync())).toBeLessThan(1e-7);
    expect(diff(resumed.qxTest!.dataSync(), direct.qxTest!.dataSync())).toBeLessThan(1e-7);
  });

  it('names bad input', () => {
    const p = problem(1, 3, 2, 2);
    expect(() => gradientDescent(mse, p.kdd, p.y)(Infinity, p.f0)).toThrow(/no infinite-time form/);
    expect(() => gradientDescent(mse, p.kdd, p.y)([2, 1], p.f0)).toThrow(/non-decreasing/);
    expect(() => gradientDescent((f) => f, p.kdd, p.y)(1, p.f0)).toThrow(/loss must return a scalar tensor, got shape \[3,2\]/);
    expect(() => gradientDescent(mse, p.kdd, p.y)(1, p.f0, p.ft0)).toThrow(/need kTestTrain/);
    expect(() => momentum(mse, p.kdd, p.y, {} as { momentum: number })).toThrow(/opts.momentum must be a number/);
  });
});
