/**
 * Analytic kernels against finite networks (PAPER.md identity 8, the paper's figure S9): the
 * empirical NNGP and NTK averaged over random initializations approach the analytic ones, with a
 * single draw's error falling like 1/sqrt(width); residual and convolutional kernels agree with
 * Monte Carlo within its standard error.
 */
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { monteCarloKernels, type MonteCarloKernels } from '../../linearize/monte-carlo.ts';
import type { Matrix } from '../../linalg/dense.ts';
import {
  AvgPool,
  Conv,
  Dense,
  Erf,
  Flatten,
  GlobalAvgPool,
  Identity,
  Relu,
  Tanh,
  fanInSum,
  fanOut,
  parallel,
  serial,
  type AnyLayer,
  kernelMatrix,
  type KernelLayer,
} from '../../models/index.ts';
import { host } from './host-kernel.ts';

/** Monte Carlo estimates read back to float64 host matrices. */
function hostMc(mc: MonteCarloKernels) {
  const m = (t: Tensor | null) => (t === null ? null : kernelMatrix(t));
  return {
    nngp: m(mc.nngp)!,
    ntk: m(mc.ntk),
    nngpStdErr: m(mc.nngpStdErr)!,
    ntkStdErr: m(mc.ntkStdErr),
    perSample: mc.perSample?.map((p) => ({ nngp: m(p.nngp)!, ntk: m(p.ntk) })),
  };
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Largest |MC mean - analytic| in units of the MC standard error. */
function maxZ(mean: Matrix, se: Matrix, exact: ArrayLike<number>): number {
  let z = 0;
  for (let i = 0; i < exact.length; i++) z = Math.max(z, Math.abs(mean.data[i] - exact[i]) / se.data[i]);
  return z;
}

/** Least-squares slope of log(err) against log(width). */
function logLogSlope(widths: number[], errs: number[]): number {
  const X = widths.map(Math.log);
  const Y = errs.map(Math.log);
  const mx = X.reduce((a, b) => a + b) / X.length;
  const my = Y.reduce((a, b) => a + b) / Y.length;
  return X.reduce((s, x, i) => s + (x - mx) * (Y[i] - my), 0) / X.reduce((s, x) => s + (x - mx) ** 2, 0);
}

describe('MLP: Monte Carlo over initializations approaches the analytic kernels', () => {
  const x = tg.normal(tg.key(1), [4, 3], 'float64');
  const o = { W_std: 1.4, b_std: 0.2 };
  const body = (n: number) => [Dense(n, o), Relu(), Dense(n, o), Erf()] as const;
  const widths = [64, 128, 256, 512, 1024];
  const samples = 8;

  it('NNGP (wide readout) and NTK (one output): within 5% at width 1024, single-draw error ~ width^-1/2', () => {
    const nngpErr: number[] = [];
    const ntkErr: number[] = [];
    for (const n of widths) {
      // NNGP: f f^T / k needs many outputs to average over (one output's f f^T has O(1) spread at
      // any width); the NTK of a single output already sums over every parameter.
      const wide = serial(...body(n), Dense(n, o));
      const single = serial(...body(n), Dense(1, o));
      const exactK = host(wide.kernel(x)).nngp;
      const exactT = host(single.kernel(x)).ntk!;
      const mcK = hostMc(monteCarloKernels(wide, x, undefined, { samples, ntk: false, keepSamples: true, key: tg.key(100 + n) }));
      const mcT = hostMc(monteCarloKernels(single, x, undefined, { samples, keepSamples: true, key: tg.key(101 + n) }));
      nngpErr.push(mcK.perSample!.reduce((s, p) => s + relErr(p.nngp.data, exactK.data), 0) / samples);
      ntkErr.push(mcT.perSample!.reduce((s, p) => s + relErr(p.ntk!.data, exactT.data), 0) / samples);
      if (n === 1024) {
        expect(relErr(mcK.nngp.data, exactK.data)).toBeLessThan(0.05);
        expect(relErr(mcT.ntk!.data, exactT.data)).toBeLessThan(0.05);
        expect(maxZ(mcT.ntk!, mcT.ntkStdErr!, exactT.data)).toBeLessThan(4.5);
      }
    }
    const sK = logLogSlope(widths, nngpErr);
    const sT = logLogSlope(widths, ntkErr);
    // Over seeds the fitted slopes spread over about [-0.61, -0.42] with 8 draws per width.
    expect(Math.abs(sK + 0.5)).toBeLessThan(0.2);
    expect(Math.abs(sT + 0.5)).toBeLessThan(0.2);
    expect(nngpErr[4]).toBeLessThan(nngpErr[0] / 2.5);
    expect(ntkErr[4]).toBeLessThan(ntkErr[0] / 2.5);
  });

  it('standard parameterization: the width-dependent NTK is the mean of the finite one', () => {
    const so = { ...o, parameterization: 'standard' as const };
    const net = serial(Dense(256, so), Tanh(), Dense(256, so), Relu(), Dense(1, so));
    const exact = host(net.kernel(x)).ntk!;
    const mc = hostMc(monteCarloKernels(net, x, undefined, { samples: 8, key: tg.key(7) }));
    expect(relErr(mc.ntk!.data, exact.data)).toBeLessThan(0.05);
    expect(maxZ(mc.ntk!, mc.ntkStdErr!, exact.data)).toBeLessThan(4.5);
  });

  it('leaves nothing behind but its results, and kernel() neither (the caller disposes them)', () => {
    const net = serial(Dense(8, o), Relu(), Dense(8, o), Tanh(), Dense(2, o));
    const count = (f: () => unknown) => {
      const before = tg.liveTensorCount();
      tg.dispose(f());
      return tg.liveTensorCount() - before;
    };
    expect(count(() => monteCarloKernels(net, x, undefined, { samples: 3, keepSamples: true }))).toBe(0);
    expect(count(() => net.kernel(x, undefined, { blockSize: 3 }))).toBe(0);
  });

  it('validates its arguments', () => {
    const net = serial(Dense(8), Relu(), Dense(1));
    expect(() => monteCarloKernels(net, x, undefined, { samples: 0 })).toThrow(/samples must be a positive integer/);
    expect(() => monteCarloKernels(net, x, tg.normal(tg.key(1), [2, 4], 'float64'), { samples: 1 })).toThrow(/same input shape/);
    const img = tg.normal(tg.key(2), [2, 3, 3, 1], 'float64');
    expect(() => monteCarloKernels(serial(Conv(2, [2, 2]), Relu()), img, undefined, { samples: 1 })).toThrow(/must return one \[N, k\] tensor/);
  });
});

describe('convolutional and residual kernels against Monte Carlo (4x4 images)', () => {
  const img = tg.normal(tg.key(2), [3, 4, 4, 2], 'float64');
  const C = 128;
  const o = { W_std: 1.4, b_std: 0.1 };
  const cases: { name: string; make: (head: AnyLayer) => KernelLayer; standard?: boolean }[] = [
    {
      name: 'Conv SAME -> Relu -> Conv SAME -> Erf -> GlobalAvgPool (full position pairs)',
      make: (h) => serial(Conv(C, [3, 3], { ...o, padding: 'SAME' }), Relu(), Conv(C, [3, 3], { ...o, padding: 'SAME' }), Erf(), GlobalAvgPool(), h),
    },
    {
      name: 'standard parameterization: Conv -> Relu -> Conv stride 2 -> Tanh -> Flatten (diagonal layout)',
      make: (h) => serial(Conv(C, [3, 3], { ...o, padding: 'SAME', parameterization: 'standard' }), Relu(), Conv(C, [2, 2], { ...o, strides: 2, parameterization: 'standard' }), Tanh(), Flatten(), h),
      standard: true,
    },
    {
      name: 'residual block x + Conv(Relu(x)) -> Relu -> AvgPool 2x2 -> Flatten',
      make: (h) => serial(Conv(C, [3, 3], { ...o, padding: 'SAME' }), fanOut(2), parallel(serial(Relu(), Conv(C, [3, 3], { ...o, padding: 'SAME' })), Identity()), fanInSum(), Relu(), AvgPool([2, 2], [2, 2]), Flatten(), h),
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const head = (k: number) => Dense(k, { W_std: 1, parameterization: c.standard ? 'standard' : 'ntk' });
      const wide = c.make(head(C));
      const single = c.make(head(1));
      const exactK = host(wide.kernel(img)).nngp;
      const exactT = host(single.kernel(img)).ntk!;
      const mcK = hostMc(monteCarloKernels(wide, img, undefined, { samples: 8, ntk: false, key: tg.key(5) }));
      const mcT = hostMc(monteCarloKernels(single, img, undefined, { samples: 8, key: tg.key(6) }));
      // 8 draws at 128 channels: Monte Carlo noise of a few percent plus an O(1/channels) bias.
      expect(relErr(mcK.nngp.data, exactK.data)).toBeLessThan(0.12);
      expect(relErr(mcT.ntk!.data, exactT.data)).toBeLessThan(0.1);
      expect(maxZ(mcK.nngp, mcK.nngpStdErr, exactK.data)).toBeLessThan(4.5);
      expect(maxZ(mcT.ntk!, mcT.ntkStdErr!, exactT.data)).toBeLessThan(4.5);
    });
  }
});


