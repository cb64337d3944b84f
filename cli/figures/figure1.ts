/**
 * Figure 1: relative change of the weights during training vs width. A ReLU network with three
 * hidden layers (NTK parameterization, sigma_w^2 = 2, sigma_b^2 = 0.1) trained by full-batch
 * gradient descent on MNIST 4 vs 9 (|D| = 128) at eta = 1/lambda_max; ||w_T - w_0|| / ||w_0|| of
 * the first, the hidden and the readout weight matrices, slopes fitted over seeds: the paper
 * reports ~1/sqrt(n) for the first and last layer and ~1/n for the hidden ones. The relative NTK
 * change (PAPER.md section 8: it falls with n) is measured on the way.
 */
import { slopeClaim } from './claims.ts';
import { mnistBinary } from './data.ts';
import { slopeOverSeeds } from './fit.ts';
import { runPair } from './pair.ts';
import { sweepPlot } from './plots.ts';
import { SIZES } from './scales.ts';
import { network } from '../study.ts';
import type { Figure } from './types.ts';

export const figure1: Figure = {
  id: '1',
  title: 'Figure 1: relative weight change vs width',
  config: (c) => ({ ...SIZES[c.scale].fig1, seeds: c.seeds }),
  async run(ctx) {
    const s = SIZES[ctx.scale].fig1;
    const first: number[][] = [];
    const hidden: number[][] = [];
    const readout: number[][] = [];
    const ntk: number[][] = [];
    const runs: unknown[] = [];
    for (let seed = 0; seed < ctx.seeds; seed++) {
      const data = await mnistBinary(seed, s.trainSize, s.testSize);
      const row = { first: [] as number[], hidden: [] as number[], readout: [] as number[], ntk: [] as number[] };
      try {
        for (const width of s.widths) {
          const r = await runPair({
            net: network(width, s.depth), ...data, steps: s.steps, beta: 0, lrScale: 1, seed, ntkChange: true,
            progress: ctx.progress, phase: `fig 1 seed ${seed + 1}/${ctx.seeds} width ${width}`,
          });
          const weights = r.weightChange.filter((w) => w.name.endsWith('.W'));
          const mid = weights.slice(1, -1);
          row.first.push(weights[0].value);
          // The hidden layers' changes, averaged (each falls like 1/n; the average keeps that law).
          row.hidden.push(mid.reduce((a, w) => a + w.value, 0) / mid.length);
          row.readout.push(weights[weights.length - 1].value);
          row.ntk.push(r.ntkChange!);
          runs.push({ seed, width, lr: r.lr, lambdaMax: r.lambdaMax, finalTrainLoss: r.trainLoss.network.at(-1), weightChange: r.weightChange, ntkChange: r.ntkChange, seconds: r.seconds });
        }
      } finally {
        data.dispose();
      }
      first.push(row.first);
      hidden.push(row.hidden);
      readout.push(row.readout);
      ntk.push(row.ntk);
    }
    const fits = {
      first: slopeOverSeeds(s.widths, first),
      hidden: slopeOverSeeds(s.widths, hidden),
      readout: slopeOverSeeds(s.widths, readout),
      ntk: slopeOverSeeds(s.widths, ntk),
    };
    const claims = [
      slopeClaim('1', 'first-layer weights: relative change ~ 1/sqrt(n)', -0.5, fits.first),
      slopeClaim('1', 'hidden-layer weights: relative change ~ 1/n', -1, fits.hidden),
      slopeClaim('1', 'readout weights: relative change ~ 1/sqrt(n)', -0.5, fits.readout),
      slopeClaim('1', 'relative NTK change ||Theta_T - Theta_0|| / ||Theta_0|| ~ 1/n (PAPER.md section 8)', -1, fits.ntk),
    ];
    return {
      claims,
      summary: [
        ['setup', `MNIST 4 vs 9, |D| = ${s.trainSize}, ReLU FC with ${s.depth} hidden layers, widths ${s.widths.join(', ')}, NTK parameterization, sigma_w^2 = 2, sigma_b^2 = 0.1`],
        ['training', `full-batch GD on 1/2 sum (f - y)^2 for ${s.steps} steps at eta = 1/lambda_max(Theta_0) (half the stable threshold), ${ctx.seeds} seeds (data split and init)`],
      ],
      plots: [
        sweepPlot('Relative weight change ||w_T − w_0|| / ||w_0|| vs width', s.widths, [
          { name: 'first layer', perSeed: first, fit: fits.first },
          { name: 'hidden layers (mean)', perSeed: hidden, fit: fits.hidden },
          { name: 'readout', perSeed: readout, fit: fits.readout },
        ], 'width n', 'relative change'),
        sweepPlot('Relative NTK change ||Θ_T − Θ_0|| / ||Θ_0|| vs width', s.widths, [{ name: 'NTK', perSeed: ntk, fit: fits.ntk }], 'width n', 'relative change'),
      ],
      notes: ['Slopes are least-squares fits of log(change) on log(width), one per seed; the interval is the Student-t 95% interval of their mean over seeds.'],
      data: { widths: s.widths, first, hidden, readout, ntk, fits, runs },
    };
  },
};
