import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  crossEntropyLoss,
  crossEntropyOutputGradient,
  integrateFunctionSpace,
  momentumContinuous,
  momentumDiscrete,
  momentumFriction,
  momentumTime,
  mseOutputGradient,
  type FunctionSpaceInputs,
} from '../../linearize/function-space.ts';
import { mseFlow } from '../../linearize/flow.ts';
import { type Matrix, addScaled, fromRows, matmul, matrix, maxAbs, symmetrize, transpose } from '../../linalg/dense.ts';
import { maxDiff, randomMatrix, rng } from './random-matrices.ts';

function oneHot(samples: number, classes: number, rand: () => number): Matrix {
  const y = matrix(samples, classes);
  for (let i = 0; i < samples; i++) y.data[i * classes + Math.floor(((rand() + 1) / 2) * classes) % classes] = 1;
  return y;
}

interface Kernels {
  thetaTrain: Matrix;
  thetaTestTrain: Matrix;
  f0Train: Matrix;
  f0Test: Matrix;
  y: Matrix;
}

// Theta = J J^T / P scaled to O(1) eigenvalues; rank < n when P < n.
function kernels(seed: number, n: number, m: number, c: number, P: number): Kernels {
  const rand = rng(seed);
  const J = randomMatrix(n, P, rand);
  const Jx = randomMatrix(m, P, rand);
  const scaled = (a: Matrix): Matrix => matrix(a.rows, a.cols, a.data.map((v) => v / P));
  const thetaTrain = symmetrize(scaled(matmul(J, transpose(J))));
  const thetaTestTrain = scaled(matmul(Jx, transpose(J)));
  return {
    thetaTrain,
    thetaTestTrain,
    f0Train: randomMatrix(n, c, rand),
    f0Test: randomMatrix(m, c, rand),
    y: oneHot(n, c, rand),
  };
}

const shape = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  n: fc.integer({ min: 1, max: 7 }),
  m: fc.integer({ min: 1, max: 3 }),
  c: fc.integer({ min: 2, max: 4 }),
  P: fc.integer({ min: 1, max: 9 }),
});

describe('output gradients', () => {
  it('law: cross-entropy gradient equals central finite differences of the loss (both layouts, both reductions)', () => {
    fc.assert(
      fc.property(shape, fc.constantFrom('sum' as const, 'mean' as const), ({ seed, n, c }, reduction) => {
        const rand = rng(seed);
        const y = oneHot(n, c, rand);
        const f = addScaled(randomMatrix(n, c, rand), randomMatrix(n, c, rand), 3, 0);
        const rowsGrad = crossEntropyOutputGradient(y, { reduction })(f);
        const h = 1e-6;
        for (let i = 0; i < f.data.length; i++) {
          const fp = matrix(n, c, f.data);
          const fm = matrix(n, c, f.data);
          fp.data[i] += h;
          fm.data[i] -= h;
          const fd = (crossEntropyLoss(fp, y, { reduction }) - crossEntropyLoss(fm, y, { reduction })) / (2 * h);
          expect(Math.abs(fd - rowsGrad.data[i])).toBeLessThan(1e-8);
        }
        // The flattened column layout (full kernel) is the same numbers.
        const col = crossEntropyOutputGradient(y.data, { reduction, classes: c })(matrix(n * c, 1, f.data));
        expect(Array.from(col.data)).toEqual(Array.from(rowsGrad.data));
        expect(crossEntropyLoss(f.data, y.data, { reduction, classes: c })).toBe(crossEntropyLoss(f, y, { reduction }));
      }),
      { numRuns: 60 },
    );
  });

  it('known values and validation', () => {
    expect(crossEntropyLoss(fromRows([[0, 0]]), fromRows([[1, 0]]), { reduction: 'sum' })).toBeCloseTo(Math.LN2, 15);
    expect(() => crossEntropyOutputGradient(fromRows([[1000, 0]]), { reduction: 'sum' })).toThrow(/sum to 1000/);
    // Stable for huge logits.
    const big = crossEntropyOutputGradient(fromRows([[1, 0]]), { reduction: 'sum' })(fromRows([[1000, -1000]]));
    expect(Array.from(big.data)).toEqual([0, 0]);
    expect(() => crossEntropyOutputGradient(new Float64Array([1, 0, 0]), { reduction: 'sum', classes: 2 })).toThrow(
      /crossEntropyOutputGradient: a 3x1 column of targets needs 'classes' dividing 3/,
    );
    expect(() => crossEntropyOutputGradient(fromRows([[1.5, -0.5]]), { reduction: 'sum' })).toThrow(/negative/);
    expect(() => crossEntropyOutputGradient(fromRows([[1, 0]]), { reduction: 'avg' as 'sum' })).toThrow(/reduction must be/);
    const mse = mseOutputGradient(fromRows([[1], [2]]), 'mean/2');
    expect(Array.from(mse(fromRows([[3], [2]])).data)).toEqual([1, 0]);
    expect(() => mse(fromRows([[1, 2]]))).toThrow(/mseOutputGradient: fTrain must be 2x1, got 1x2/);
  });
});

