/**
 * The kernel rules are engine ops, so kernels are differentiable: the reverse-mode gradient of a
 * weighted sum of NNGP / NTK entries with respect to the inputs equals central differences
 * (float64), for dense (closed forms and quadrature), convolutional (both position layouts) and pooling networks, on random
 * inputs and weights, including the symmetric call whose diagonal entries sit at correlation 1;
 * and with respect to W_std / b_std when the affine rules get them as scalar tensors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { convRule, denseRule, serialRule } from '../../models/kernels/rules.ts';
import type { KernelRule } from '../../models/kernels/state.ts';
import {
  Abs,
  AvgPool,
  Conv,
  ConvTranspose,
  Dense,
  Dropout,
  Elementwise,
  Erf,
  Exp,
  Flatten,
  Gaussian,
  Gelu,
  GlobalAvgPool,
  LayerNorm,
  LeakyRelu,
  Relu,
  Sign,
  Sin,
  SumPool,
  Tanh,
  computeKernel,
  fanInProd,
  fanInSum,
  fanOut,
  parallel,
  serial,
  type AnyLayer,
  type KernelLayer,
} from '../../models/index.ts';

const o = { W_std: 1.3, b_std: 0.2 };
const so = { ...o, parameterization: 'standard' as const };

const nets: { name: string; net: () => KernelLayer; shape: (n: number) => number[]; spatial?: 'full' | 'diagonal'; quadrature?: number }[] = [
  // Quadrature with a fixed Gauss-Hermite rule: the 'auto' rule changes with the variance in steps,
  // which central differences would straddle.
  {
    name: 'MLP Tanh -> Elementwise(softplus) by 16-point Gauss-Hermite',
    net: () => serial(Dense(5, o), Tanh(), Dense(4, so), Elementwise((v) => tg.log1p(tg.exp(v)), 'softplus'), Dense(1, o)),
    shape: (n) => [n, 3],
    quadrature: 16,
  },
  { name: 'MLP Relu -> Erf', net: () => serial(Dense(5, o), Relu(), Dense(4, so), Erf({ a: 1.1, b: 0.9, c: 0.2 }), Dense(1, o)), shape: (n) => [n, 3] },
  { name: 'CNN diagonal: Conv SAME strided -> Relu -> Flatten', net: () => serial(Conv(3, [2, 3], { padding: 'SAME', strides: [2, 1], ...o }), Relu(), Flatten(), Dense(1, so)), shape: (n) => [n, 3, 4, 2] },
  {
    name: 'CNN full: Conv -> Erf -> AvgPool -> residual Conv -> GlobalAvgPool',
    net: () => serial(Conv(3, [2, 2], { padding: 'SAME', ...o }), Erf(), AvgPool([2, 2], [1, 1], 'SAME'), Conv(3, [2, 2], { padding: 'SAME', ...o }), fanOut(2), parallel(Relu(), Conv(3, [1, 1], o)), fanInSum(), GlobalAvgPool(), Dense(1)),
    shape: (n) => [n, 3, 3, 2],
    spatial: 'full',
  },
  {
    name: 'MLP of the stax activations: LeakyRelu -> Gelu -> LayerNorm -> Sin -> Gaussian -> Sign -> Exp, Dropout, fanInProd',
    net: () => serial(Dense(5, o), LeakyRelu(0.2), Dense(4, so), Gelu(), Dense(4, o), LayerNorm({ eps: 0.01 }), Sin({ a: 1.1, b: 0.8, c: 0.3 }), Dense(4, o), Gaussian({ a: 1.2, b: -0.3 }), Dropout(0.8), fanOut(2), parallel(Dense(3, o), serial(Dense(3, o), Sign())), fanInProd(), Dense(3, o), Exp({ a: 0.5, b: 0.4 }), Dense(1, o)),
    shape: (n) => [n, 3],
  },
  {
    name: 'CNN full: ConvTranspose -> Abs -> SumPool -> Conv',
    net: () => serial(ConvTranspose(3, [2, 2], { strides: 2, padding: 'SAME', ...o }), Abs(), SumPool([2, 2], [2, 1]), Conv(2, [2, 2], so), Relu(), Flatten(), Dense(1, o)),
    shape: (n) => [n, 2, 2, 2],
    spatial: 'full',
  },
];

/** Deterministic pseudo-random values in [-1, 1) from a seed. */
function values(n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  return Float64Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

describe('kernels are differentiable with respect to their inputs', () => {
  for (const c of nets) {
    it(`${c.name}: grad of a weighted sum of NNGP and NTK entries equals central differences`, () => {
      const net = c.net();
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.boolean(), fc.nat(), (n1, n2, symmetric, seed) => {
          const s1 = c.shape(n1);
          const s2 = c.shape(n2);
          const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
          const x = tg.tensor(values(size(s1), seed), s1, 'float64');
          const x2 = symmetric ? undefined : tg.tensor(values(size(s2), seed + 7), s2, 'float64');
          const m = symmetric ? n1 : n2;
          const wK = tg.tensor(values(n1 * m, seed + 1), [n1, m], 'float64');
          const wT = tg.tensor(values(n1 * m, seed + 2), [n1, m], 'float64');
          const f = (a: Tensor) => {
            const r = net.kernel(a, x2, { spatial: c.spatial, quadrature: c.quadrature });
            return tg.add(tg.sum(tg.mul(r.nngp, wK)), tg.sum(tg.mul(r.ntk!, wT)));
          };
          const g = (tg.grad(f)(x) as Tensor).dataSync();
          const base = x.dataSync();
          const h = 1e-5;
          let scale = 0;
          let err = 0;
          for (let i = 0; i < base.length; i++) {
            const at = (d: number) => {
              const v = Float64Array.from(base);
              v[i] += d;
              return tg.tidy(() => f(tg.tensor(v, s1, 'float64')).dataSync()[0]);
            };
            const fd = (at(h) - at(-h)) / (2 * h);
            scale = Math.max(scale, Math.abs(fd));
            err = Math.max(err, Math.abs(fd - g[i]));
          }
          expect(Number.isFinite(err)).toBe(true);
          expect(err).toBeLessThan(1e-6 * Math.max(scale, 1));
          tg.dispose([x, x2, wK, wT]);
        }),
        { numRuns: 4 },
      );
    });
  }
});

