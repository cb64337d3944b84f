/**
 * neural-tangents' predictors against independent float64 references: ODE integration and
 * explicit gradient-descent iterations (no eigendecomposition), direct linear algebra by
 * Gauss-Jordan elimination (no Cholesky), and the largest eigenvalue by power iteration.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tg from '../../engine/index.ts';
import { gpInference, gradientDescentMse, maxLearningRate } from '../../linearize/predict.ts';
import { dopri5 } from '../../linearize/ode.ts';
import { rng } from './random-matrices.ts';

type Arr = { shape: number[]; data: Float64Array };

/** A random PSD joint kernel over `total` points: (A A^T) / r + ridge I. */
function psd(total: number, r: number, ridge: number, rand: () => number): Float64Array {
  const a = Array.from({ length: total * r }, rand);
  const k = new Float64Array(total * total);
  for (let i = 0; i < total; i++) {
    for (let j = 0; j < total; j++) {
      let s = 0;
      for (let p = 0; p < r; p++) s += a[i * r + p] * a[j * r + p];
      k[i * total + j] = s / r + (i === j ? ridge : 0);
    }
  }
  return k;
}

function block(k: Float64Array, total: number, r0: number, r1: number, c0: number, c1: number): Arr {
  const data = new Float64Array((r1 - r0) * (c1 - c0));
  for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) data[(i - r0) * (c1 - c0) + j - c0] = k[i * total + j];
  return { shape: [r1 - r0, c1 - c0], data };
}

function randomArray(shape: number[], rand: () => number): Arr {
  return { shape, data: Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rand) };
}

/** Row-major a [r, k] times b [k, c]. */
function mul(a: Float64Array, r: number, k: number, b: Float64Array, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let p = 0; p < k; p++) for (let j = 0; j < c; j++) out[i * c + j] += a[i * k + p] * b[p * c + j];
  return out;
}

function tr(a: Float64Array, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j];
  return out;
}

/** Solves A X = B by Gauss-Jordan elimination with partial pivoting (an independent reference to Cholesky). */
function gaussSolve(a: Float64Array, n: number, b: Float64Array, c: number): Float64Array {
  const A = Float64Array.from(a);
  const B = Float64Array.from(b);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(A[r * n + col]) > Math.abs(A[piv * n + col])) piv = r;
    for (let j = 0; j < n; j++) [A[col * n + j], A[piv * n + j]] = [A[piv * n + j], A[col * n + j]];
    for (let j = 0; j < c; j++) [B[col * c + j], B[piv * c + j]] = [B[piv * c + j], B[col * c + j]];
    const d = A[col * n + col];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = A[r * n + col] / d;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) A[r * n + j] -= f * A[col * n + j];
      for (let j = 0; j < c; j++) B[r * c + j] -= f * B[col * c + j];
    }
  }
  for (let r = 0; r < n; r++) for (let j = 0; j < c; j++) B[r * c + j] /= A[r * n + r];
  return B;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const scale = (a: ArrayLike<number>) => Math.max(1, ...Array.from(a, Math.abs));

/** Kernel problem: n train, m test points, k outputs. */
function problem(seed: number, n: number, m: number, k: number, ridge = 0.05) {
  const rand = rng(seed);
  const total = n + m;
  const kAll = psd(total, total + 1, ridge, rand);
  const nngpAll = psd(total, total + 2, ridge, rand);
  return {
    kdd: block(kAll, total, 0, n, 0, n),
    ktd: block(kAll, total, n, total, 0, n),
    ktt: block(kAll, total, n, total, n, total),
    nngpDd: block(nngpAll, total, 0, n, 0, n),
    nngpTd: block(nngpAll, total, n, total, 0, n),
    nngpTt: block(nngpAll, total, n, total, n, total),
    y: randomArray([n, k], rand),
    f0: randomArray([n, k], rand),
    ft0: randomArray([m, k], rand),
  };
}

/** f' = -(lr / N) K (f - y) for train and test jointly, by Dormand-Prince (no eigendecomposition). */
function odeReference(p: ReturnType<typeof problem>, lr: number, times: number[]) {
  const n = p.kdd.shape[0];
  const m = p.ktd.shape[0];
  const k = p.y.shape[1];
  const N = n * k;
  const y0 = new Float64Array((n + m) * k);
  y0.set(p.f0.data);
  y0.set(p.ft0.data, n * k);
  const sol = dopri5((_t, y, dy) => {
    const r = y.subarray(0, n * k).map((v, i) => v - p.y.data[i]);
    const dTrain = mul(p.kdd.data, n, n, r, k);
    const dTest = mul(p.ktd.data, m, n, r, k);
    for (let i = 0; i < n * k; i++) dy[i] = (-lr / N) * dTrain[i];
    for (let i = 0; i < m * k; i++) dy[n * k + i] = (-lr / N) * dTest[i];
  }, 0, y0, times, { rtol: 1e-11, atol: 1e-13 });
  return sol.states.map((s) => ({ train: s.subarray(0, n * k), test: s.subarray(n * k) }));
}

