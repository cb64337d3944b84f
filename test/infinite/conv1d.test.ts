/**
 * 1-D layers on [N, L, C] (stax's Conv(out, (k,)), ConvTranspose, AvgPool / SumPool with [k],
 * the global pools, Flatten and LayerNorm on rank-3 activations), in float64: laws that a 1-D
 * network on [N, L, C] is the 2-D network with [1, k] filters on [N, 1, L, C] (apply, gradients,
 * layer.kernel and kernelFn in both position layouts, with the height axes dropped), the
 * analytic 1-D kernels against Monte Carlo over initializations, and the errors for a window of
 * the wrong rank.
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
  serial,
  type KernelLayer,
  type Params,
} from '../../models/index.ts';
import { batch } from '../../models/kernels/batch.ts';
import { maxDiff } from './host-kernel.ts';
import { monteCarloAgrees, o } from './monte-carlo-check.ts';

type Padding = 'SAME' | 'VALID';


/** The largest |a - b| where b is the 2-D twin of a: the same values with height axes of size 1. */
const liftedDiff = (a: Tensor, b: Tensor) => maxDiff(a, tg.reshape(b, a.shape));

/** The parameters of a 1-D network as those of its 2-D twin: every [k, I, O] filter as [1, k, I, O]. */
const liftParams = (params: Params): Params => tg.treeMap(params, (leaf) => (leaf.rank === 3 ? tg.reshape(leaf, [1, ...leaf.shape]) : leaf));

/** One random 1-D geometry: input [N, L, C], two convolutions and a pooling window that fit. */
const geometry = fc
  .record({
    n: fc.integer({ min: 1, max: 3 }),
    length: fc.integer({ min: 4, max: 9 }),
    channels: fc.integer({ min: 1, max: 3 }),
    k1: fc.integer({ min: 1, max: 3 }),
    s1: fc.integer({ min: 1, max: 2 }),
    d1: fc.integer({ min: 1, max: 2 }),
    pad1: fc.constantFrom<Padding>('SAME', 'VALID'),
    k2: fc.integer({ min: 1, max: 2 }),
    pool: fc.integer({ min: 1, max: 2 }),
    poolPad: fc.constantFrom<Padding>('SAME', 'VALID'),
    seed: fc.integer({ min: 0, max: 1e5 }),
  })
  .filter((g) => g.pad1 === 'SAME' || g.length >= (g.k1 - 1) * g.d1 + 1 + 2);

interface Geometry {
  n: number;
  length: number;
  channels: number;
  k1: number;
  s1: number;
  d1: number;
  pad1: Padding;
  k2: number;
  pool: number;
  poolPad: Padding;
  seed: number;
}

/**
 * A 1-D network and its 2-D twin on [N, 1, L, C] ([1, k] filters, [1, p] windows), ending in
 * `head` ('spatial': a LayerNorm over positions and channels, 'avg' / 'sum': a global pool and
 * Dense, 'flatten': Flatten and Dense).
 */
function twins(g: Geometry, head: 'spatial' | 'avg' | 'sum' | 'flatten'): [KernelLayer, KernelLayer] {
  const build = (rank: 1 | 2) => {
    const lift = (v: number) => (rank === 1 ? [v] : [1, v]);
    const body: KernelLayer[] = [
      Conv(5, lift(g.k1), { strides: lift(g.s1), dilation: lift(g.d1), padding: g.pad1, ...o }),
      Relu(),
      AvgPool(lift(g.pool), lift(1), g.poolPad),
      Conv(4, lift(g.k2), { padding: 'SAME', W_std: 1.1, b_std: 0.2, parameterization: 'standard' }),
      Erf(),
      SumPool(lift(g.pool), lift(1), 'SAME'),
      ConvTranspose(3, lift(2), { strides: lift(2), padding: 'SAME', ...o }),
      LayerNorm({ axis: rank === 1 ? [1, 2] : [2, 3] }),
    ];
    if (head === 'spatial') return serial(...body);
    const pool = head === 'avg' ? GlobalAvgPool() : head === 'sum' ? GlobalSumPool() : Flatten();
    return serial(...body, Relu(), pool, Dense(2, o));
  };
  return [build(1), build(2)];
}

