/**
 * Figure S5: the final RMSE between a network and its linearization on the test set vs width
 * (fully connected ReLU, the same with erf as a smooth control, a tanh CNN, a Wide ResNet), vs
 * depth and vs |D|, all trained by full-batch gradient descent on 1/2 sum (f - y)^2 at
 * eta = 1/lambda_max(Theta_0); slopes of log RMSE on log width fitted per seed, 95% interval
 * over seeds. The fully connected sweep is also fitted on the lower and the upper half of its
 * widths: a slope that steepens with width says the range, not the law, set the full-range
 * value. The paper reports roughly 1/n for fully connected nets (PAPER.md section 8); its
 * theorem bounds sup_t ||f_t - f_lin_t|| by O(1/sqrt(n)).
 */
import { Dense, Erf, serial, wideResnet, type AnyLayer } from '../../models/index.ts';
import { measuredClaim, slopeClaim, type Claim } from './claims.ts';
import { cifarBinary, mnistBinary, type BinaryData } from './data.ts';
import { slopeOverSeeds, type SlopeEstimate } from './fit.ts';
import { tanhCnn } from './figure-s2.ts';
import { runPair } from './pair.ts';
import { sweepPlot } from './plots.ts';
import { SIZES } from './scales.ts';
import { network } from '../study.ts';
import type { Figure, FigureContext } from './types.ts';

/** The FC network with erf (sigma_w^2 = 2, sigma_b^2 = 0.1 as the ReLU one). */
function erfNetwork(width: number, depth: number): AnyLayer {
  const w = { W_std: Math.SQRT2, b_std: Math.sqrt(0.1), parameterization: 'ntk' as const };
  const layers: AnyLayer[] = [];
  for (let i = 0; i < depth; i++) layers.push(Dense(width, w), Erf());
  return serial(...layers, Dense(1, w)) as AnyLayer;
}

/** A Wide ResNet of depth 10 with a constant channel count (the paper's variant), scalar readout. */
function smallWrn(channels: number): AnyLayer {
  return wideResnet({ depth: 10, constantChannels: channels, numClasses: 1, W_std: Math.SQRT2, b_std: Math.sqrt(0.1), parameterization: 'ntk' }) as AnyLayer;
}

interface Sweep {
  name: string;
  xs: number[];
  /** final[seed][i], sup[seed][i]. */
  final: number[][];
  sup: number[][];
  finalFit: SlopeEstimate;
  supFit: SlopeEstimate;
}

async function sweep(
  ctx: FigureContext, name: string, xs: number[], load: (seed: number, x: number) => Promise<BinaryData>, sharedData: boolean,
  build: (x: number) => AnyLayer, steps: number,
): Promise<Sweep> {
  const final: number[][] = [];
  const sup: number[][] = [];
  for (let seed = 0; seed < ctx.seeds; seed++) {
    const f: number[] = [];
    const s: number[] = [];
    let data: BinaryData | null = null;
    try {
      for (const x of xs) {
        if (!sharedData || data === null) {
          data?.dispose();
          data = await load(seed, x);
        }
        const r = await runPair({ net: build(x), ...data, steps, beta: 0, lrScale: 1, seed, progress: ctx.progress, phase: `S5 ${name} seed ${seed + 1}/${ctx.seeds} x=${x}` });
        f.push(r.finalRmse);
        s.push(r.supRmse);
      }
    } finally {
      data?.dispose();
    }
    final.push(f);
    sup.push(s);
  }
  return { name, xs, final, sup, finalFit: slopeOverSeeds(xs, final), supFit: slopeOverSeeds(xs, sup) };
}

/** The fit restricted to the lower or upper half of the xs (the middle one shared when odd). */
function halfFit(sw: Sweep, upper: boolean): SlopeEstimate {
  const k = Math.ceil(sw.xs.length / 2);
  const idx = upper ? sw.xs.map((_, i) => i).slice(sw.xs.length - k) : sw.xs.map((_, i) => i).slice(0, k);
  return slopeOverSeeds(idx.map((i) => sw.xs[i]), sw.final.map((row) => idx.map((i) => row[i])));
}