describe('gradientDescentMse', () => {
  it('matches ODE integration of the function-space flow at finite times (random sizes, learning rates)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.double({ min: 0.1, max: 5, noNaN: true }), (seed, n, m, k, lr) => {
      const p = problem(seed, n, m, k);
      const times = [0, 0.7, 3, 40];
      const predict = gradientDescentMse(p.kdd, p.y, { learningRate: lr });
      const { train, test } = predict(times, p.f0, p.ft0, p.ktd);
      expect(train!.shape).toEqual([4, n, k]);
      expect(test!.shape).toEqual([4, m, k]);
      const ref = odeReference(p, lr, times);
      const tr0 = train!.dataSync();
      const te0 = test!.dataSync();
      times.forEach((_, i) => {
        expect(maxAbsDiff(tr0.subarray(i * n * k, (i + 1) * n * k), ref[i].train)).toBeLessThan(1e-8 * scale(ref[i].train));
        expect(maxAbsDiff(te0.subarray(i * m * k, (i + 1) * m * k), ref[i].test)).toBeLessThan(1e-8 * scale(ref[i].test));
      });
    }), { numRuns: 25 });
  });

  it('matches explicit gradient-descent steps with a tiny step (error shrinks with the step)', () => {
    const p = problem(7, 5, 3, 2);
    const N = 10;
    const T = 30; // total time in units of learning rate 1
    const errs = [0.05, 0.0125].map((lr) => {
      const steps = Math.round(T / lr);
      let f = Float64Array.from(p.f0.data);
      let ft = Float64Array.from(p.ft0.data);
      for (let s = 0; s < steps; s++) {
        const r = f.map((v, i) => v - p.y.data[i]);
        const d = mul(p.kdd.data, 5, 5, r, 2);
        const dt = mul(p.ktd.data, 3, 5, r, 2);
        f = f.map((v, i) => v - (lr / N) * d[i]);
        ft = ft.map((v, i) => v - (lr / N) * dt[i]);
      }
      const { train, test } = gradientDescentMse(p.kdd, p.y, { learningRate: lr })(steps, p.f0, p.ft0, p.ktd);
      return Math.max(maxAbsDiff(train!.dataSync(), f), maxAbsDiff(test!.dataSync(), ft));
    });
    expect(errs[0]).toBeLessThan(2e-2);
    expect(errs[1]).toBeLessThan(errs[0] / 3); // first order in the step
  });

  it('t = null is the Cholesky solution, equals t = Infinity and direct linear algebra; train outputs are yTrain', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), (seed, n, m) => {
      const p = problem(seed, n, m, 2);
      const predict = gradientDescentMse(p.kdd, p.y, { diagReg: 1e-3 });
      const inf = predict(null, p.f0, p.ft0, p.ktd);
      const atInf = predict(Infinity, p.f0, p.ft0, p.ktd);
      expect(Array.from(inf.train!.dataSync())).toEqual(Array.from(p.y.data));
      // Direct: f_test = f_test0 + Ktd (K + reg I)^-1 (y - f0), reg = 1e-3 mean(diag K).
      let trace = 0;
      for (let i = 0; i < n; i++) trace += p.kdd.data[i * n + i];
      const reg = Float64Array.from(p.kdd.data);
      for (let i = 0; i < n; i++) reg[i * n + i] += (1e-3 * trace) / n;
      const sol = gaussSolve(reg, n, p.y.data.map((v, i) => v - p.f0.data[i]), 2);
      const direct = mul(p.ktd.data, m, n, sol, 2).map((v, i) => v + p.ft0.data[i]);
      expect(maxAbsDiff(inf.test!.dataSync(), direct)).toBeLessThan(1e-9 * scale(direct));
      expect(maxAbsDiff(atInf.test!.dataSync(), direct)).toBeLessThan(1e-8 * scale(direct));
    }), { numRuns: 25 });
  });

  it('diagReg is relative to mean(diag K) unless diagRegAbsoluteScale', () => {
    const p = problem(3, 4, 2, 1);
    let trace = 0;
    for (let i = 0; i < 4; i++) trace += p.kdd.data[i * 4 + i];
    const a = gradientDescentMse(p.kdd, p.y, { diagReg: 0.3 })([5, 50], p.f0, p.ft0, p.ktd);
    const b = gradientDescentMse(p.kdd, p.y, { diagReg: (0.3 * trace) / 4, diagRegAbsoluteScale: true })([5, 50], p.f0, p.ft0, p.ktd);
    expect(maxAbsDiff(a.test!.dataSync(), b.test!.dataSync())).toBeLessThan(1e-12);
    const c = gradientDescentMse(p.kdd, p.y, { diagReg: 0.3, diagRegAbsoluteScale: true })([5, 50], p.f0, p.ft0, p.ktd);
    expect(maxAbsDiff(a.test!.dataSync(), c.test!.dataSync())).toBeGreaterThan(1e-6);
  });

  it('traceAxes []: the full kernel [N, N, K, K] = Theta ⊗ I_K gives the traced predictions; matrix and zipped forms agree', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), (seed, n, m, k) => {
      const p = problem(seed, n, m, k);
      const kron = (a: Arr): Arr => {
        const [r, c] = a.shape;
        const data = new Float64Array(r * c * k * k);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) for (let u = 0; u < k; u++) data[((i * c + j) * k + u) * k + u] = a.data[i * c + j];
        return { shape: [r, c, k, k], data };
      };
      const traced = gradientDescentMse(p.kdd, p.y)([2, 20], p.f0, p.ft0, p.ktd);
      const full = gradientDescentMse(kron(p.kdd), p.y, { traceAxes: [] })([2, 20], p.f0, p.ft0, kron(p.ktd));
      expect(maxAbsDiff(traced.test!.dataSync(), full.test!.dataSync())).toBeLessThan(1e-10);
      expect(maxAbsDiff(traced.train!.dataSync(), full.train!.dataSync())).toBeLessThan(1e-10);
      // The matrix form [N K, N K] of the same kernel (rows (i, k)).
      const asMatrix = (a: Arr): Arr => {
        const [r, c] = a.shape;
        const data = new Float64Array(r * c * k * k);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) for (let u = 0; u < k; u++) data[(i * k + u) * (c * k) + j * k + u] = a.data[i * c + j];
        return { shape: [r * k, c * k], data };
      };
      const mat = gradientDescentMse(asMatrix(p.kdd), p.y, { traceAxes: [] })([2, 20], p.f0, p.ft0, asMatrix(p.ktd));
      expect(maxAbsDiff(mat.test!.dataSync(), full.test!.dataSync())).toBeLessThan(1e-10);
    }), { numRuns: 20 });
  });

  it('takes tensors and Matrix inputs alike, and fxTrain0 = null asks for test outputs only', () => {
    const p = problem(11, 4, 3, 2);
    const t = (a: Arr) => tg.tensor(a.data, a.shape, 'float64', tg.backendInstance('cpu'));
    const a = gradientDescentMse(t(p.kdd), t(p.y))(4, t(p.f0), t(p.ft0), t(p.ktd));
    const b = gradientDescentMse({ rows: 4, cols: 4, data: p.kdd.data }, p.y)(4, p.f0, p.ft0, { rows: 3, cols: 4, data: p.ktd.data });
    expect(Array.from(a.test!.dataSync())).toEqual(Array.from(b.test!.dataSync()));
    const c = gradientDescentMse(p.kdd, p.y)(4, null, p.ft0, p.ktd);
    expect(c.train).toBeUndefined();
    // fxTrain0 = null means zero initial train outputs.
    const d = gradientDescentMse(p.kdd, p.y)(4, 0, p.ft0, p.ktd);
    expect(Array.from(c.test!.dataSync())).toEqual(Array.from(d.test!.dataSync()));
  });

  it('t may be nested lists of any rectangular shape (leading axes of that shape), as neural-tangents t arrays', () => {
    const p = problem(12, 4, 3, 2);
    const predict = gradientDescentMse(p.kdd, p.y);
    const grid = predict([[1, 2, 3], [4, 5, 6]], p.f0, p.ft0, p.ktd);
    const flat = predict([1, 2, 3, 4, 5, 6], p.f0, p.ft0, p.ktd);
    expect(grid.train!.shape).toEqual([2, 3, 4, 2]);
    expect(grid.test!.shape).toEqual([2, 3, 3, 2]);
    expect(Array.from(grid.test!.dataSync())).toEqual(Array.from(flat.test!.dataSync()));
    expect(predict(5, p.f0, p.ft0, p.ktd).test!.shape).toEqual([3, 2]);
    expect(() => predict([[1, 2], [3]], p.f0)).toThrow(/ragged list/);
  });

  it('an exactly zero eigenvalue uses the exact limit (neural-tangents divides 0 by 0) and matches the ODE', () => {
    const p = problem(2, 3, 2, 1);
    const kdd = { shape: [3, 3], data: Float64Array.from([2, 0, 0, 0, 0, 0, 0, 0, 1]) };
    const ktd = { shape: [2, 3], data: Float64Array.from([0.5, 0.3, -0.2, 0.1, -0.4, 0.7]) };
    const q = { ...p, kdd, ktd };
    const times = [1, 10];
    const { train, test } = gradientDescentMse(kdd, p.y, { learningRate: 2 })(times, p.f0, p.ft0, ktd);
    expect(Array.from(test!.dataSync()).every(Number.isFinite)).toBe(true);
    const ref = odeReference(q, 2, times);
    times.forEach((_, i) => {
      expect(maxAbsDiff(train!.dataSync().subarray(i * 3, i * 3 + 3), ref[i].train)).toBeLessThan(1e-8);
      expect(maxAbsDiff(test!.dataSync().subarray(i * 2, i * 2 + 2), ref[i].test)).toBeLessThan(1e-8);
    });
  });

  it('names bad input', () => {
    const p = problem(1, 3, 2, 2);
    expect(() => gradientDescentMse(p.ktd, p.y)).toThrow(/gradientDescentMse: kTrainTrain \[2,3\] must pair the 3 training samples/);
    expect(() => gradientDescentMse(p.kdd, p.y, { traceAxes: [0] })).toThrow(/may not include the batch axis/);
    expect(() => gradientDescentMse(p.kdd, p.y)(1, p.f0, p.ft0)).toThrow(/need kTestTrain/);
    expect(() => gradientDescentMse(p.kdd, p.y)(-1)).toThrow(/times must be numbers >= 0/);
    expect(() => gradientDescentMse(p.kdd, p.y, { diagReg: -1 })).toThrow(/diagReg must be a finite number >= 0/);
    expect(() => gradientDescentMse(p.kdd, p.y)(1, { shape: [3, 3], data: new Float64Array(9) })).toThrow(/fxTrain0 must have shape \[3,2\]/);
  });
});

