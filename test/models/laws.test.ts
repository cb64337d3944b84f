/** Runs the layer law table (test/models/laws.ts) on the CPU in float64, over seeds and batch sizes. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import { Dense, Elementwise, type ShapeTree } from '../../models/index.ts';
import { FLOAT64_LAWS, LAYER_CASES, checkLayerLaws } from './laws.ts';

describe('layer laws: grad and JVP vs finite differences, transpose law (float64)', () => {
  for (const c of LAYER_CASES) {
    it(c.name, async () => {
      const before = tg.liveTensorCount();
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 3 }), (seed, batch) =>
          checkLayerLaws(c, { ...FLOAT64_LAWS, seed, batch }),
        ),
        { numRuns: 6, seed: 20190206 },
      );
      // The checker frees what it made: a leak here would point at a layer holding tensors.
      expect(tg.liveTensorCount()).toBe(before);
    });
  }
});

describe('the law checker itself', () => {
  it('rejects a layer whose derivative is wrong (a stopGradient hides part of it)', async () => {
    const broken = {
      name: 'broken',
      make: () => Elementwise((x) => tg.add(tg.stopGradient(tg.mul(x, x)), x), 'x^2 without gradient'),
      inputShape: (n: number) => [n, 3],
    };
    await expect(checkLayerLaws(broken, { ...FLOAT64_LAWS, seed: 1, batch: 2 })).rejects.toThrow(/broken .*finite differences/);
  });

  it('rejects a layer whose init declares the wrong output shape', async () => {
    const liar = {
      name: 'liar',
      make: () => ({ ...Dense(3), init: (k: tg.Key, s: ShapeTree, d?: tg.DType) => ({ ...Dense(3).init(k, s, d), outputShape: [-1, 4] }) }),
      inputShape: (n: number) => [n, 2],
    };
    await expect(checkLayerLaws(liar, { ...FLOAT64_LAWS, seed: 1, batch: 2 })).rejects.toThrow(/liar .*init declared/);
  });
});
