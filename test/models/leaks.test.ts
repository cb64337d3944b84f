/**
 * A model's apply, called outside any tidy, leaves only its output behind: a training loop that
 * disposes what it can see stays flat. Each layer frees its own intermediates (scaled weights,
 * pre-bias products, activations between layers of a serial).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { AvgPool, Conv, Dense, Erf, fanInConcat, fanInSum, fanOut, Flatten, GlobalAvgPool, Identity, LayerNorm, parallel, Relu, serial, Tanh, wideResnetBlock, type AnyLayer } from '../../models/index.ts';

/** Networks of [N, 4, 4, 2] images, with every layer kind of models/. */
const NETS: Record<string, () => AnyLayer> = {
  mlp: () => serial(Flatten(), Dense(5, { b_std: 0.1 }), Relu(), Dense(3), Tanh(), Dense(1)),
  conv: () => serial(Conv(3, [3, 3], { padding: 'SAME', b_std: 0.1 }), Erf(), AvgPool([2, 2]), Conv(2, [2, 2]), GlobalAvgPool(), Dense(2)),
  branches: () => serial(fanOut(2), parallel(Conv(2, [1, 1]), Identity()), fanInSum(), fanOut(2), parallel(Relu(), Tanh()), fanInConcat(), Flatten(), Dense(1)),
  resnet: () => serial(wideResnetBlock(2, 4, 1), GlobalAvgPool(), Dense(1)),
  // The same [N, 4, 4, 2] read as NCHW (C = 4): the layout transposes free their intermediates too.
  channelsFirst: () => serial(
    Conv(3, [2, 2], { padding: 'SAME', b_std: 0.1, dimensionNumbers: ['NCHW', 'OIHW', 'NCHW'] }),
    LayerNorm({ axis: [1, 2, 3], channelAxis: 1 }),
    AvgPool([2, 2], undefined, 'SAME', { channelAxis: 1 }),
    GlobalAvgPool({ channelAxis: 1 }),
    Dense(2),
  ),
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

describe('kernel evaluation outside tidy', () => {
  it('leaves only its results (nngp, ntk, cov1), for 1-D, channels-first and features-first inputs', () => {
    const cases: [AnyLayer & { kernel: NonNullable<AnyLayer['kernel']> }, number[]][] = [
      [serial(Conv(3, [2], { padding: 'SAME' }), Relu(), AvgPool([2]), Flatten(), Dense(1)), [3, 5, 2]],
      [NETS.channelsFirst() as never, [3, 4, 4, 2]],
      [serial(Dense(4, { batchAxis: 1, channelAxis: 0 }), Erf(), Dense(1, { batchAxis: 1, channelAxis: 0 })) as never, [5, 3]],
    ];
    for (const [net, shape] of cases) {
      const x = tg.normal(tg.key(1), shape, 'float64');
      const before = tg.liveTensorCount();
      const r = net.kernel(x);
      expect(tg.liveTensorCount(), net.name).toBe(before + 3);
      tg.dispose([r.nngp, r.ntk!, r.cov1!]);
      expect(tg.liveTensorCount()).toBe(before);
      x.dispose();
    }
  });
});
