import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_NEGATIVE_TOLERANCE,
  effectiveRate,
  flowDecay,
  flowIntegral,
  gdDecay,
  gdIntegral,
  momentumScalars,
  mseFlow,
  type MseFlowInputs,
} from '../../linearize/flow.ts';
import { dopri5 } from '../../linearize/ode.ts';
import {
  type Matrix,
  addScaled,
  fromEigen,
  fromRows,
  identity,
  matmul,
  matmulTransposeA,
  matrix,
  maxAbs,
  symmetricEigen,
  symmetrize,
  transpose,
} from '../../linalg/dense.ts';
import { maxDiff, randomMatrix, rng } from './random-matrices.ts';

function hasNonFinite(a: Matrix): boolean {
  return a.data.some((v) => !Number.isFinite(v));
}

/**
 * A linearized model: Jacobians J (n x P) and Jx (m x P), Theta = J J^T, Theta(x, X) = Jx J^T,
 * plus f0 and targets. P = rank controls rank deficiency (P < n gives zero eigenvalues).
 */
interface Problem {
  J: Matrix;
  Jx: Matrix;
  inputs: MseFlowInputs & { thetaTrain: Matrix; thetaTestTrain: Matrix };
}

function problem(seed: number, n: number, m: number, c: number, rank: number, ridge = 0, eta = 0.3): Problem {
  const rand = rng(seed);
  const P = Math.max(rank, 1);
  const J = randomMatrix(n, P, rand);
  if (rank === 0) J.data.fill(0);
  const Jx = randomMatrix(m, P, rand);
  let thetaTrain = symmetrize(matmul(J, transpose(J)));
  if (ridge > 0) thetaTrain = addScaled(thetaTrain, identity(n), 1, ridge);
  return {
    J,
    Jx,
    inputs: {
      thetaTrain,
      thetaTestTrain: matmul(Jx, transpose(J)),
      f0Train: randomMatrix(n, c, rand),
      f0Test: randomMatrix(m, c, rand),
      yTrain: randomMatrix(n, c, rand),
      eta,
      loss: 'sum/2',
      // The laws below are algebraic identities of the closed forms, true at any eta, stable
      // or not; the refusal of divergent steps is tested on its own ('discrete steps past ...').
      allowUnstableSteps: true,
    },
  };
}

const shape = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  n: fc.integer({ min: 1, max: 9 }),
  m: fc.integer({ min: 1, max: 4 }),
  c: fc.integer({ min: 1, max: 3 }),
  rankOffset: fc.integer({ min: -9, max: 3 }),
});
const rankOf = (n: number, off: number): number => Math.max(0, Math.min(n + 3, n + off));

