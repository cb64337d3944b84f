/**
 * Figure S9: the empirical NNGP and NTK of one random initialization against the analytic
 * (infinite-width) kernels as the width n grows, relative Frobenius error on MNIST inputs; the
 * paper reports errors falling like 1/sqrt(n). The network is the study's ReLU FC (sigma_w^2 = 2,
 * sigma_b^2 = 0.1) with a readout of width n too, so the empirical NNGP f f^T / n averages n
 * output units (with one output unit it would be a single product f(x) f(x'), whose error does
 * not fall with width). Float64 throughout; each seed is an independent initialization per width.
 */
import * as tg from '../../engine/index.ts';
import { monteCarloKernels } from '../../linearize/monte-carlo.ts';
import { Dense, Relu, serial, type AnyLayer, type KernelLayer } from '../../models/index.ts';
import { slopeClaim } from './claims.ts';
import { slopeOverSeeds } from './fit.ts';
import { sweepPlot } from './plots.ts';
import { SIZES } from './scales.ts';
import { loadData } from '../study.ts';
import type { Figure } from './types.ts';

function wideReadoutNetwork(width: number, depth: number): KernelLayer {
  const w = { W_std: Math.SQRT2, b_std: Math.sqrt(0.1), parameterization: 'ntk' as const };
  const layers: AnyLayer[] = [];
  for (let i = 0; i < depth; i++) layers.push(Dense(width, w), Relu());
  return serial(...layers, Dense(width, w)) as KernelLayer;
}

function relativeError(a: Float64Array | Float32Array, b: Float64Array | Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

export const figureS9: Figure = {
  id: 'S9',
  title: 'Figure S9: empirical kernels converge to the analytic ones',
  config: (c) => ({ ...SIZES[c.scale].s9, seeds: c.seeds }),
  async run(ctx) {
    const s = SIZES[ctx.scale].s9;
    // float64 networks and kernels (the errors reach 1e-2 and below): the CPU backend, as the gp study.
    await tg.setBackend('cpu');
    const d = await loadData({ dataset: 'mnist', dataDir: '', trainSize: s.points, testSize: 1, seed: 0 });
    const x = tg.keep(tg.tensor(Float64Array.from(d.xTrain), [s.points, d.dim], 'float64'));
    const nngp: number[][] = [];
    const ntk: number[][] = [];
    try {
      // The analytic kernels do not depend on the width.
      const exact = tg.tidy(() => {
        const k = wideReadoutNetwork(1, s.depth).kernel!(x);
        return { nngp: Float64Array.from(k.nngp.dataSync()), ntk: Float64Array.from(k.ntk!.dataSync()) };
      });
      ctx.progress.start('S9 kernels', ctx.seeds * s.widths.length, 'initializations');
      for (let seed = 0; seed < ctx.seeds; seed++) {
        const rowK: number[] = [];
        const rowT: number[] = [];
        for (const width of s.widths) {
          const mc = monteCarloKernels(wideReadoutNetwork(width, s.depth), x, undefined, { samples: 1, key: tg.foldIn(tg.key(seed), width) });
          rowK.push(relativeError(mc.nngp.dataSync() as Float64Array, exact.nngp));
          rowT.push(relativeError(mc.ntk!.dataSync() as Float64Array, exact.ntk));
          tg.dispose([mc.nngp, mc.ntk, mc.nngpStdErr, mc.ntkStdErr]);
          ctx.progress.update(seed * s.widths.length + rowK.length, `seed ${seed + 1} width ${width}`);
        }
        nngp.push(rowK);
        ntk.push(rowT);
      }
      ctx.progress.stop();
    } finally {
      x.dispose();
    }
    const fits = { nngp: slopeOverSeeds(s.widths, nngp), ntk: slopeOverSeeds(s.widths, ntk) };
    return {
      claims: [
        slopeClaim('S9', 'empirical NNGP -> analytic NNGP: relative error ~ 1/sqrt(n)', -0.5, fits.nngp),
        slopeClaim('S9', 'empirical NTK -> analytic NTK: relative error ~ 1/sqrt(n)', -0.5, fits.ntk),
      ],
      summary: [
        ['setup', `${s.points} MNIST inputs (4 vs 9, standardized), ReLU FC with ${s.depth} hidden layers and a readout of the same width, NTK parameterization, float64`],
        ['measure', `||K_empirical - K_analytic||_F / ||K_analytic||_F for one initialization per width and seed, widths ${s.widths.join(', ')}, ${ctx.seeds} seeds`],
      ],
      plots: [sweepPlot('Relative error of the empirical kernels vs width', s.widths, [
        { name: 'NNGP', perSeed: nngp, fit: fits.nngp },
        { name: 'NTK', perSeed: ntk, fit: fits.ntk },
      ], 'width n', 'relative Frobenius error')],
      notes: ['The NTK is traced over the n output units (averaged), like the NNGP; the analytic kernels are per output unit.'],
      data: { widths: s.widths, nngp, ntk, fits },
    };
  },
};
