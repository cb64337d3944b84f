/**
 * runPair, the unit of the MSE figures: for a model that is linear in its parameters the network
 * IS its linearization, so the network trained by gradient descent or heavy-ball momentum must
 * follow the closed-form trajectories (mseFlow.gdTestAt / momentumTestAt) to round-off, at any
 * size; a nonlinear network must not.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import { runPair } from '../../cli/figures/pair.ts';
import { silentProgress } from '../../cli/progress.ts';
import { Dense, Relu, serial } from '../../models/index.ts';

function data(n: number, m: number, d: number, seed: number) {
  const xTrain = tg.normal(tg.key(seed), [n, d]);
  const xTest = tg.normal(tg.key(seed + 1), [m, d]);
  const yTrain = Float32Array.from(tg.sign(tg.sum(xTrain, 1)).dataSync());
  const yTest = Float32Array.from(tg.sign(tg.sum(xTest, 1)).dataSync());
  return { xTrain, xTest, yTrain, yTest };
}

describe('runPair', () => {
  it('a model linear in its parameters equals its linearization under GD and momentum', async () => {
    await tg.setBackend('cpu');
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 2, max: 9 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom(0, 0.5, 0.9), fc.integer({ min: 0, max: 1000 }),
      async (n, m, d, beta, seed) => {
        const net = serial(Dense(1, { W_std: 1.3, b_std: 0.4, parameterization: 'ntk' }));
        const r = await runPair({ net, ...data(n, m, d, seed), steps: 25, beta, lrScale: 1, seed, progress: silentProgress, phase: 'test' });
        expect(r.steps[0]).toBe(0);
        expect(r.steps.at(-1)).toBe(25);
        expect(r.supRmse).toBeLessThan(1e-4);
        r.trainLoss.network.forEach((v, i) => expect(Math.abs(v - r.trainLoss.linearized[i])).toBeLessThan(1e-4 * (1 + v)));
        expect(r.lr).toBeCloseTo(1 / r.lambdaMax, 10);
      },
    ), { numRuns: 8 });
  });

  it('a ReLU network departs from its linearization, less at larger width; weight changes are per leaf', async () => {
    await tg.setBackend('cpu');
    const d = data(12, 6, 5, 3);
    const rmse = [];
    for (const width of [8, 512]) {
      const net = serial(Dense(width, { W_std: Math.SQRT2, b_std: 0.3 }), Relu(), Dense(1, { W_std: Math.SQRT2, b_std: 0.3 }));
      const r = await runPair({ net, ...d, steps: 60, beta: 0.5, lrScale: 1, seed: 1, ntkChange: true, progress: silentProgress, phase: 'test' });
      expect(r.weightChange.map((w) => w.name)).toEqual(['layer 0.W', 'layer 0.b', 'layer 2.W', 'layer 2.b']);
      expect(r.ntkChange).toBeGreaterThan(0);
      expect(r.trainLoss.network.at(-1)).toBeLessThan(r.trainLoss.network[0]);
      rmse.push(r.finalRmse);
    }
    expect(rmse[0]).toBeGreaterThan(1e-3);
    expect(rmse[1]).toBeLessThan(rmse[0]);
  });

  it('refuses mismatched targets naming the counts', async () => {
    const d = data(4, 2, 3, 0);
    await expect(runPair({ net: serial(Dense(1)), ...d, yTrain: new Float32Array(3), steps: 1, beta: 0, lrScale: 1, seed: 0, progress: silentProgress, phase: 't' }))
      .rejects.toThrow('runPair: 4 training inputs but 3 targets');
  });
});