describe('integrateFunctionSpace', () => {
  it('law: with the MSE gradient it equals the closed form (train and test, both scalings)', () => {
    fc.assert(
      fc.property(shape, fc.constantFrom('sum/2' as const, 'mean/2' as const), ({ seed, n, m, c, P }, loss) => {
        const k = kernels(seed, n, m, c, P);
        const eta = 0.7;
        const times = [0, 0.4, 3, 12];
        const traj = integrateFunctionSpace(
          { ...k, eta, gradient: mseOutputGradient(k.y, loss) },
          times,
          { rtol: 1e-11, atol: 1e-12 },
        );
        const flow = mseFlow({ thetaTrain: k.thetaTrain, thetaTestTrain: k.thetaTestTrain, f0Train: k.f0Train, f0Test: k.f0Test, yTrain: k.y, eta, loss });
        const train = flow.trainAt(times);
        const test = flow.testAt(times);
        expect(traj.times).toEqual(times);
        times.forEach((_, i) => {
          expect(maxDiff(traj.train[i], train[i])).toBeLessThan(1e-8);
          expect(maxDiff((traj.test as Matrix[])[i], test[i])).toBeLessThan(1e-8);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('law: cross-entropy flow decreases the loss and matches discrete GD as eta -> 0', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c, P }) => {
        const k = kernels(seed, n, m, c, P);
        const gradient = crossEntropyOutputGradient(k.y, { reduction: 'sum' });
        const base: FunctionSpaceInputs = { ...k, eta: 1, gradient };
        const T = 2;
        const times = [0, 0.5, 1, T];
        const traj = integrateFunctionSpace(base, times, { rtol: 1e-10, atol: 1e-12 });
        const losses = traj.train.map((f) => crossEntropyLoss(f, k.y, { reduction: 'sum' }));
        for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThanOrEqual(losses[i - 1] + 1e-12);
        // Discrete GD with step h and T/h steps approaches the flow at time T with error O(h).
        const errs = [0.05, 0.005].map((h) => {
          const d = momentumDiscrete({ ...base, eta: h, beta: 0 }, [Math.round(T / h)]);
          return Math.max(maxDiff(d.train[0], traj.train[3]), maxDiff((d.test as Matrix[])[0], (traj.test as Matrix[])[3]));
        });
        expect(errs[1]).toBeLessThan(0.2 * errs[0] + 1e-10);
        expect(errs[1]).toBeLessThan(0.05);
      }),
      { numRuns: 30 },
    );
  });

  it('law: the full kernel Theta (x) I_k on flattened outputs equals the traced kernel per column (cross-entropy)', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, m, c, P }) => {
        const k = kernels(seed, n, m, c, P);
        const kron = (a: Matrix): Matrix => {
          const out = matrix(a.rows * c, a.cols * c);
          for (let i = 0; i < a.rows; i++)
            for (let j = 0; j < a.cols; j++)
              for (let q = 0; q < c; q++) out.data[(i * c + q) * (a.cols * c) + j * c + q] = a.data[i * a.cols + j];
          return out;
        };
        const times = [0.7, 2.5];
        const traced = integrateFunctionSpace(
          { ...k, eta: 0.5, gradient: crossEntropyOutputGradient(k.y, { reduction: 'mean' }) },
          times,
          { rtol: 1e-11, atol: 1e-13 },
        );
        const full = integrateFunctionSpace(
          {
            thetaTrain: kron(k.thetaTrain),
            thetaTestTrain: kron(k.thetaTestTrain),
            f0Train: k.f0Train.data,
            f0Test: k.f0Test.data,
            eta: 0.5,
            gradient: crossEntropyOutputGradient(k.y.data, { reduction: 'mean', classes: c }),
          },
          times,
          { rtol: 1e-11, atol: 1e-13 },
        );
        times.forEach((_, i) => {
          expect(maxDiff(full.train[i], matrix(n * c, 1, traced.train[i].data))).toBeLessThan(1e-9);
          expect(maxDiff((full.test as Matrix[])[i], matrix(m * c, 1, (traced.test as Matrix[])[i].data))).toBeLessThan(1e-9);
        });
      }),
      { numRuns: 20 },
    );
  });

  it("cross-entropy 'mean' with eta equals 'sum' with eta / |D|", () => {
    const k = kernels(3, 5, 2, 3, 4);
    const times = [1, 4];
    const mean = integrateFunctionSpace({ ...k, eta: 2, gradient: crossEntropyOutputGradient(k.y, { reduction: 'mean' }) }, times, { rtol: 1e-11 });
    const sum = integrateFunctionSpace({ ...k, eta: 2 / 5, gradient: crossEntropyOutputGradient(k.y, { reduction: 'sum' }) }, times, { rtol: 1e-11 });
    times.forEach((_, i) => expect(maxDiff(mean.train[i], sum.train[i])).toBeLessThan(1e-12));
  });

  it('validates inputs and the gradient shape', () => {
    const k = kernels(4, 4, 2, 2, 3);
    const gradient = mseOutputGradient(k.y, 'sum/2');
    const bad = matrix(4, 4, k.thetaTrain.data);
    bad.data[5] = NaN;
    expect(() => integrateFunctionSpace({ ...k, thetaTrain: bad, eta: 1, gradient }, [1])).toThrow(
      /integrateFunctionSpace: thetaTrain \(4x4\) has a non-finite entry NaN at \(1, 1\)/,
    );
    expect(() => integrateFunctionSpace({ ...k, eta: 1, gradient }, [Infinity])).toThrow(/no closed form at Infinity/);
    expect(() => integrateFunctionSpace({ ...k, f0Test: undefined, eta: 1, gradient }, [1])).toThrow(/must be given together/);
    expect(() => integrateFunctionSpace({ ...k, eta: 1, gradient: () => matrix(1, 1) }, [1])).toThrow(
      /integrateFunctionSpace: gradient\(fTrain\) must be 4x2, got 1x1/,
    );
    const noTest = integrateFunctionSpace({ thetaTrain: k.thetaTrain, f0Train: k.f0Train, eta: 1, gradient }, [1]);
    expect(noTest.test).toBeUndefined();
  });
});

