/**
 * stax's axis options, in float64: Conv with dimensionNumbers (NCHW / OIHW, NCL / OIL, mixed
 * input and output layouts) and Dense with batchAxis / channelAxis, against their channels-last
 * counterparts on transposed inputs and weights: apply, gradients, and the infinite-width kernels
 * (the kernel function reads the input in the first layer's layout; every later rule is
 * layout-free, models/layout.ts). Errors name the layer and the specs.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import {
  AvgPool,
  Conv,
  ConvTranspose,
  Dense,
  Erf,
  Flatten,
  GlobalAvgPool,
  GlobalSumPool,
  LayerNorm,
  Relu,
  SumPool,
  fanInSum,
  fanOut,
  parallel,
  serial,
  type Params,
} from '../../models/index.ts';
import { maxDiff } from './host-kernel.ts';


const o = { W_std: 1.3, b_std: 0.2 };
/** [N, ...spatial, C] -> [N, C, ...spatial]. */
const toFirst = (x: Tensor) => tg.transpose(x, [0, x.rank - 1, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 1)]);
/** A channels-last filter [...spatial, I, O] as O I ...spatial. */
const toOI = (w: Tensor) => tg.transpose(w, [w.rank - 1, w.rank - 2, ...Array.from({ length: w.rank - 2 }, (_, i) => i)]);

describe('Conv with dimensionNumbers equals the channels-last Conv on transposed inputs and weights', () => {
  it("['NCHW', 'OIHW', 'NCHW'] and ['NCL', 'OIL', 'NCL'], with AvgPool, SumPool and LayerNorm on channel axis 1: apply, gradients, kernels (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e5 }),
        fc.constantFrom(1, 2),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 3, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 2 }),
        fc.constantFrom<'SAME' | 'VALID'>('SAME', 'VALID'),
        fc.constantFrom<'global' | 'flatten' | 'spatial'>('global', 'flatten', 'spatial'),
        (seed, spatialRank, n, size, c, stride, padding, head) => {
          const spatial = spatialRank === 1 ? [size] : [size, size + 1];
          const filter = spatialRank === 1 ? [2] : [2, 3];
          const first = spatialRank === 1 ? (['NCL', 'OIL', 'NCL'] as const) : (['NCHW', 'OIHW', 'NCHW'] as const);
          const build = (channelsFirst: boolean) => {
            const dn = channelsFirst ? { dimensionNumbers: first } : {};
            const axes = channelsFirst ? { channelAxis: 1 } : {};
            const window = filter.map(() => 2);
            // LayerNorm over the channels, then over the channels and positions: the same axes in both layouts.
            const everyAxis = Array.from({ length: spatialRank + 1 }, (_, i) => i + 1);
            const body = [
              Conv(4, filter, { strides: stride, padding, ...o, ...dn }),
              LayerNorm({ axis: channelsFirst ? 1 : -1, eps: 1e-3, ...axes }),
              Relu(),
              AvgPool(window, undefined, 'SAME', axes),
              Conv(3, filter, { padding: 'SAME', ...o, ...dn }),
              LayerNorm({ axis: everyAxis, ...axes }),
              Erf(),
              SumPool(window, window, 'SAME', axes),
              Conv(3, filter, { padding: 'SAME', ...o, ...dn }),
            ] as const;
            if (head === 'spatial') return serial(...body);
            const pool = head === 'global' ? GlobalAvgPool(channelsFirst ? { channelAxis: 1 } : {}) : Flatten();
            // Flatten orders the features differently in the two layouts; the kernel does not see it.
            return serial(...body, Erf(), pool, Dense(2, o));
          };
          const last = build(false);
          const firstNet = build(true);
          const x = tg.normal(tg.key(seed), [n, ...spatial, c], 'float64');
          const xFirst = toFirst(x);
          const shapeLast = [-1, ...spatial, c];
          const initLast = last.init(tg.key(seed + 1), shapeLast, 'float64');
          const initFirst = firstNet.init(tg.key(seed + 1), [-1, c, ...spatial], 'float64');
          const wFirst = (initFirst.params as { W: Tensor }[])[0].W;
          expect(wFirst.shape).toEqual([4, c, ...filter]);
          // The channels-last network's weights, moved to O I spatial (Dense weights stay).
          const moved: Params = tg.treeMap(initLast.params, (leaf) => (leaf.rank === spatialRank + 2 ? toOI(leaf) : leaf));
          const yLast = last.apply(initLast.params, x) as Tensor;
          const yFirst = firstNet.apply(moved, xFirst) as Tensor;
          if (head === 'spatial') {
            expect(initFirst.outputShape).toEqual([-1, 3, ...(initLast.outputShape as number[]).slice(1, -1)]);
            expect(maxDiff(yFirst, toFirst(yLast))).toBeLessThan(1e-12);
          } else if (head === 'global') {
            expect(maxDiff(yFirst, yLast)).toBeLessThan(1e-12);
          }
          const loss = (net: typeof last, input: Tensor) => (p: Params) => tg.sum(tg.square(net.apply(p, input) as Tensor));
          if (head !== 'flatten') {
            const gLast = tg.treeLeaves(tg.treeMap(tg.grad(loss(last, x))(initLast.params), (leaf) => (leaf.rank === spatialRank + 2 ? toOI(leaf) : leaf)));
            const gFirst = tg.treeLeaves(tg.grad(loss(firstNet, xFirst))(moved));
            gLast.forEach((g, i) => expect(maxDiff(gFirst[i], g)).toBeLessThan(1e-10));
          }
          // Kernels: the same tensors, read from NCHW / NCL inputs.
          const kLast = last.kernelFn(x, null, null, { blockSize: 2 });
          const kFirst = firstNet.kernelFn(xFirst, null, null);
          expect(maxDiff(kFirst.nngp, kLast.nngp)).toBeLessThan(1e-12);
          expect(maxDiff(kFirst.ntk, kLast.ntk)).toBeLessThan(1e-12);
          expect(maxDiff(kFirst.cov1, kLast.cov1)).toBeLessThan(1e-12);
        },
      ),
      { numRuns: 16 },
    );
  });

  it("mixed layouts: ['NCHW', 'HWIO', 'NHWC'] reads NCHW, stores HWIO weights and writes NHWC", () => {
    const x = tg.normal(tg.key(3), [2, 5, 4, 3], 'float64');
    const plain = Conv(6, [3, 2], { padding: 'SAME', ...o });
    const mixed = Conv(6, [3, 2], { padding: 'SAME', ...o, dimensionNumbers: ['NCHW', 'HWIO', 'NHWC'] });
    const { params } = plain.init(tg.key(4), [-1, 5, 4, 3], 'float64');
    expect(mixed.init(tg.key(4), [-1, 3, 5, 4], 'float64').outputShape).toEqual([-1, 5, 4, 6]);
    expect(maxDiff(mixed.apply(params, toFirst(x)), plain.apply(params, x))).toBeLessThan(1e-12);
    const ct = ConvTranspose(2, [2], { strides: 2, padding: 'SAME', dimensionNumbers: ['NCL', 'LIO', 'NLC'] });
    const seq = tg.normal(tg.key(5), [2, 4, 3], 'float64');
    const ctPlain = ConvTranspose(2, [2], { strides: 2, padding: 'SAME' });
    const p2 = ctPlain.init(tg.key(6), [-1, 4, 3], 'float64').params;
    expect(maxDiff(ct.apply(p2, toFirst(seq)), ctPlain.apply(p2, seq))).toBeLessThan(1e-12);
    expect(maxDiff(serial(ct, Relu(), Conv(1, [2])).kernelFn(toFirst(seq), null, 'ntk'), serial(ctPlain, Relu(), Conv(1, [2])).kernelFn(seq, null, 'ntk'))).toBeLessThan(1e-12);
  });
});