export const figureS5: Figure = {
  id: 'S5',
  title: 'Figure S5: RMSE between network and linearization vs width, depth and |D|',
  config: (c) => ({ ...SIZES[c.scale].s5, seeds: c.seeds, dataDir: c.dataDir }),
  async run(ctx) {
    const s = SIZES[ctx.scale].s5;
    const mnist = (seed: number) => mnistBinary(seed, s.trainSize, s.testSize);
    const cifar = (seed: number) => cifarBinary(ctx.dataDir, seed, s.trainSize, s.testSize, s.imageSize);
    const fc = await sweep(ctx, 'FC ReLU width', s.fcWidths, mnist, true, (n) => network(n, s.fcDepth), s.steps);
    const erf = s.erfControl ? await sweep(ctx, 'FC erf width', s.fcWidths, mnist, true, (n) => erfNetwork(n, s.fcDepth), s.steps) : null;
    const cnn = await sweep(ctx, 'CNN channels', s.cnnChannels, cifar, true, (c) => tanhCnn(c), s.steps);
    const wrn = await sweep(ctx, 'WRN channels', s.wrnChannels, cifar, true, (c) => smallWrn(c), s.steps);
    const depth = await sweep(ctx, 'FC depth', s.depths, mnist, true, (l) => network(s.depthWidth, l), s.steps);
    const size = await sweep(ctx, 'FC |D|', s.trainSizes, (seed, d) => mnistBinary(seed, d, s.testSize), false, () => network(s.sizeWidth, s.fcDepth), s.steps);
    const lower = halfFit(fc, false);
    const upper = halfFit(fc, true);
    const claims: Claim[] = [
      slopeClaim('S5', `FC ReLU (depth ${s.fcDepth}): final RMSE ~ 1/n over widths ${s.fcWidths[0]}..${s.fcWidths.at(-1)}`, -1, fc.finalFit),
      slopeClaim('S5', `FC ReLU: the same, lower half of the widths (${lower.xs[0]}..${lower.xs.at(-1)})`, -1, lower),
      slopeClaim('S5', `FC ReLU: the same, upper half of the widths (${upper.xs[0]}..${upper.xs.at(-1)})`, -1, upper),
      measuredClaim('S5', 'FC ReLU: sup over training of the RMSE vs width (the theorem bounds it by O(1/sqrt(n)))', 'slope <= -0.5 (bound)', fc.supFit),
    ];
    if (erf) claims.push(slopeClaim('S5', `FC erf (smooth control, depth ${s.fcDepth}): final RMSE ~ 1/n`, -1, erf.finalFit));
    claims.push(
      measuredClaim('S5', `tanh CNN: final RMSE vs channels ${s.cnnChannels[0]}..${s.cnnChannels.at(-1)}`, 'falls with width (plotted)', cnn.finalFit),
      measuredClaim('S5', `Wide ResNet (depth 10): final RMSE vs channels ${s.wrnChannels[0]}..${s.wrnChannels.at(-1)}`, 'falls with width (plotted)', wrn.finalFit),
      measuredClaim('S5', `FC ReLU width ${s.depthWidth}: final RMSE vs depth ${s.depths.join(', ')}`, 'grows with depth (plotted)', depth.finalFit, 'log-log slope'),
      measuredClaim('S5', `FC ReLU width ${s.sizeWidth}: final RMSE vs |D| ${s.trainSizes.join(', ')}`, 'plotted', size.finalFit, 'log-log slope'),
    );
    const series = (sw: Sweep, fit = sw.finalFit) => ({ name: sw.name, perSeed: sw.final, fit });
    return {
      claims,
      summary: [
        ['data', `MNIST 4 vs 9 (FC), CIFAR airplane vs horse at ${s.imageSize}x${s.imageSize} (CNN, WRN); |D| = ${s.trainSize}, ${s.testSize} test points`],
        ['training', `full-batch GD on 1/2 sum (f - y)^2, ${s.steps} steps, eta = 1/lambda_max(Theta_0); linearization from the closed form (exact for discrete GD); ${ctx.seeds} seeds`],
        ['FC ReLU slope, all / lower half / upper half of widths', [fc.finalFit, lower, upper].map((f) => `${f.slope.toFixed(2)}${f.interval ? ` [${f.interval[0].toFixed(2)}, ${f.interval[1].toFixed(2)}]` : ''}`).join(' / ')],
        ['FC ReLU slope per seed (all widths)', fc.finalFit.perSeed.map((v) => v.toFixed(2)).join(', ')],
        ...(erf ? [['FC erf slope (all widths)', `${erf.finalFit.slope.toFixed(2)}${erf.finalFit.interval ? ` [${erf.finalFit.interval[0].toFixed(2)}, ${erf.finalFit.interval[1].toFixed(2)}]` : ''}`] as [string, string]] : []),
      ],
      plots: [
        sweepPlot('Final test RMSE(network, linearization) vs width: fully connected', s.fcWidths, [series(fc), ...(erf ? [series(erf)] : [])], 'width n', 'RMSE'),
        sweepPlot('FC ReLU: fits on the lower and the upper half of the widths', s.fcWidths, [
          { name: 'lower half', perSeed: fc.final, fit: lower },
          { name: 'upper half', perSeed: fc.final, fit: upper },
        ], 'width n', 'RMSE'),
        sweepPlot('sup over training of the RMSE vs width (FC ReLU)', s.fcWidths, [{ name: 'sup_t RMSE', perSeed: fc.sup, fit: fc.supFit }], 'width n', 'RMSE'),
        sweepPlot('Final RMSE vs channels: tanh CNN', s.cnnChannels, [series(cnn)], 'channels', 'RMSE'),
        sweepPlot('Final RMSE vs channels: Wide ResNet (depth 10)', s.wrnChannels, [series(wrn)], 'channels', 'RMSE'),
        sweepPlot(`Final RMSE vs depth (FC ReLU, width ${s.depthWidth})`, s.depths, [series(depth)], 'hidden layers', 'RMSE'),
        sweepPlot(`Final RMSE vs |D| (FC ReLU, width ${s.sizeWidth})`, s.trainSizes, [series(size)], '|D|', 'RMSE'),
      ],
      notes: [
        'Each seed draws its own data split and initializations; within a seed every width sees the same data. Slopes are fitted per seed on log-log axes; intervals are Student-t 95% over seeds.',
      ],
      data: { fc, erf, cnn, wrn, depth, size, fcLowerHalf: lower, fcUpperHalf: upper },
    };
  },
};