describe('1-D layers on [N, L, C] are the 2-D ones with [1, k] windows on [N, 1, L, C]', () => {
  it('init shapes, apply and gradients (fast-check over geometries)', () => {
    fc.assert(
      fc.property(geometry, fc.constantFrom<'spatial' | 'avg' | 'sum' | 'flatten'>('spatial', 'avg', 'sum', 'flatten'), (g, head) => {
        const [net1, net2] = twins(g, head);
        const x = tg.normal(tg.key(g.seed), [g.n, g.length, g.channels], 'float64');
        const x2d = tg.reshape(x, [g.n, 1, g.length, g.channels]);
        const init1 = net1.init(tg.key(g.seed + 1), [-1, g.length, g.channels], 'float64');
        const init2 = net2.init(tg.key(g.seed + 1), [-1, 1, g.length, g.channels], 'float64');
        const out1 = init1.outputShape as number[];
        const out2 = init2.outputShape as number[];
        // The 2-D output shape with its height axis (of size 1) dropped.
        expect(out1).toEqual(head === 'spatial' ? [out2[0], out2[2], out2[3]] : out2);
        const firstW = (init1.params as { W: Tensor }[])[0].W;
        expect(firstW.shape).toEqual([g.k1, g.channels, 5]);
        const lifted = liftParams(init1.params);
        const y1 = net1.apply(init1.params, x) as Tensor;
        const y2 = net2.apply(lifted, x2d) as Tensor;
        expect(liftedDiff(y1, y2)).toBeLessThan(1e-12);
        const loss = (net: KernelLayer, input: Tensor) => (p: Params) => tg.sum(tg.square(net.apply(p, input) as Tensor));
        const g1 = tg.treeLeaves(tg.grad(loss(net1, x))(init1.params));
        const g2 = tg.treeLeaves(tg.grad(loss(net2, x2d))(lifted));
        expect(g1.length).toBe(g2.length);
        g1.forEach((a, i) => expect(liftedDiff(a, g2[i])).toBeLessThan(1e-10));
        const dx1 = tg.grad((u: Tensor) => tg.sum(tg.square(net1.apply(init1.params, u) as Tensor)))(x);
        const dx2 = tg.grad((u: Tensor) => tg.sum(tg.square(net2.apply(lifted, u) as Tensor)))(x2d);
        expect(liftedDiff(dx1, dx2)).toBeLessThan(1e-10);
        tg.dispose([init1.params, init2.params, lifted, y1, y2, ...g1, ...g2, dx1, dx2] as never);
      }),
      { numRuns: 12 },
    );
  });

  it('kernels: layer.kernel and kernelFn, full and diagonal layouts, x2 given or not (fast-check)', () => {
    fc.assert(
      fc.property(geometry, fc.constantFrom<'spatial' | 'avg' | 'sum' | 'flatten'>('spatial', 'avg', 'sum', 'flatten'), fc.boolean(), (g, head, withX2) => {
        const [net1, net2] = twins(g, head);
        const x = tg.normal(tg.key(g.seed), [g.n, g.length, g.channels], 'float64');
        const x2 = withX2 ? tg.normal(tg.key(g.seed + 2), [2, g.length, g.channels], 'float64') : undefined;
        const lift = (t: Tensor | undefined) => t && tg.reshape(t, [t.shape[0], 1, ...t.shape.slice(1)]);
        const k1 = net1.kernel(x, x2, { blockSize: 2 });
        const k2 = net2.kernel(lift(x)!, lift(x2));
        expect(k1.layout).toBe(k2.layout);
        const n2 = x2 ? 2 : g.n;
        if (head === 'spatial') {
          // Pooling in the body: 'auto' picks the full layout; no height axes in the 1-D kernels.
          const L = k2.nngp.shape[3];
          expect(k1.nngp.shape).toEqual([g.n, n2, L, L]);
          expect(k1.cov1!.shape).toEqual([g.n, L, L]);
          const staxK = net1.kernelFn(x, x2 ?? null, 'ntk');
          expect(staxK.shape).toEqual([g.n, n2, L, L]);
          expect(liftedDiff(staxK, net2.kernelFn(lift(x)!, lift(x2) ?? null, 'ntk'))).toBeLessThan(1e-12);
        } else {
          expect(k1.nngp.shape).toEqual([g.n, n2]);
        }
        expect(liftedDiff(k1.nngp, k2.nngp)).toBeLessThan(1e-12);
        expect(liftedDiff(k1.ntk!, k2.ntk!)).toBeLessThan(1e-12);
        expect(liftedDiff(k1.cov1!, k2.cov1!)).toBeLessThan(1e-12);
        expect(liftedDiff(k1.cov2!, k2.cov2!)).toBeLessThan(1e-12);
      }),
      { numRuns: 12 },
    );
  });

  it('a network without pooling: the diagonal layout is [N1, N2, L], the (p, p) entries of the full [N1, N2, L, L]; batch() assembles 1-D blocks', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e5 }), fc.integer({ min: 3, max: 8 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), (seed, L, C, k) => {
        const net = serial(Conv(6, [k], { padding: 'SAME', ...o }), Relu(), Conv(3, [k], { dilation: [2], padding: 'SAME', ...o }));
        const x = tg.normal(tg.key(seed), [3, L, C], 'float64');
        const diag = net.kernelFn(x, null, 'nngp', { diagonalSpatial: true });
        const full = net.kernelFn(x, null, 'nngp');
        expect(diag.shape).toEqual([3, 3, L]);
        expect(full.shape).toEqual([3, 3, L, L]);
        const f = full.dataSync();
        const d = diag.dataSync();
        for (let ij = 0; ij < 9; ij++) for (let p = 0; p < L; p++) expect(Math.abs(d[ij * L + p] - f[(ij * L + p) * L + p])).toBeLessThan(1e-12);
        const auto = net.kernel(x);
        expect(auto.layout).toBe('diagonal');
        expect(auto.cov1!.shape).toEqual([3, L]);
        // nt.batch over 1-D kernels: the blocks assemble to the same tensors.
        const blocked = batch(net.kernelFn, 2)(x, null, null);
        expect(maxDiff(blocked.nngp, full)).toBeLessThan(1e-12);
        expect(blocked.cov1.shape).toEqual([3, L, L]);
      }),
      { numRuns: 10 },
    );
  });
});