describe('Dense with batchAxis / channelAxis', () => {
  it('{ batchAxis: 1, channelAxis: 0 } on x^T is (Dense on x)^T: apply, gradients, kernels and their input gradients (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), (seed, n, d, out) => {
        const axes = { batchAxis: 1, channelAxis: 0 };
        const plain = serial(Dense(5, o), Relu(), Dense(out, o));
        const transposed = serial(Dense(5, { ...o, ...axes }), Relu(), Dense(out, { ...o, batchAxis: -1, channelAxis: -2 }));
        const x = tg.normal(tg.key(seed), [n, d], 'float64');
        const xt = tg.transpose(x, [1, 0]);
        const { params } = plain.init(tg.key(seed + 1), [-1, d], 'float64');
        const initT = transposed.init(tg.key(seed + 1), [d, -1], 'float64');
        expect(initT.outputShape).toEqual([out, -1]);
        expect(maxDiff(transposed.apply(params, xt) as Tensor, tg.transpose(plain.apply(params, x) as Tensor, [1, 0]))).toBeLessThan(1e-12);
        const loss = (net: typeof plain, input: Tensor) => (p: Params) => tg.sum(tg.square(net.apply(p, input) as Tensor));
        const g1 = tg.treeLeaves(tg.grad(loss(plain, x))(params));
        const g2 = tg.treeLeaves(tg.grad(loss(transposed, xt))(params));
        g1.forEach((g, i) => expect(maxDiff(g2[i], g)).toBeLessThan(1e-10));
        const x2 = tg.normal(tg.key(seed + 2), [3, d], 'float64');
        const k = plain.kernel(x, x2);
        const kt = transposed.kernel(xt, tg.transpose(x2, [1, 0]));
        expect(maxDiff(kt.nngp, k.nngp)).toBeLessThan(1e-12);
        expect(maxDiff(kt.ntk!, k.ntk!)).toBeLessThan(1e-12);
        // The kernel is differentiable in the input through the kernel function's move to channels-last.
        const inputGrad = (net: typeof plain, input: Tensor) => tg.grad((u: Tensor) => tg.sum(net.kernel(u).ntk!))(input);
        expect(maxDiff(tg.transpose(inputGrad(transposed, xt), [1, 0]), inputGrad(plain, x))).toBeLessThan(1e-10);
      }),
      { numRuns: 20 },
    );
  });
});

