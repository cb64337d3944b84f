/**
 * A model's apply, called outside any tidy, leaves only its output behind: a training loop that
 * disposes what it can see stays flat. Each layer frees its own intermediates (scaled weights,
 * pre-bias products, activations between layers of a serial).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { AvgPool, Conv, Dense, Erf, fanInConcat, fanInSum, fanOut, Flatten, GlobalAvgPool, Identity, parallel, Relu, serial, Tanh, wideResnetBlock, type AnyLayer } from '../../models/index.ts';

/** Networks of [N, 4, 4, 2] images, with every layer kind of models/. */
const NETS: Record<string, () => AnyLayer> = {
  mlp: () => serial(Flatten(), Dense(5, { b_std: 0.1 }), Relu(), Dense(3), Tanh(), Dense(1)),
  conv: () => serial(Conv(3, [3, 3], { padding: 'SAME', b_std: 0.1 }), Erf(), AvgPool([2, 2]), Conv(2, [2, 2]), GlobalAvgPool(), Dense(2)),
  branches: () => serial(fanOut(2), parallel(Conv(2, [1, 1]), Identity()), fanInSum(), fanOut(2), parallel(Relu(), Tanh()), fanInConcat(), Flatten(), Dense(1)),
  resnet: () => serial(wideResnetBlock(2, 4, 1), GlobalAvgPool(), Dense(1)),
};

describe('model apply outside tidy', () => {
  it('leaves only its output: the live tensor count returns to where it was once the output is disposed', () => {
    fc.assert(fc.property(fc.constantFrom(...Object.keys(NETS)), fc.integer({ min: 1, max: 3 }), fc.nat(), (name, n, seed) => {
      const net = NETS[name]();
      const { params } = net.init(tg.key(seed), [-1, 4, 4, 2], 'float64');
      const x = tg.normal(tg.key(seed + 1), [n, 4, 4, 2], 'float64');
      const before = tg.liveTensorCount();
      const y = net.apply(params, x) as Tensor;
      expect(tg.liveTensorCount(), `${name}: tensors alive besides the output`).toBe(before + 1);
      y.dispose();
      expect(tg.liveTensorCount(), name).toBe(before);
      tg.dispose([params, x]);
    }), { numRuns: 20 });
  });
});