describe('momentum', () => {
  it('law: the closed-form MSE momentum formula equals the explicit iteration (train and test)', () => {
    fc.assert(
      fc.property(
        shape,
        fc.double({ min: 0, max: 0.95, noNaN: true }),
        fc.constantFrom('sum/2' as const, 'mean/2' as const),
        ({ seed, n, m, c, P }, beta, loss) => {
          const k = kernels(seed, n, m, c, P);
          const y = addScaled(k.y, k.f0Train, 1, 0.5); // generic real targets
          const eta = 0.3;
          const steps = [0, 1, 2, 9, 40];
          const explicit = momentumDiscrete({ ...k, eta, beta, gradient: mseOutputGradient(y, loss) }, steps);
          const flow = mseFlow({ thetaTrain: k.thetaTrain, thetaTestTrain: k.thetaTestTrain, f0Train: k.f0Train, f0Test: k.f0Test, yTrain: y, eta, loss });
          const train = flow.momentumTrainAt(steps, beta);
          const test = flow.momentumTestAt(steps, beta);
          steps.forEach((_, i) => {
            const scale = Math.max(1, maxAbs(explicit.train[i]));
            expect(maxDiff(train[i], explicit.train[i]) / scale).toBeLessThan(1e-11);
            expect(maxDiff(test[i], (explicit.test as Matrix[])[i]) / scale).toBeLessThan(1e-11);
          });
          if (beta === 0) steps.forEach((s, i) => expect(maxDiff(train[i], flow.gdTrainAt([s])[0])).toBeLessThan(1e-12));
        },
      ),
      { numRuns: 80 },
    );
  });

  it('continuous momentum on a 1x1 kernel is the damped oscillator r\'\' = beta~ r\' - lambda r', () => {
    const lambda = 2;
    const eta = 0.01;
    const beta = 0.9; // beta~ = -1: underdamped since lambda > beta~^2 / 4
    const bt = momentumFriction(beta, eta);
    expect(bt).toBeCloseTo(-1, 14);
    const gamma = -bt / 2;
    const w = Math.sqrt(lambda - gamma * gamma);
    const r0 = 1.5;
    const times = [0.5, 2, 7];
    const traj = momentumContinuous(
      {
        thetaTrain: fromRows([[lambda]]),
        thetaTestTrain: fromRows([[0.5]]),
        f0Train: new Float64Array([r0]),
        f0Test: new Float64Array([0]),
        eta,
        beta,
        gradient: mseOutputGradient(new Float64Array([0]), 'sum/2'),
      },
      times,
      { rtol: 1e-12, atol: 1e-13 },
    );
    times.forEach((t, i) => {
      const r = r0 * Math.exp(-gamma * t) * (Math.cos(w * t) + (gamma / w) * Math.sin(w * t));
      expect(Math.abs(traj.train[i].data[0] - r)).toBeLessThan(1e-10);
      // Test point: f_x'' = beta~ f_x' - 0.5 r  =>  f_x = 0.5 (r - r0) / lambda since both start at rest.
      expect(Math.abs((traj.test as Matrix[])[i].data[0] - (0.5 * (r - r0)) / lambda)).toBeLessThan(1e-10);
    });
  });

  it('law: discrete momentum approaches the continuous ODE as eta -> 0 at fixed beta~ (t = i sqrt(eta))', () => {
    fc.assert(
      fc.property(shape, fc.double({ min: -3, max: -0.2, noNaN: true }), ({ seed, n, m, c, P }, friction) => {
        const k = kernels(seed, n, m, c, P);
        const gradient = crossEntropyOutputGradient(k.y, { reduction: 'sum' });
        const T = 2;
        const cont = momentumContinuous({ ...k, eta: 1e-4, beta: 1 + friction * 1e-2, gradient }, [T], { rtol: 1e-11, atol: 1e-13 });
        const errs = [1e-2, 1e-4].map((eta) => {
          const beta = 1 + friction * Math.sqrt(eta);
          const steps = Math.round(T / Math.sqrt(eta));
          expect(momentumTime(steps, eta)).toBeCloseTo(T, 10);
          const d = momentumDiscrete({ ...k, eta, beta, gradient }, [steps]);
          return Math.max(maxDiff(d.train[0], cont.train[0]), maxDiff((d.test as Matrix[])[0], (cont.test as Matrix[])[0]));
        });
        expect(errs[1]).toBeLessThan(0.3 * errs[0] + 1e-9);
        expect(errs[1]).toBeLessThan(0.05);
      }),
      { numRuns: 20 },
    );
  });

  it('validates beta and steps', () => {
    const k = kernels(8, 3, 1, 2, 2);
    const gradient = mseOutputGradient(k.y, 'sum/2');
    expect(() => momentumDiscrete({ ...k, eta: 0.1, beta: NaN, gradient }, [1])).toThrow(/momentumDiscrete: beta must be finite/);
    expect(() => momentumDiscrete({ ...k, eta: 0.1, beta: 0.9, gradient }, [3, 1])).toThrow(/steps must be non-decreasing/);
    expect(() => momentumContinuous({ ...k, eta: 0, beta: 0.9, gradient }, [1])).toThrow(/momentumContinuous: eta must be a finite positive number/);
  });
});
