/**
 * stax-style kernel functions (layer.kernelFn / kernelFunction) and batch(): get variants, the
 * batch diagonal (cov1), the spatial diagonal against the full position-pair kernel, a closed
 * form (one Dense layer: K = Theta = W_std^2 x.x'/d + b_std^2), and blocked evaluation against
 * the unblocked one.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tg from '../../engine/index.ts';
import { AvgPool, Conv, Dense, Erf, Flatten, Relu, serial } from '../../models/index.ts';
import { computeKernel, kernelFunction, type Kernel } from '../../models/kernels/kernel-fn.ts';
import { batch } from '../../models/kernels/batch.ts';

const cpu = () => tg.backendInstance('cpu')!;
const x64 = (seed: number, shape: number[]) => tg.normal(tg.key(seed), shape, 'float64', cpu());
const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('kernelFn', () => {
  it('one Dense layer: nngp = ntk = W^2 x.x\'/d + b^2 for every get; cov1 / cov2 are the batch diagonals', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.double({ min: 0.2, max: 2, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (seed, n1, n2, d, w, b) => {
      const net = Dense(3, { W_std: w, b_std: b });
      const x1 = x64(seed, [n1, d]);
      const x2 = x64(seed + 1, [n2, d]);
      const a1 = x1.dataSync();
      const a2 = x2.dataSync();
      const dot = (u: ArrayLike<number>, i: number, v: ArrayLike<number>, j: number) => { let s = 0; for (let c = 0; c < d; c++) s += u[i * d + c] * v[j * d + c]; return s; };
      const ref = Float64Array.from({ length: n1 * n2 }, (_, q) => (w * w * dot(a1, Math.floor(q / n2), a2, q % n2)) / d + b * b);
      expect(diff(net.kernelFn(x1, x2, 'ntk').dataSync(), ref)).toBeLessThan(1e-12);
      expect(diff(net.kernelFn(x1, x2, 'nngp').dataSync(), ref)).toBeLessThan(1e-12);
      const both = net.kernelFn(x1, x2, ['ntk']);
      expect(Object.keys(both)).toEqual(['ntk']);
      const k: Kernel = net.kernelFn(x1, x2);
      expect(diff(k.cov1.dataSync(), Float64Array.from({ length: n1 }, (_, i) => (w * w * dot(a1, i, a1, i)) / d + b * b))).toBeLessThan(1e-12);
      expect(diff(k.cov2!.dataSync(), Float64Array.from({ length: n2 }, (_, i) => (w * w * dot(a2, i, a2, i)) / d + b * b))).toBeLessThan(1e-12);
      expect(net.kernelFn(x1).cov2).toBeNull();
    }), { numRuns: 25 });
  });

  it("get 'ntk' works (it used to throw) and equals computeKernel; cov1 is the diagonal of K(x, x); diagonalBatch false changes nothing", () => {
    const net = serial(Dense(64, { W_std: 1.5, b_std: 0.1 }), Erf(), Dense(32, { W_std: 1.3 }), Relu(), Dense(1, { W_std: 1.2, b_std: 0.2 }));
    const x1 = x64(1, [5, 3]);
    const x2 = x64(2, [4, 3]);
    const ref = computeKernel(net, x1, x2);
    expect(diff(net.kernelFn(x1, x2, 'ntk').dataSync(), ref.ntk!.dataSync())).toBe(0);
    expect(diff(computeKernel(net, x1, x2, { get: 'ntk' }).ntk!.dataSync(), ref.ntk!.dataSync())).toBe(0);
    const full = net.kernelFn(x1, null, 'nngp').dataSync();
    const cov1 = net.kernelFn(x1).cov1.dataSync();
    expect(diff(cov1, Array.from({ length: 5 }, (_, i) => full[i * 5 + i]))).toBeLessThan(1e-12);
    const nb = net.kernelFn(x1, x2, null, { diagonalBatch: false });
    expect(diff(nb.ntk.dataSync(), ref.ntk!.dataSync())).toBe(0);
    expect(() => net.kernelFn(x1, x2, 'nngq' as 'nngp')).toThrow(/kernelFn: get must be 'nngp', 'ntk'/);
    expect(() => net.kernelFn(x1, x2, null, { diagonal: true } as never)).toThrow(/unknown option 'diagonal'/);
  });

  it('images: the full kernel is in stax order [N1, N2, H1, H2, W1, W2], and its (p, p) pairs are the diagonalSpatial kernel', () => {
    const net = serial(Conv(8, [2, 2], { padding: 'SAME', W_std: 1.4, b_std: 0.1 }), Relu(), Conv(8, [3, 3], { padding: 'SAME', W_std: 1.4 }));
    const x1 = x64(3, [2, 3, 4, 2]);
    const x2 = x64(4, [3, 3, 4, 2]);
    const full = net.kernelFn(x1, x2, 'ntk');
    expect(full.shape).toEqual([2, 3, 3, 3, 4, 4]);
    const diag = net.kernelFn(x1, x2, 'ntk', { diagonalSpatial: true });
    expect(diag.shape).toEqual([2, 3, 3, 4]);
    const f = full.dataSync();
    const picked: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let h = 0; h < 3; h++) for (let w = 0; w < 4; w++) picked.push(f[((((i * 3 + j) * 3 + h) * 3 + h) * 4 + w) * 4 + w]);
    expect(diff(picked, diag.dataSync())).toBeLessThan(1e-12);
    const ours = computeKernel(net, x1, x2, { spatial: 'full' }).ntk!; // [N1, N2, H, W, H, W]
    expect(diff(tg.transpose(ours, [0, 1, 2, 4, 3, 5]).dataSync(), f)).toBe(0);
    const cov1 = net.kernelFn(x1, null, null).cov1;
    expect(cov1.shape).toEqual([2, 3, 3, 4, 4]);
    const pooled = serial(Conv(4, [2, 2], { padding: 'SAME' }), Relu(), AvgPool([2, 2]), Flatten(), Dense(1));
    expect(() => pooled.kernelFn(x1, x2, 'nngp', { diagonalSpatial: true })).toThrow(/needs the full position-pair kernel/);
    expect(pooled.kernelFn(x1, x2, 'nngp').shape).toEqual([2, 3]);
  });

  it('batch(kernelFn, blockSize) equals the unblocked kernel for every get, with and without x2, dense and images', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e5 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), (seed, n1, n2, block) => {
      const net = serial(Dense(16, { W_std: 1.5, b_std: 0.1 }), Erf(), Dense(1, { W_std: 1.2 }));
      const kernelFn = kernelFunction(net);
      const x1 = x64(seed, [n1, 3]);
      const x2 = x64(seed + 1, [n2, 3]);
      const blocked = batch(kernelFn, block);
      for (const second of [x2, null]) {
        const a = blocked(x1, second);
        const b = kernelFn(x1, second);
        expect(diff(a.nngp.dataSync(), b.nngp.dataSync())).toBeLessThan(1e-12);
        expect(diff(a.ntk.dataSync(), b.ntk.dataSync())).toBeLessThan(1e-12);
        expect(diff(a.cov1.dataSync(), b.cov1.dataSync())).toBeLessThan(1e-12);
        if (second) expect(diff(a.cov2!.dataSync(), b.cov2!.dataSync())).toBeLessThan(1e-12);
        else expect(a.cov2).toBeNull();
        expect(diff(blocked(x1, second, 'ntk').dataSync(), b.ntk.dataSync())).toBeLessThan(1e-12);
      }
    }), { numRuns: 20 });
    const conv = serial(Conv(4, [2, 2], { padding: 'SAME' }), Relu(), Conv(2, [2, 2]));
    const xi = x64(9, [5, 3, 3, 2]);
    expect(diff(batch(conv.kernelFn!, 2)(xi, null, 'ntk').dataSync(), conv.kernelFn!(xi, null, 'ntk').dataSync())).toBeLessThan(1e-12);
  });
});