describe('gpInference', () => {
  it('NNGP and NTK means and covariances equal direct linear algebra (Gauss-Jordan, no Cholesky)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), (seed, n, m, k) => {
      const p = problem(seed, n, m, k);
      const predict = gpInference({ nngp: p.nngpDd, ntk: p.kdd }, p.y);
      const out = predict(null, { nngp: p.nngpTd, ntk: p.ktd }, { nngp: p.nngpTt }) as { nngp: { mean: tg.Tensor; covariance: tg.Tensor }; ntk: { mean: tg.Tensor; covariance: tg.Tensor } };
      // NNGP: mean K_td K^-1 y, cov K_tt - K_td K^-1 K_dt.
      const kInvY = gaussSolve(p.nngpDd.data, n, p.y.data, k);
      const meanN = mul(p.nngpTd.data, m, n, kInvY, k);
      const kInvKdt = gaussSolve(p.nngpDd.data, n, tr(p.nngpTd.data, m, n), m);
      const covN = p.nngpTt.data.map((v, i) => v - mul(p.nngpTd.data, m, n, kInvKdt, m)[i]);
      expect(maxAbsDiff(out.nngp.mean.dataSync(), meanN)).toBeLessThan(1e-8 * scale(meanN));
      expect(maxAbsDiff(out.nngp.covariance.dataSync(), covN)).toBeLessThan(1e-8 * scale(covN));
      // NTK: mean Θ_td Θ^-1 y; cov K_tt + Θ_td Θ^-1 K Θ^-1 Θ_dt - (Θ_td Θ^-1 K_dt + K_td Θ^-1 Θ_dt).
      const tInvY = gaussSolve(p.kdd.data, n, p.y.data, k);
      const meanT = mul(p.ktd.data, m, n, tInvY, k);
      const tInvTdt = gaussSolve(p.kdd.data, n, tr(p.ktd.data, m, n), m); // n x m
      const tInvKdt = gaussSolve(p.kdd.data, n, tr(p.nngpTd.data, m, n), m);
      const quad = mul(tr(tInvTdt, n, m), m, n, mul(p.nngpDd.data, n, n, tInvTdt, m), m);
      const cross = mul(p.ktd.data, m, n, tInvKdt, m);
      const covT = new Float64Array(m * m);
      for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) covT[i * m + j] = p.nngpTt.data[i * m + j] + quad[i * m + j] - cross[i * m + j] - cross[j * m + i];
      expect(maxAbsDiff(out.ntk.mean.dataSync(), meanT)).toBeLessThan(1e-8 * scale(meanT));
      expect(maxAbsDiff(out.ntk.covariance.dataSync(), covT)).toBeLessThan(1e-8 * scale(covT));
    }), { numRuns: 25 });
  });

  it('the NTK mean is gradient descent at infinite time from zero outputs; one get returns one value; train set is N(y, 0)', () => {
    const p = problem(5, 4, 3, 2);
    const mean = gpInference(p.kdd, p.y, { diagReg: 0.01 })('ntk', p.ktd) as tg.Tensor;
    const gd = gradientDescentMse(p.kdd, p.y, { diagReg: 0.01 })(null, 0, 0, p.ktd);
    expect(maxAbsDiff(mean.dataSync(), gd.test!.dataSync())).toBeLessThan(1e-12);
    const train = gpInference({ nngp: p.nngpDd, ntk: p.kdd }, p.y)('nngp', null, true as unknown as undefined) as { mean: tg.Tensor; covariance: tg.Tensor };
    expect(Array.from(train.mean.dataSync())).toEqual(Array.from(p.y.data));
    expect(train.covariance.shape).toEqual([4, 4]);
    expect(Math.max(...train.covariance.dataSync().map(Math.abs))).toBe(0);
    expect(() => gpInference({ ntk: p.kdd }, p.y)('ntk', { ntk: p.ktd }, { nngp: p.nngpTt })).toThrow(/no 'nngp' kernel/);
    expect(() => gpInference(p.kdd, p.y)('ntk', p.ktd, p.ktt)).toThrow(/needs both the NTK and the NNGP kernels/);
  });

  it("'ntkgp': the NTK mean with the GP posterior covariance of the NTK prior (Gauss-Jordan reference)", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), (seed, n, m) => {
      const p = problem(seed, n, m, 2);
      const out = gpInference({ ntk: p.kdd }, p.y)('ntkgp', { ntk: p.ktd }, { ntk: p.ktt }) as { mean: tg.Tensor; covariance: tg.Tensor };
      const meanT = mul(p.ktd.data, m, n, gaussSolve(p.kdd.data, n, p.y.data, 2), 2);
      const red = mul(p.ktd.data, m, n, gaussSolve(p.kdd.data, n, tr(p.ktd.data, m, n), m), m);
      const cov = p.ktt.data.map((v, i) => v - red[i]);
      expect(maxAbsDiff(out.mean.dataSync(), meanT)).toBeLessThan(1e-8 * scale(meanT));
      expect(maxAbsDiff(out.covariance.dataSync(), cov)).toBeLessThan(1e-8 * scale(cov));
    }), { numRuns: 15 });
  });
});