describe('kernels are differentiable with respect to W_std and b_std given as scalar tensors', () => {
  const carrier = (name: string, kernelRule: KernelRule) => ({ name, kernelRule });
  it('Conv (ntk) -> Relu -> Flatten -> Dense (standard): grads equal central differences', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.5, max: 2, noNaN: true }), fc.double({ min: 0.05, max: 1, noNaN: true }), fc.nat(), (wStd, bStd, seed) => {
        const x = tg.tensor(values(2 * 3 * 3 * 2, seed), [2, 3, 3, 2], 'float64');
        const weights = tg.tensor(values(4, seed + 1), [2, 2], 'float64');
        const f = (W: Tensor, b: Tensor) => {
          const net = carrier('net', serialRule([
            carrier('conv', convRule('conv', { outChannels: 3, filterShape: [2, 2], strides: [1, 1], padding: 'SAME', dilation: [1, 1], W_std: W, b_std: b, parameterization: 'ntk' })),
            Relu(),
            Flatten(),
            carrier('dense', denseRule('dense', { out: 1, W_std: W, b_std: b, parameterization: 'standard' })),
          ]));
          const r = computeKernel(net as unknown as AnyLayer, x);
          return tg.add(tg.sum(tg.mul(r.nngp, weights)), tg.sum(r.ntk!));
        };
        const scalar = (v: number) => tg.scalar(v, 'float64');
        const [gW, gb] = tg.grad(f, { argnums: [0, 1] })(scalar(wStd), scalar(bStd)) as Tensor[];
        const h = 1e-6;
        const at = (w: number, b: number) => tg.tidy(() => f(scalar(w), scalar(b)).dataSync()[0]);
        const fdW = (at(wStd + h, bStd) - at(wStd - h, bStd)) / (2 * h);
        const fdb = (at(wStd, bStd + h) - at(wStd, bStd - h)) / (2 * h);
        expect(Math.abs(gW.dataSync()[0] - fdW)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fdW)));
        expect(Math.abs(gb.dataSync()[0] - fdb)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fdb)));
        tg.dispose([x, weights, gW, gb]);
      }),
      { numRuns: 4 },
    );
  });
});