describe('scalar factors', () => {
  it('flowIntegral has the eta*t limit at lambda = 0 and is continuous there', () => {
    expect(flowIntegral(0, 0.1, 5)).toBeCloseTo(0.5, 15);
    expect(flowIntegral(1e-300, 0.1, 5)).toBeCloseTo(0.5, 15);
    expect(flowIntegral(1e-20, 0.1, 5)).toBeCloseTo(0.5, 15);
    expect(flowIntegral(5e-324, 0.001, 1)).toBe(0.001); // rate * lambda * t underflows, lambda does not
    expect(gdIntegral(5e-324, 0.001, 1)).toBe(0.001);
    expect(flowIntegral(2, 0.5, Infinity)).toBe(0.5);
    expect(flowIntegral(0, 0.5, Infinity)).toBe(Infinity);
    expect(flowDecay(0, 1, Infinity)).toBe(1);
    expect(flowDecay(3, 1, Infinity)).toBe(0);
    expect(flowDecay(2, 0.5, 1)).toBeCloseTo(Math.exp(-1), 15);
  });

  it('gd factors: limits, large rate*lambda, and step 0', () => {
    expect(gdIntegral(0, 0.1, 3)).toBeCloseTo(0.3, 15);
    expect(gdIntegral(1e-18, 0.1, 3)).toBeCloseTo(0.3, 15);
    expect(gdDecay(1, 0.5, 2)).toBeCloseTo(0.25, 15);
    expect(gdDecay(3, 0.5, 3)).toBeCloseTo(-0.125, 15); // rate*lambda = 1.5: oscillating
    expect(gdIntegral(3, 0.5, 3)).toBeCloseTo((1 + 0.125) / 3, 15);
    expect(gdDecay(2, 0.5, 4)).toBe(0); // rate*lambda = 1 kills the mode in one step
    expect(gdIntegral(2, 0.5, 4)).toBe(0.5);
    expect(gdIntegral(2, 0.5, 0)).toBe(0);
    expect(gdDecay(2, 0.5, 0)).toBe(1);
  });

  it('momentum scalars: beta = 0 is gradient descent; they match the explicit recurrence', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 5, noNaN: true }),
        fc.double({ min: 0.001, max: 0.35, noNaN: true }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.integer({ min: 0, max: 60 }),
        (lambda, rate, beta, step) => {
          const plain = momentumScalars(lambda, rate, 0, step);
          expect(plain.decay).toBeCloseTo(gdDecay(lambda, rate, step), 12);
          expect(plain.integral).toBeCloseTo(gdIntegral(lambda, rate, step), 12);
          // r_{i+1} = r_i - rate lambda r_i + beta (r_i - r_{i-1}); test term s_{i+1} = s_i + rate r_i + beta (s_i - s_{i-1}).
          let r = 1;
          let rPrev = 1;
          let s = 0;
          let sPrev = 0;
          for (let i = 0; i < step; i++) {
            const rNext = r - rate * lambda * r + beta * (r - rPrev);
            const sNext = s + rate * r + beta * (s - sPrev);
            rPrev = r;
            r = rNext;
            sPrev = s;
            s = sNext;
          }
          const got = momentumScalars(lambda, rate, beta, step);
          expect(Math.abs(got.decay - r)).toBeLessThan(1e-11 * Math.max(1, Math.abs(r)));
          expect(Math.abs(got.integral - s)).toBeLessThan(1e-11 * Math.max(1, Math.abs(s)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('effectiveRate names the scaling', () => {
    expect(effectiveRate(2, 'sum/2', 10)).toBe(2);
    expect(effectiveRate(2, 'mean/2', 10)).toBe(0.2);
    expect(() => effectiveRate(-1, 'sum/2', 1)).toThrow(/effectiveRate: eta must be a finite positive number/);
    expect(() => effectiveRate(1, 'mean' as 'mean/2', 1)).toThrow(/unknown loss scaling 'mean'/);
  });
});

describe('mseFlow closed form', () => {
  it('law: t = 0 returns f0 on train and test (any rank, any c)', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c, rankOffset }) => {
        const { inputs } = problem(seed, n, m, c, rankOf(n, rankOffset));
        const flow = mseFlow(inputs);
        expect(maxDiff(flow.trainAt([0])[0], inputs.f0Train as Matrix)).toBeLessThan(1e-13);
        expect(maxDiff(flow.testAt([0])[0], inputs.f0Test as Matrix)).toBeLessThan(1e-13);
        expect(maxAbs(flow.coefficientsAt(0))).toBe(0);
        expect(maxDiff(flow.gdTrainAt([0])[0], inputs.f0Train as Matrix)).toBeLessThan(1e-13);
        expect(maxDiff(flow.gdTestAt([0])[0], inputs.f0Test as Matrix)).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it('law: t = Infinity gives Y on train and the Theta^{-1} formula on test (PD Theta)', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c }) => {
        const { inputs } = problem(seed, n, m, c, n + 2, 0.1);
        const flow = mseFlow(inputs);
        expect(flow.singular).toBe(false);
        const [train, trainLate] = flow.trainAt([Infinity, 1e6]);
        expect(maxDiff(train, inputs.yTrain as Matrix)).toBe(0);
        expect(maxDiff(trainLate, inputs.yTrain as Matrix)).toBeLessThan(1e-12);
        // Independent route: Theta^{-1} from the eigendecomposition.
        const { values, vectors } = symmetricEigen(inputs.thetaTrain);
        const inv = fromEigen(vectors, values.map((l) => 1 / l));
        const r0 = addScaled(inputs.f0Train as Matrix, inputs.yTrain as Matrix, 1, -1);
        const expected = addScaled(inputs.f0Test as Matrix, matmul(inputs.thetaTestTrain as Matrix, matmul(inv, r0)), 1, -1);
        const [test, testLate] = flow.testAt([Infinity, 1e6]);
        const scale = Math.max(1, maxAbs(expected));
        expect(maxDiff(test, expected) / scale).toBeLessThan(1e-9);
        expect(maxDiff(testLate, test) / scale).toBeLessThan(1e-9);
      }),
      { numRuns: 100 },
    );
  });

  it('law: closed form equals Dormand–Prince integration of f\' = -eta Theta (f - Y), train and test', () => {
    fc.assert(
      fc.property(shape, fc.constantFrom('sum/2' as const, 'mean/2' as const), ({ seed, n, m, c, rankOffset }, loss) => {
        const { inputs } = problem(seed, n, m, c, rankOf(n, rankOffset), 0, 0.2);
        const flow = mseFlow({ ...inputs, loss });
        const rate = flow.effectiveRate;
        const theta = inputs.thetaTrain;
        const thetaX = inputs.thetaTestTrain as Matrix;
        const y = inputs.yTrain as Matrix;
        const times = [0.5, 2, 7];
        const rhs = (_t: number, s: Float64Array, ds: Float64Array): void => {
          const f = matrix(n, c, s.subarray(0, n * c));
          const g = addScaled(f, y, 1, -1);
          const dTrain = matmul(theta, g);
          const dTest = matmul(thetaX, g);
          for (let i = 0; i < n * c; i++) ds[i] = -rate * dTrain.data[i];
          for (let i = 0; i < m * c; i++) ds[n * c + i] = -rate * dTest.data[i];
        };
        const s0 = new Float64Array((n + m) * c);
        s0.set((inputs.f0Train as Matrix).data);
        s0.set((inputs.f0Test as Matrix).data, n * c);
        const sol = dopri5(rhs, 0, s0, times, { rtol: 1e-11, atol: 1e-12 });
        const train = flow.trainAt(times);
        const test = flow.testAt(times);
        times.forEach((_, i) => {
          expect(maxDiff(train[i], matrix(n, c, sol.states[i].subarray(0, n * c)))).toBeLessThan(1e-8);
          expect(maxDiff(test[i], matrix(m, c, sol.states[i].subarray(n * c)))).toBeLessThan(1e-8);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('law: the discrete GD formula equals iterating f <- f - eta Theta (f - Y) (train and test)', () => {
    fc.assert(
      fc.property(shape, fc.double({ min: 0.05, max: 1.9, noNaN: true }), ({ seed, n, m, c, rankOffset }, frac) => {
        const { inputs } = problem(seed, n, m, c, rankOf(n, rankOffset));
        const probe = mseFlow(inputs);
        // Learning rates up to 0.95 of the stability edge, including the oscillating regime eta*lambda in (1, 2).
        const eta = Number.isFinite(probe.maxStableLearningRate) ? (frac / 2) * probe.maxStableLearningRate : 0.3;
        const flow = mseFlow({ ...inputs, eta });
        const steps = [1, 2, 5, 17, 40];
        const train = flow.gdTrainAt(steps);
        const test = flow.gdTestAt(steps);
        let f = inputs.f0Train as Matrix;
        let fx = inputs.f0Test as Matrix;
        let k = 0;
        for (let i = 1; i <= 40; i++) {
          const g = addScaled(f, inputs.yTrain as Matrix, 1, -1);
          f = addScaled(f, matmul(inputs.thetaTrain, g), 1, -eta);
          fx = addScaled(fx, matmul(inputs.thetaTestTrain as Matrix, g), 1, -eta);
          if (i === steps[k]) {
            const scale = Math.max(1, maxAbs(f), maxAbs(fx));
            expect(maxDiff(train[k], f) / scale).toBeLessThan(1e-11);
            expect(maxDiff(test[k], fx) / scale).toBeLessThan(1e-11);
            k++;
          }
        }
      }),
      { numRuns: 80 },
    );
  });

  it('law: closed form equals discrete GD as eta -> 0 (error O(eta) at fixed eta*t)', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c, rankOffset }) => {
        const { inputs } = problem(seed, n, m, c, rankOf(n, rankOffset));
        const lambdaMax = Math.max(1, mseFlow(inputs).eigenvalues[n - 1]);
        const tau = 1 / lambdaMax; // physical time eta * t: one relaxation of the stiffest mode
        const errs = [0.02, 0.002].map((h) => {
          const eta = h / lambdaMax;
          const steps = Math.round(tau / eta);
          const flow = mseFlow({ ...inputs, eta });
          return Math.max(
            maxDiff(flow.trainAt([steps])[0], flow.gdTrainAt([steps])[0]),
            maxDiff(flow.testAt([steps])[0], flow.gdTestAt([steps])[0]),
          );
        });
        expect(errs[1]).toBeLessThan(0.2 * errs[0] + 1e-12);
        expect(errs[1]).toBeLessThan(1e-2 * Math.max(1, maxAbs(inputs.f0Train as Matrix)));
      }),
      { numRuns: 40 },
    );
  });

  it('law: singular Theta (rank-deficient J J^T, and Theta = 0) gives finite values; lambda -> 0 uses eta*t', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c }) => {
        const r = Math.floor(n / 2);
        const { inputs } = problem(seed, n, m, c, r);
        const flow = mseFlow(inputs);
        const times = [0, 1e-3, 1, 1e3, 1e12];
        for (const out of [...flow.trainAt(times), ...flow.testAt(times), ...flow.gdTrainAt([1, 1000])]) {
          expect(hasNonFinite(out)).toBe(false);
        }
        for (const t of times) expect(hasNonFinite(flow.coefficientsAt(t))).toBe(false);
        if (r === 0) {
          // Theta = 0: nothing moves and c_t = eta t (f0 - Y) exactly.
          expect(maxDiff(flow.trainAt([5])[0], inputs.f0Train as Matrix)).toBe(0);
          const r0 = addScaled(inputs.f0Train as Matrix, inputs.yTrain as Matrix, 1, -1);
          expect(maxDiff(flow.coefficientsAt(5), addScaled(r0, r0, 5 * inputs.eta, 0))).toBeLessThan(1e-15);
          expect(flow.maxStableLearningRate).toBe(Infinity);
        }
      }),
      { numRuns: 80 },
    );
  });

  it('law: omega_t = -J^T c_t reproduces the function-space solution (f0 + J omega = f_lin) on train and test', () => {
    fc.assert(
      fc.property(shape, fc.double({ min: 0, max: 50, noNaN: true }), ({ seed, n, m, c, rankOffset }, t) => {
        const { J, Jx, inputs } = problem(seed, n, m, c, rankOf(n, rankOffset));
        const flow = mseFlow(inputs);
        const omega = matmulTransposeA(J, flow.coefficientsAt(t)); // J^T c, P x c (omega = -this)
        const train = addScaled(inputs.f0Train as Matrix, matmul(J, omega), 1, -1);
        const test = addScaled(inputs.f0Test as Matrix, matmul(Jx, omega), 1, -1);
        const scale = Math.max(1, maxAbs(train), maxAbs(test));
        expect(maxDiff(train, flow.trainAt([t])[0]) / scale).toBeLessThan(1e-10);
        expect(maxDiff(test, flow.testAt([t])[0]) / scale).toBeLessThan(1e-10);
        // Same identity for discrete GD coefficients.
        const omegaGd = matmulTransposeA(J, flow.gdCoefficientsAt(7));
        expect(maxDiff(addScaled(inputs.f0Train as Matrix, matmul(J, omegaGd), 1, -1), flow.gdTrainAt([7])[0]) / scale).toBeLessThan(1e-10);
      }),
      { numRuns: 80 },
    );
  });

  it("law: 'mean/2' with eta equals 'sum/2' with eta / N (full kernel c = 1 and traced kernel c = k)", () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c, rankOffset }) => {
        const { inputs } = problem(seed, n, m, c, rankOf(n, rankOffset));
        const mean = mseFlow({ ...inputs, loss: 'mean/2', eta: 1.7 });
        const sum = mseFlow({ ...inputs, loss: 'sum/2', eta: 1.7 / (n * c) });
        expect(mean.effectiveRate).toBe(sum.effectiveRate);
        const times = [0.3, 4, 100];
        mean.trainAt(times).forEach((a, i) => expect(maxDiff(a, sum.trainAt(times)[i])).toBe(0));
        mean.testAt(times).forEach((a, i) => expect(maxDiff(a, sum.testAt(times)[i])).toBe(0));
        expect(maxDiff(mean.gdTrainAt([9])[0], sum.gdTrainAt([9])[0])).toBe(0);
        if (Number.isFinite(sum.maxStableLearningRate)) {
          expect(mean.maxStableLearningRate / sum.maxStableLearningRate).toBeCloseTo(n * c, 9);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('many times at once equal one-at-a-time evaluation', () => {
    const { inputs } = problem(11, 6, 3, 2, 4);
    const flow = mseFlow(inputs);
    const times = [0, 0.5, 3, 20];
    const batch = flow.trainAt(times);
    const batchTest = flow.testAt(times);
    times.forEach((t, i) => {
      expect(maxDiff(batch[i], flow.trainAt([t])[0])).toBe(0);
      expect(maxDiff(batchTest[i], flow.testAt([t])[0])).toBe(0);
    });
  });

  it('maxStableLearningRate is the GD stability edge 2 / lambda_max', () => {
    const theta = fromRows([
      [4, 0],
      [0, 1],
    ]);
    const base = { thetaTrain: theta, f0Train: new Float64Array([1, 1]), yTrain: new Float64Array([0, 0]), loss: 'sum/2' as const };
    const flow = mseFlow({ ...base, eta: 0.1 });
    expect(flow.maxStableLearningRate).toBe(0.5);
    expect(mseFlow({ ...base, loss: 'mean/2', eta: 0.1 }).maxStableLearningRate).toBe(1);
    const below = mseFlow({ ...base, eta: 0.49 }).gdTrainAt([2000])[0];
    const above = mseFlow({ ...base, eta: 0.51, allowUnstableSteps: true }).gdTrainAt([2000])[0];
    expect(maxAbs(below)).toBeLessThan(1e-10);
    expect(maxAbs(above)).toBeGreaterThan(1e10);
  });
});

