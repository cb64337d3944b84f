/** The `gp` study (Figure 2 shape) end to end on a tiny configuration, its report, and its flag errors. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../cli/args.ts';
import { GP_DEFAULTS, GP_FLAGS, gpOptions, gpStudyHtml, runGpStudy } from '../../cli/gp.ts';
import { progressReporter } from '../../cli/progress.ts';
import { writeReport } from '../../cli/report.ts';

describe('gp study', () => {
  it('runs end to end: GP panels, converged training, the t = infinity GP interpolates the endpoints, report files', async () => {
    const opts = { ...GP_DEFAULTS, width: 48, ensemble: 6, testPoints: 9, steps: [0, 3, 60] };
    const r = await runGpStudy(opts, progressReporter(false), () => {});
    expect(r.panels.map((p) => p.step)).toEqual([0, 3, 60]);
    // 9 points from x0 to x1 (spacing 1/8) plus 2 on each side for --extrapolate 0.25.
    expect(r.alpha).toHaveLength(13);
    expect(r.alpha[0]).toBeCloseTo(-0.25, 12);
    expect(r.alpha[12]).toBeCloseTo(1.25, 12);
    expect([r.alpha[2], r.alpha[10]]).toEqual([0, 1]);
    // Step 0 is the prior: GP mean 0; every panel carries the ensemble statistics.
    expect(Math.max(...r.panels[0].gpMean.map(Math.abs))).toBe(0);
    for (const p of r.panels) {
      expect(p.ensembleMean).toHaveLength(13);
      expect(p.members).toHaveLength(6);
      expect(p.gpSd.every((s) => s >= 0)).toBe(true);
    }
    // alpha = 0 and 1 are the training points x0, x1: the converged GP hits their targets with
    // (almost) no variance, and so does the converged ensemble.
    expect(r.infinity.gpMean[2]).toBeCloseTo(r.endpointTargets[0], 6);
    expect(r.infinity.gpMean[10]).toBeCloseTo(r.endpointTargets[1], 6);
    expect(r.infinity.gpSd[2]).toBeLessThan(1e-4);
    expect(r.infinity.nngpMean[10]).toBeCloseTo(r.endpointTargets[1], 6);
    expect(r.panels[2].ensembleMean[2]).toBeCloseTo(r.endpointTargets[0], 2);
    expect(r.endpointTargets).toEqual([1, -1]);
    // Training reduced the loss of the ensemble and of the GP alike.
    const last = r.trainLoss.steps.length - 1;
    expect(r.trainLoss.steps[0]).toBe(0);
    expect(r.trainLoss.steps[last]).toBe(60);
    expect(r.trainLoss.ensemble[last]).toBeLessThan(r.trainLoss.ensemble[0] / 10);
    expect(r.trainLoss.gp[last]).toBeLessThan(r.trainLoss.gp[0] / 10);
    expect(r.lr).toBeCloseTo(1 / r.lambdaMax, 12);
    const dir = await mkdtemp(path.join(tmpdir(), 'tg-gp-'));
    try {
      const paths = await writeReport(dir, r, gpStudyHtml(r));
      const json = JSON.parse(await readFile(paths.json, 'utf8'));
      expect(json.options.width).toBe(48);
      const html = await readFile(paths.html, 'utf8');
      expect(html.match(/<div id="plot\d+"/g)).toHaveLength(3 + 2);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('refuses a learning rate at or above the stable threshold before training', async () => {
    await expect(runGpStudy({ ...GP_DEFAULTS, width: 16, ensemble: 1, testPoints: 3, lr: 100 }, progressReporter(false), () => {})).rejects.toThrow(/--lr 100 is at or above the stable threshold/);
  });
});

describe('gp flags', () => {
  const parse = (argv: string[]) => gpOptions(parseFlags('gp', argv, GP_FLAGS));

  it('defaults and values', () => {
    const o = parse([]);
    expect(o.steps).toEqual([0, 2, 16, 128]);
    expect(o.width).toBe(256);
    expect(o.lr).toBeNull();
    expect(o.out).toBe('out/gp');
    expect(parse(['--steps', '0, 16,256', '--lr', '0.1', '--sigma-b2', '0.05']).steps).toEqual([0, 16, 256]);
  });

  it('errors name the flag', () => {
    expect(() => parse(['--steps', '4,2'])).toThrow(/--steps must be strictly increasing/);
    expect(() => parse(['--steps', 'a,b'])).toThrow(/--steps must be a comma-separated list/);
    expect(() => parse(['--steps', '0'])).toThrow(/--steps: the last step must be >= 1/);
    expect(() => parse(['--width', '0'])).toThrow(/--width must be an integer in \[1, 16384\]/);
    expect(() => parse(['--ensemble', '2.5'])).toThrow(/--ensemble must be an integer/);
    expect(() => parse(['--lr', '0'])).toThrow(/--lr must be a positive number/);
    expect(() => parse(['--sigma-b2=-0.1'])).toThrow(/--sigma-b2 must be a number >= 0/);
    expect(() => parse(['--extrapolate', 'x'])).toThrow(/--extrapolate must be a number in \[0, 5\]/);
    expect(() => parse(['--widht', '3'])).toThrow(/gp: Unknown option '--widht'/);
  });
});