describe('1-D kernels against Monte Carlo over initializations (float64)', () => {
  const seq = tg.normal(tg.key(41), [3, 5, 2], 'float64');
  it('Conv [k] -> Relu -> strided, dilated Conv -> GlobalAvgPool', () => {
    monteCarloAgrees((n) => [Conv(n, [3], { ...o, padding: 'SAME' }), Relu(), Conv(n, [2], { ...o, strides: [2], dilation: [2], padding: 'SAME' }), Erf(), GlobalAvgPool()], seq, {
      width: 96,
      samples: 16,
      // Flatten reads only the diagonal position pairs: far from the pooled kernel.
      wrong: (n) => [Conv(n, [3], { ...o, padding: 'SAME' }), Relu(), Conv(n, [2], { ...o, strides: [2], dilation: [2], padding: 'SAME' }), Erf(), Flatten()],
    });
  });
  it('ConvTranspose [k] -> Relu -> SumPool [k] -> Flatten', () => {
    monteCarloAgrees((n) => [ConvTranspose(n, [2], { ...o, strides: [2], padding: 'SAME' }), Relu(), SumPool([2]), Flatten()], seq, { width: 96, samples: 16, spatial: 'full' });
  });
});

describe('errors name the layer and the shapes', () => {
  const seq = tg.normal(tg.key(43), [2, 6, 3], 'float64');
  const img = tg.normal(tg.key(44), [2, 4, 4, 3], 'float64');
  it('a [k] window on images, a [kh, kw] one on [N, L, C]: init, apply and kernel', () => {
    expect(() => Conv(4, [3]).init(tg.key(0), [-1, 4, 4, 3])).toThrow('Conv(4, [3]): a 1-D filter [k] takes [N, L, C] inputs, got the rank-4 input [-1,4,4,3]; images take a filter [kh, kw]');
    expect(() => Conv(4, [3, 3]).init(tg.key(0), [-1, 6, 3])).toThrow('Conv(4, [3,3]): a 2-D filter [kh, kw] takes images [N, H, W, C], got the rank-3 input [-1,6,3]; 1-D inputs [N, L, C] take a filter [k]');
    const { params } = Conv(4, [3]).init(tg.key(0), [-1, 6, 3], 'float64');
    expect(() => Conv(4, [3]).apply(params, img)).toThrow('Conv(4, [3]): a 1-D filter [k] takes [N, L, C] inputs, got the rank-4 input [2,4,4,3]');
    expect(() => ConvTranspose(4, [2, 2]).apply(null, seq)).toThrow('ConvTranspose(4, [2,2]): a 2-D filter [kh, kw] takes images [N, H, W, C], got the rank-3 input [2,6,3]');
    expect(() => AvgPool([2]).init(tg.key(0), [-1, 4, 4, 3])).toThrow('AvgPool([2]): a 1-D window [k] takes [N, L, C] inputs, got the rank-4 input [-1,4,4,3]');
    expect(() => SumPool([2, 2]).apply(null, seq)).toThrow('SumPool([2,2]): a 2-D window [kh, kw] takes images [N, H, W, C], got the rank-3 input [2,6,3]');
    expect(() => Conv(4, [3]).kernel(img)).toThrow('kernel: Conv(4, [3]): a 1-D window [k] needs [N, L, C] activations, got images [N, 4, 4, 3]');
    expect(() => Conv(4, [3, 3]).kernel(seq)).toThrow('kernel: Conv(4, [3,3]): a 2-D window [kh, kw] needs [N, H, W, C] activations, got 1-D [N, 6, 3] activations');
    expect(() => serial(Conv(4, [3]), Relu(), AvgPool([2, 2])).kernel(seq)).toThrow('AvgPool([2,2]): a 2-D window [kh, kw] needs [N, H, W, C] activations, got 1-D [N, 4, 4] activations');
  });
  it('per-axis values of the wrong length, bad filters', () => {
    expect(() => Conv(4, [3], { strides: [1, 2] })).toThrow('Conv(4, [3]): strides must be a number or a list [s] of one for a 1-D filter, got [1,2]');
    expect(() => Conv(4, [3, 3], { dilation: [2] })).toThrow('Conv(4, [3,3]): dilation must be a number or a pair for a 2-D filter, got [2]');
    expect(() => Conv(4, [1, 2, 3])).toThrow('Conv(4, [1,2,3]): filterShape must be [k] (1-D, on [N, L, C]) or a pair [kh, kw] (on [N, H, W, C]), got [1,2,3]');
    expect(() => AvgPool([2], [1, 1])).toThrow('AvgPool([2]): strides must be a list [s] of one positive integer for a 1-D window, got [1,1]');
    expect(() => Conv(4, [7]).init(tg.key(0), [-1, 6, 3])).toThrow('Conv(4, [7]): the 1-dilated filter does not fit input [-1,6,3] with VALID padding');
  });
  it('kernel inputs of rank 5 are refused, naming the shape', () => {
    expect(() => Dense(2).kernel(tg.zeros([2, 1, 1, 1, 3], 'float64'))).toThrow('kernel: inputs must be [N, features], 1-D [N, L, C] or NHWC images [N, H, W, C], got x1 of shape [2,1,1,1,3]');
  });
});