describe('mseFlow singular kernels, clamping and validation', () => {
  const singular = () => problem(5, 6, 2, 2, 3).inputs;

  it("t = Infinity with singular Theta: 'error' throws a clear error, 'pinv' gives the projected limit", () => {
    const inputs = singular();
    const flow = mseFlow(inputs);
    expect(flow.singular).toBe(true);
    expect(() => flow.trainAt([Infinity])).toThrow(/mseFlow: thetaTrain \(6x6\) is singular .*singular: 'pinv'/);
    expect(() => flow.testAt([Infinity])).toThrow(/is singular/);
    expect(() => flow.coefficientsAt(Infinity)).toThrow(/is singular/);
    expect(() => flow.trainAt([1e9])).not.toThrow();

    const pinv = mseFlow({ ...inputs, singular: 'pinv' });
    const [atInf, late] = pinv.trainAt([Infinity, 1e5]);
    // The range of Theta is fitted; the null-space part of f0 - Y stays.
    const V = pinv.eigenvectors;
    const nullCols = Array.from(pinv.eigenvalues).flatMap((l, j) => (l === 0 ? [j] : []));
    expect(nullCols.length).toBe(3);
    const Vn = matrix(6, nullCols.length);
    for (let i = 0; i < 6; i++) nullCols.forEach((j, q) => (Vn.data[i * nullCols.length + q] = V.data[i * 6 + j]));
    const r0 = addScaled(inputs.f0Train as Matrix, inputs.yTrain as Matrix, 1, -1);
    const expected = addScaled(inputs.yTrain as Matrix, matmul(Vn, matmulTransposeA(Vn, r0)));
    expect(maxDiff(atInf, expected)).toBeLessThan(1e-12);
    expect(maxDiff(late, atInf)).toBeLessThan(1e-9);
    // (null modes carry eta * t times round-off on the test side, so compare at a moderate t)
    const [testInf, testLate] = pinv.testAt([Infinity, 1e5]);
    expect(maxDiff(testLate, testInf) / Math.max(1, maxAbs(testInf))).toBeLessThan(1e-8);
    // omega_inf = -J^T Theta^+ r0 is the minimum-norm interpolant: Theta c_inf = projection of r0 on the range.
    const cInf = pinv.coefficientsAt(Infinity);
    expect(maxDiff(matmul(inputs.thetaTrain, cInf), addScaled(r0, addScaled(expected, inputs.yTrain as Matrix, 1, -1), 1, -1))).toBeLessThan(1e-11);
  });

  it('a near-singular PD Theta still fits Y at t = Infinity via Cholesky', () => {
    const { inputs } = problem(9, 5, 2, 1, 7, 1e-6);
    const flow = mseFlow(inputs);
    expect(flow.singular).toBe(false);
    expect(maxDiff(flow.trainAt([Infinity])[0], inputs.yTrain as Matrix)).toBe(0);
    const c = flow.coefficientsAt(Infinity);
    const r0 = addScaled(inputs.f0Train as Matrix, inputs.yTrain as Matrix, 1, -1);
    expect(maxDiff(matmul(inputs.thetaTrain, c), r0)).toBeLessThan(1e-8);
  });

  it('clamps negative eigenvalues and reports how many and the most negative', () => {
    const theta = fromRows([
      [1, 0, 0],
      [0, -1e-12, 0],
      [0, 0, -3e-13],
    ]);
    const flow = mseFlow({ thetaTrain: theta, f0Train: new Float64Array(3), yTrain: new Float64Array([1, 1, 1]), eta: 1, loss: 'sum/2' });
    expect(flow.clamped).toEqual({ count: 2, mostNegative: -1e-12 });
    expect(Array.from(flow.eigenvalues)).toEqual([0, 0, 1]);
    // Clamped modes behave as lambda = 0: they do not move.
    const out = flow.trainAt([10])[0];
    expect(out.data[1]).toBe(0);
    expect(out.data[0]).toBeCloseTo(1 - Math.exp(-10), 14);
  });

  it('rejects NaN / Infinity kernels and bad shapes with clear errors', () => {
    const inputs = singular();
    const bad = matrix(6, 6, inputs.thetaTrain.data);
    bad.data[7] = NaN;
    expect(() => mseFlow({ ...inputs, thetaTrain: bad })).toThrow(/mseFlow: thetaTrain \(6x6\) has a non-finite entry NaN at \(1, 1\)/);
    const badX = matrix(2, 6, (inputs.thetaTestTrain as Matrix).data);
    badX.data[3] = Infinity;
    expect(() => mseFlow({ ...inputs, thetaTestTrain: badX })).toThrow(/mseFlow: thetaTestTrain \(2x6\) has a non-finite entry Infinity at \(0, 3\)/);
    expect(() => mseFlow({ ...inputs, thetaTrain: matrix(6, 5) })).toThrow(/mseFlow: thetaTrain must be square, got 6x5/);
    const asym = matrix(6, 6, inputs.thetaTrain.data);
    asym.data[1] += 1;
    expect(() => mseFlow({ ...inputs, thetaTrain: asym })).toThrow(/mseFlow: thetaTrain \(6x6\) is not symmetric/);
    expect(() => mseFlow({ ...inputs, yTrain: matrix(5, 2) })).toThrow(/mseFlow: yTrain must be 6x2, got 5x2/);
    expect(() => mseFlow({ ...inputs, f0Test: matrix(3, 2) })).toThrow(/mseFlow: f0Test must be 2x2, got 3x2/);
    const f0nan = matrix(6, 2);
    f0nan.data[0] = NaN;
    expect(() => mseFlow({ ...inputs, f0Train: f0nan })).toThrow(/mseFlow: f0Train \(6x2\) has a non-finite entry NaN/);
    expect(() => mseFlow({ ...inputs, eta: 0 })).toThrow(/eta must be a finite positive number/);
    const flow = mseFlow(inputs);
    expect(() => flow.trainAt([-1])).toThrow(/mseFlow.trainAt: times must be >= 0/);
    expect(() => flow.trainAt([NaN])).toThrow(/times must be >= 0/);
    expect(() => flow.gdTrainAt([1.5])).toThrow(/mseFlow.gdTrainAt: steps must be non-negative integers/);
    const noTest = mseFlow({ ...inputs, thetaTestTrain: undefined, f0Test: undefined });
    expect(noTest.testSize).toBe(0);
    expect(() => noTest.testAt([1])).toThrow(/mseFlow.testAt: needs both thetaTestTrain and f0Test/);
  });
});

