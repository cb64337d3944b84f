/**
 * Figure 2: the existing GP study (cli/gp.ts) folded in: an ensemble of wide tanh networks trained
 * by gradient descent against the Gaussian process over initializations. Claims: at every
 * panel the ensemble's mean and variance agree with the GP within the sampling error of an
 * ensemble of this size (z-scores), and the ensemble's training loss follows the GP's.
 */
import { boundClaim } from './claims.ts';
import { SIZES } from './scales.ts';
import { GP_DEFAULTS } from '../gp-command.ts';
import { gpStudyHtml, gpSummaryRows, runGpStudy, type GpStudyReport } from '../gp.ts';
import type { Figure } from './types.ts';

/**
 * Over ~50 interpolation points the largest |z| of M draws is about 3 from sampling alone; 4.5
 * leaves room for the finite-width variance the GP study's notes describe, and no more.
 */
const Z_BOUND = 4.5;

export const figure2: Figure = {
  id: '2',
  title: 'Figure 2: an ensemble of wide networks vs the GP over initializations',
  config: (c) => ({ ...SIZES[c.scale].fig2, seeds: c.seeds }),
  async run(ctx) {
    const s = SIZES[ctx.scale].fig2;
    // Seeds are independent ensembles; the GP study draws its data and networks from one seed.
    const reports: GpStudyReport[] = [];
    for (let seed = 0; seed < ctx.seeds; seed++) {
      ctx.log(`figure 2: ensemble ${seed + 1}/${ctx.seeds}`);
      reports.push(await runGpStudy({ ...GP_DEFAULTS, ...s, seed }, ctx.progress, ctx.log));
    }
    const claims = reports[0].panels.map((p, k) => {
      const z = Math.max(...reports.map((r) => Math.max(r.panels[k].maxMeanZ, r.panels[k].maxVarZ)));
      return boundClaim('2', `step ${p.step}: ensemble mean and variance equal the GP's (largest |z| over points, panels' mean and variance, ${ctx.seeds} ensembles)`, 'agree', z, null, Z_BOUND, 'max |z|');
    });
    const lossGap = reports.map((r) => {
      const last = r.trainLoss.steps.length - 1;
      return Math.abs(r.trainLoss.ensemble[last] - r.trainLoss.gp[last]) / r.trainLoss.gp[0];
    });
    claims.push(boundClaim('2', 'final training loss of the ensemble equals the GP expectation (gap relative to the initial loss)', 'agree', Math.max(...lossGap), null, 0.05, 'largest relative gap'));
    const page = gpStudyHtml(reports[0]);
    return {
      claims,
      summary: [...gpSummaryRows(reports[0]), ['ensembles (seeds)', String(ctx.seeds)]],
      plots: page.plots,
      notes: [...(page.notes ?? []), 'Plots show the first ensemble (seed 0); the claims take the worst case over all ensembles.'],
      data: { reports },
    };
  },
};