describe('maxLearningRate', () => {
  it('is 2 (1 + momentum) N / lambda_max (power iteration), and separates convergent from divergent GD', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 2, max: 7 }), fc.double({ min: 0, max: 0.9, noNaN: true }), (seed, n, mom) => {
      const p = problem(seed, n, 1, 1);
      let v = Float64Array.from({ length: n }, (_, i) => 1 + i / n);
      let lambda = 0;
      for (let it = 0; it < 2000; it++) {
        const w = mul(p.kdd.data, n, n, v, 1);
        lambda = Math.hypot(...w);
        v = w.map((x) => x / lambda);
      }
      const lr = maxLearningRate(p.kdd, { momentum: mom, yTrainSize: n });
      expect(Math.abs(lr - (2 * (1 + mom) * n) / lambda)).toBeLessThan(1e-8 * lr);
    }), { numRuns: 25 });
    const p = problem(9, 5, 1, 1);
    const lr = maxLearningRate(p.kdd);
    const run = (eta: number) => {
      let f = new Float64Array(5);
      for (let s = 0; s < 3000; s++) {
        const d = mul(p.kdd.data, 5, 5, f.map((x, i) => x - p.y.data[i]), 1);
        f = f.map((x, i) => x - (eta / 5) * d[i]);
      }
      return maxAbsDiff(f, p.y.data);
    };
    expect(run(0.98 * lr)).toBeLessThan(1e-3);
    expect(run(1.02 * lr)).toBeGreaterThan(1);
  });
});