describe('kernels that are not positive semi-definite, and steps past the stability edge', () => {
  /** A random symmetric PSD kernel V diag(lambda) V^T with the smallest eigenvalue replaced by `negative`. */
  const withEigenvalue = (seed: number, n: number, negative: number) => {
    const rand = rng(seed);
    const { vectors } = symmetricEigen(symmetrize(matmul(randomMatrix(n, n, rand), transpose(randomMatrix(n, n, rand)))));
    const lambda = Float64Array.from({ length: n }, (_, i) => (i === 0 ? negative : 1 + i));
    return { theta: symmetrize(fromEigen(vectors, lambda)), lambdaMax: n };
  };

  it('the swap matrix [[0,1],[1,0]] (eigenvalue -1) is refused, naming the eigenvalue', () => {
    const theta = fromRows([[0, 1], [1, 0]]);
    expect(() => mseFlow({ thetaTrain: theta, f0Train: new Float64Array(2), yTrain: new Float64Array([1, 0]), eta: 0.1, loss: 'sum/2' })).toThrow(
      /^mseFlow: thetaTrain \(2x2\) has the eigenvalue -(1|0\.9999\d*), below the round-off allowance -2e-10 \* lambda_max = .* not positive semi-definite/,
    );
  });

  it('law: an eigenvalue below -tolerance * n * lambda_max is an error, one within round-off is clamped and reported', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 2, max: 7 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (seed, n, factor) => {
      const allowance = DEFAULT_NEGATIVE_TOLERANCE * n;
      const base = { f0Train: new Float64Array(n), yTrain: new Float64Array(n).fill(1), eta: 0.01, loss: 'sum/2' as const };
      // Clearly negative: factor times past the allowance (by more than the solver's round-off).
      const bad = withEigenvalue(seed, n, -Math.max(1.01, factor) * allowance * n);
      expect(() => mseFlow({ ...base, thetaTrain: bad.theta })).toThrow(/^mseFlow: thetaTrain \(\d+x\d+\) has the eigenvalue -\S+, below the round-off allowance/);
      // Within round-off: clamped to 0 and reported.
      // (at least 1e-3 of the allowance: far above the solver's own round-off, n * eps * lambda_max)
      const ok = withEigenvalue(seed, n, -Math.max(1e-3, Math.min(0.5, factor / 1e3)) * allowance * n);
      const flow = mseFlow({ ...base, thetaTrain: ok.theta });
      expect(flow.clamped.count).toBe(1);
      expect(flow.eigenvalues[0]).toBe(0);
      // A looser tolerance (a float32 kernel) accepts the clearly negative one as round-off.
      expect(mseFlow({ ...base, thetaTrain: bad.theta, negativeTolerance: 1e3 * factor * n }).clamped.count).toBe(1);
    }), { numRuns: 60 });
  });

  it('law: gradient descent at eta >= 2 / lambda_max is refused naming eta and the threshold; below it, it runs and converges', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 6 }), fc.double({ min: 0.05, max: 3, noNaN: true }), fc.constantFrom<'sum/2' | 'mean/2'>('sum/2', 'mean/2'), (seed, n, ratio, loss) => {
      const { inputs } = problem(seed, n, 2, 1, n, 0.1);
      const probe = mseFlow({ ...inputs, loss, allowUnstableSteps: false });
      const eta = ratio * probe.maxStableLearningRate;
      const flow = probe.withLearningRate(eta);
      if (ratio >= 1) {
        const message = new RegExp(`eta ${eta} is at or above the stability threshold 2 / lambda_max = ${probe.maxStableLearningRate.toPrecision(6)}.*loss '${loss}'.*diverge`);
        expect(() => flow.gdTrainAt([10])).toThrow(new RegExp(`^mseFlow.gdTrainAt: ${message.source}`));
        expect(() => flow.gdTestAt([10])).toThrow(/^mseFlow.gdTestAt: /);
        expect(() => flow.gdCoefficientsAt(10)).toThrow(/^mseFlow.gdCoefficientsAt: /);
        // Gradient flow (continuous time) converges at any eta.
        expect(maxDiff(flow.trainAt([1e6])[0], inputs.yTrain as Matrix)).toBeLessThan(1e-6);
      } else {
        const [late] = flow.gdTrainAt([100_000]);
        expect(maxDiff(late, inputs.yTrain as Matrix)).toBeLessThan(1e-6);
      }
    }), { numRuns: 60 });
  });

  it('momentum is refused past its edge 2 (1 + beta) / lambda_max and for |beta| >= 1', () => {
    const { inputs } = problem(3, 4, 2, 1, 4, 0.1);
    const probe = mseFlow({ ...inputs, allowUnstableSteps: false });
    const edge = (beta: number) => (1 + beta) * probe.maxStableLearningRate;
    for (const beta of [0, 0.5, 0.9, -0.5]) {
      expect(() => probe.withLearningRate(1.01 * edge(beta)).momentumTrainAt([5], beta)).toThrow(/^mseFlow.momentumTrainAt: eta .* stability threshold 2 \(1 \+ beta\) \/ lambda_max with beta/);
      const late = probe.withLearningRate(0.9 * edge(beta)).momentumTrainAt([20_000], beta)[0];
      expect(maxDiff(late, inputs.yTrain as Matrix)).toBeLessThan(1e-6);
    }
    expect(() => probe.withLearningRate(0.1).momentumTestAt([5], 1)).toThrow(/^mseFlow.momentumTestAt: beta 1 diverges/);
    expect(() => probe.withLearningRate(0.1).momentumTrainAt([5], -1.2)).toThrow(/beta -1.2 diverges/);
  });
});

describe('withLearningRate', () => {
  it('equals a flow built at that learning rate from scratch', () => {
    const rand = rng(17);
    const j = randomMatrix(6, 9, rand);
    const theta = matmul(j, transpose(j));
    const f0 = randomMatrix(6, 1, rand);
    const y = randomMatrix(6, 1, rand);
    const base = mseFlow({ thetaTrain: theta, f0Train: f0, yTrain: y, eta: 1, loss: 'mean/2' });
    const moved = base.withLearningRate(0.3);
    const fresh = mseFlow({ thetaTrain: theta, f0Train: f0, yTrain: y, eta: 0.3, loss: 'mean/2' });
    expect(moved.effectiveRate).toBe(fresh.effectiveRate);
    expect(moved.maxStableLearningRate).toBeCloseTo(fresh.maxStableLearningRate, 12);
    expect(maxDiff(moved.trainAt([2.5])[0], fresh.trainAt([2.5])[0])).toBeLessThan(1e-12);
    expect(maxDiff(moved.gdTrainAt([7])[0], fresh.gdTrainAt([7])[0])).toBeLessThan(1e-12);
    expect(() => base.withLearningRate(-1)).toThrow(/eta must be a finite positive number/);
  });
});