describe('axis errors name the layer and the axes', () => {
  it('dimensionNumbers and batchAxis / channelAxis', () => {
    expect(() => Conv(4, [3, 3], { dimensionNumbers: ['NCWH', 'OIHW', 'NCWH'] })).toThrow(
      "Conv(4, [3,3]): dimensionNumbers ['NCWH', 'OIHW', 'NCWH']: lhs 'NCWH' must list the spatial axes HW in the filter's order (other orders are not supported)",
    );
    expect(() => Conv(4, [3], { dimensionNumbers: ['NCHW', 'OIHW', 'NCHW'] })).toThrow("Conv(4, [3]): dimensionNumbers ['NCHW', 'OIHW', 'NCHW']: lhs 'NCHW' must name 3 distinct axes for a 1-D filter");
    expect(() => Conv(4, [3, 3], { dimensionNumbers: ['NCHW', 'OIHW'] as never })).toThrow("Conv(4, [3,3]): dimensionNumbers must be three strings [lhs, rhs, out] such as ['NCHW', 'OIHW', 'NCHW']");
    expect(() => Conv(4, [3, 3], { dimensionNumbers: ['NXHW', 'OIHW', 'NCHW'] })).toThrow("lhs 'NXHW' must hold N and C");
    expect(() => Conv(4, [3, 3], { dimensionNumbers: ['NCHW', 'OHWX', 'NCHW'] })).toThrow("rhs 'OHWX' must hold O, I and 2 spatial letter(s)");
    expect(() => Dense(3, { batchAxis: 1, channelAxis: 1 })).toThrow('Dense(3): batchAxis and channelAxis are the same axis (1) of rank-2 activations');
    expect(() => Dense(3, { channelAxis: 2 })).toThrow('Dense(3): channelAxis 2 is out of range for rank-2 activations');
    expect(() => Dense(3, { batchAxis: 0.5 })).toThrow('Dense(3): batchAxis must be an integer axis, got 0.5');
    expect(() => GlobalAvgPool({ channelAxis: 1, axis: 2 } as never)).toThrow("GlobalAvgPool: unknown option 'axis'");
    expect(() => AvgPool([2, 2], undefined, 'VALID', { batchAxis: 1, channelAxis: 1 })).toThrow('AvgPool([2,2]): batchAxis and channelAxis are the same axis (1) of rank-3 activations');
    expect(() => LayerNorm({ channelAxis: 1 }).init(tg.key(0), [-1, 3, 4, 4])).toThrow('LayerNorm: the axes [-1] must include the channel axis (1)');
    expect(() => LayerNorm({ channelAxis: 1, axis: [0, 1] }).init(tg.key(0), [-1, 3, 4, 4])).toThrow('LayerNorm: cannot normalize over the batch axis 0');
    const nchw = Conv(2, [2, 2], { dimensionNumbers: ['NCHW', 'OIHW', 'NCHW'] });
    const { params } = nchw.init(tg.key(0), [-1, 3, 4, 4]);
    expect(() => nchw.apply(params, tg.zeros([2, 4, 4, 3]))).toThrow(
      'Conv(2, [2,2]): input [2,4,4,3] does not match kernel [2,3,2,2] (expected [2,4,2,2])',
    );
  });
  it('the kernel function: inputs that do not have the first layer\'s axes; branches that disagree', () => {
    // Flatten reads its input batch first: the Dense behind it does not decide the input's layout.
    const seq = tg.normal(tg.key(9), [4, 3, 2], 'float64');
    const behindFlatten = serial(Flatten(), Dense(3, { batchAxis: 1, channelAxis: 0 })).kernel(seq).ntk!;
    expect(maxDiff(behindFlatten, serial(Flatten(), Dense(3)).kernel(seq).ntk!)).toBe(0);
    expect(() => GlobalSumPool({ channelAxis: 3 }).kernel(tg.zeros([2, 4, 3], 'float64'))).toThrow(
      'kernel: the first layer of GlobalSumPool reads batch axis 0 and channel axis 3, which x1 [2,4,3] does not have (channelAxis 3 is out of range for rank-3 activations)',
    );
    const split = serial(fanOut(2), parallel(Dense(2), Dense(2, { batchAxis: 1, channelAxis: 0 })), fanInSum());
    expect(() => split.kernel(tg.zeros([2, 2], 'float64'))).toThrow('kernel: the branches of parallel read their inputs with different batch / channel axes (0/-1, 1/0)');
  });
});
