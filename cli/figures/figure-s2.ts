/**
 * Figure S2: a tanh CNN (3 convolutions 3x3 SAME, then global average pooling and a dense
 * readout; NTK parameterization, sigma_w^2 = 1.5, sigma_b^2 = 0.05) on binary CIFAR (airplane vs
 * horse), MSE, full-batch heavy-ball momentum beta = 0.9, |D| = 128: the network against its
 * linearization, whose momentum trajectory is exact in closed form (mseFlow.momentumTestAt).
 * At the small scale the images are average-pooled to 8x8 so the convolutions fit a CPU budget.
 */
import { Conv, Dense, GlobalAvgPool, Tanh, serial, type AnyLayer } from '../../models/index.ts';
import { boundClaim } from './claims.ts';
import { cifarBinary } from './data.ts';
import { meanInterval } from './fit.ts';
import { runPair, type PairResult } from './pair.ts';
import { COLORS, stepsPlot } from './plots.ts';
import { SIZES } from './scales.ts';
import type { Figure } from './types.ts';

/** The S2 network: `layers` tanh convolutions of `channels` channels, pooled, dense readout. */
export function tanhCnn(channels: number, layers = 3): AnyLayer {
  const w = { W_std: Math.sqrt(1.5), b_std: Math.sqrt(0.05), parameterization: 'ntk' as const };
  const body: AnyLayer[] = [];
  for (let i = 0; i < layers; i++) body.push(Conv(channels, [3, 3], { ...w, padding: 'SAME' }), Tanh());
  return serial(...body, GlobalAvgPool(), Dense(1, w)) as AnyLayer;
}

function rms(v: readonly number[]): number {
  return Math.sqrt(v.reduce((a, b) => a + b * b, 0) / v.length);
}

export const figureS2: Figure = {
  id: 'S2',
  title: 'Figure S2: a tanh CNN trained with momentum vs its linearization',
  config: (c) => ({ ...SIZES[c.scale].s2, seeds: c.seeds, dataDir: c.dataDir }),
  async run(ctx) {
    const s = SIZES[ctx.scale].s2;
    const runs: PairResult[] = [];
    for (let seed = 0; seed < ctx.seeds; seed++) {
      const data = await cifarBinary(ctx.dataDir, seed, s.trainSize, s.testSize, s.imageSize);
      try {
        runs.push(await runPair({ net: tanhCnn(s.channels), ...data, steps: s.steps, beta: s.beta, lrScale: 1, seed, progress: ctx.progress, phase: `S2 seed ${seed + 1}/${ctx.seeds}` }));
      } finally {
        data.dispose();
      }
    }
    const relRmse = meanInterval(runs.map((r) => r.finalRmse / rms(r.finalTest.network)));
    const gaps = meanInterval(runs.map((r) => Math.abs(r.testLoss.network.at(-1)! - r.testLoss.linearized.at(-1)!) / r.testLoss.linearized.at(-1)!));
    const r0 = runs[0];
    const claims = [
      boundClaim('S2', 'the linearization tracks the CNN under momentum: final test RMSE(network, linearized) relative to the RMS output', 'curves coincide', relRmse.mean, relRmse.interval, 0.1, 'mean relative RMSE'),
      boundClaim('S2', "the network's final test loss equals the linearized model's (relative gap)", 'curves coincide', gaps.mean, gaps.interval, 0.1, 'mean relative gap'),
    ];
    return {
      claims,
      summary: [
        ['setup', `CIFAR airplane vs horse at ${s.imageSize}x${s.imageSize}, |D| = ${s.trainSize}; 3 tanh conv layers of ${s.channels} channels (3x3 SAME), global average pool, dense readout (${r0.parameterCount.toLocaleString()} params)`],
        ['training', `full-batch heavy-ball momentum beta = ${s.beta} on 1/2 sum (f - y)^2, eta = 1/lambda_max(Theta_0) = ${r0.lr.toPrecision(3)} (seed 0), ${s.steps} steps, ${ctx.seeds} seeds`],
        ['final test loss, network / linearized (seed 0)', `${r0.testLoss.network.at(-1)!.toExponential(3)} / ${r0.testLoss.linearized.at(-1)!.toExponential(3)}`],
        ['final test RMSE(network, linearized) per seed', runs.map((r) => r.finalRmse.toExponential(2)).join(', ')],
      ],
      plots: [
        stepsPlot('Loss 0.5·mean((f − y)²), seed 0: network (solid) vs linearized, closed-form momentum (dashed)', r0.steps, [
          { name: 'train: network', y: r0.trainLoss.network, color: COLORS[0] },
          { name: 'train: linearized', y: r0.trainLoss.linearized, color: COLORS[0], dash: 'dash' },
          { name: 'test: network', y: r0.testLoss.network, color: COLORS[1] },
          { name: 'test: linearized', y: r0.testLoss.linearized, color: COLORS[1], dash: 'dash' },
        ], 'loss', true),
        stepsPlot('RMSE between network and linearization on the test set', r0.steps, runs.map((r, i) => ({ name: `seed ${i}`, y: r.rmse })), 'RMSE', true),
        {
          title: 'Final test outputs: network vs linearized (seed 0)',
          data: [
            { x: r0.finalTest.linearized, y: r0.finalTest.network, mode: 'markers', name: 'test points' },
            { x: [-1.5, 1.5], y: [-1.5, 1.5], mode: 'lines', line: { dash: 'dot', color: 'grey' }, name: 'y = x' },
          ],
          layout: { xaxis: { title: { text: 'linearized f_lin(x)' } }, yaxis: { title: { text: 'network f(x)' } } },
        },
      ],
      notes: ['Momentum makes the losses oscillate; the linearized curve is the exact heavy-ball trajectory of f_lin (PAPER.md section 5), computed from one eigendecomposition of Theta_0.'],
      data: { runs: runs.map(({ finalTest, ...r }) => ({ ...r, finalTest })) },
    };
  },
};
