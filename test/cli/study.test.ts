/** The main study end to end on a tiny configuration, its report files, and its flag errors. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseFlags, intFlag, choiceFlag, numberFlag } from '../../cli/args.ts';
import { progressReporter } from '../../cli/progress.ts';
import { writeReport } from '../../cli/report.ts';
import { recordSteps } from '../../cli/study-common.ts';
import { runStudy, type StudyOptions } from '../../cli/study.ts';
import { studyHtml } from '../../cli/study-report.ts';

const tiny: StudyOptions = {
  dataset: 'mnist', dataDir: '', width: 32, depth: 2, trainSize: 12, testSize: 6, steps: 30, lr: null, loss: 'sum/2', backend: 'cpu', seed: 1, points: 3,
};

describe('main study', () => {
  it('runs end to end: the step-by-step linearized model matches the closed form, losses fall, reports are written', async () => {
    const report = await runStudy(tiny, progressReporter(false), () => {});
    const last = report.trainLoss.steps.length - 1;
    expect(report.trainLoss.steps[0]).toBe(0);
    expect(report.trainLoss.steps[last]).toBe(30);
    // Step-by-step GD on f_lin and the closed form are the same dynamics (float32 round-off only).
    expect(report.linearizedVsClosedFormMaxDiff).toBeLessThan(1e-4);
    for (const s of [report.trainLoss.network, report.trainLoss.linearized, report.trainLoss.closedForm]) expect(s[last]).toBeLessThan(s[0]);
    expect(report.testOutputs).toHaveLength(3);
    expect(report.weights.map((w) => w.name)).toEqual(['first layer W[0,0]', 'last layer W[0,0]']);
    // The closed-form weights theta0 - J0^T c_t (one JVP per tracked weight, transpose law) follow
    // the weights of f_lin trained step by step.
    for (const w of report.weights) {
      const moved = Math.max(...w.series.linearized.map((v) => Math.abs(v - w.series.linearized[0])));
      expect(moved).toBeGreaterThan(0);
      w.series.closedForm.forEach((v, i) => expect(Math.abs(v - w.series.linearized[i])).toBeLessThan(1e-6 + 1e-3 * moved));
    }
    expect(report.relativeWeightChange.length).toBe(6);
    expect(report.relativeNtkChange).toBeGreaterThan(0);
    // The RMSE panel's second curve: the closed form driven by the analytic Theta from the same f_0
    // (equal to the empirical one at step 0, different once training moves the outputs).
    const panel = report.rmseNetworkVsLinearized;
    expect(panel.analytic[0]).toBeLessThan(1e-6);
    expect(Math.abs(panel.analytic[last] - panel.closedForm[last])).toBeGreaterThan(1e-6);
    // Width 32: the empirical kernel is still far from the analytic one (O(1/sqrt(n)) with a large constant).
    expect(report.relativeKernelError).toBeGreaterThan(0);
    expect(Number.isFinite(report.relativeKernelError)).toBe(true);
    expect(report.lr).toBeCloseTo(report.maxStableLearningRate / 2, 12);
    const dir = await mkdtemp(path.join(tmpdir(), 'tg-study-'));
    try {
      const paths = await writeReport(dir, report, studyHtml(report));
      const json = JSON.parse(await readFile(paths.json, 'utf8'));
      expect(json.options.width).toBe(32);
      const html = await readFile(paths.html, 'utf8');
      expect(html).toContain('Plotly.newPlot');
      expect(html.match(/<div id="plot\d+"/g)).toHaveLength(4);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('refuses a learning rate above the stable threshold 2/lambda_max before training', async () => {
    await expect(runStudy({ ...tiny, lr: 1e6 }, progressReporter(false), () => {})).rejects.toThrow(/--lr 1000000 is at or above the stable threshold 2\/lambda_max = /);
  });

  it('refuses a missing CIFAR folder with a clear message', async () => {
    await expect(runStudy({ ...tiny, dataset: 'cifar2', dataDir: '/nonexistent/cifar' }, progressReporter(false), () => {})).rejects.toThrow(/nonexistent\/cifar/);
  });

  it('--dataset cifar2 reads CIFAR-10 binary batches (the committed fixture) and trains', async () => {
    const dataDir = fileURLToPath(new URL('../fixtures/cifar10', import.meta.url));
    const report = await runStudy({ ...tiny, dataset: 'cifar2', dataDir, trainSize: 16, testSize: 8, steps: 10 }, progressReporter(false), () => {});
    const last = report.trainLoss.steps.length - 1;
    expect(report.trainLoss.network[last]).toBeLessThan(report.trainLoss.network[0]);
    expect(report.linearizedVsClosedFormMaxDiff).toBeLessThan(1e-4);
  });

  it('records log-spaced steps including 0 and the last', () => {
    const s = recordSteps(1000);
    expect(s[0]).toBe(0);
    expect(s[s.length - 1]).toBe(1000);
    expect(new Set(s).size).toBe(s.length);
    expect(s).toEqual([...s].sort((a, b) => a - b));
  });
});

describe('flags', () => {
  const spec = [{ name: 'width', type: 'string' as const, help: '', default: '8' }];
  it('rejects unknown flags and bad values with the flag named', () => {
    expect(() => parseFlags('study', ['--widht', '3'], spec)).toThrow(/study: .*widht.*\(see --help\)/);
    expect(() => intFlag('width', 'abc', 1)).toThrow("--width must be an integer in [1, 9007199254740991], got 'abc'");
    expect(() => intFlag('width', '0', 1)).toThrow(/--width must be an integer in \[1,/);
    expect(() => numberFlag('lr', '-1')).toThrow("--lr must be a positive number, got '-1'");
    expect(() => choiceFlag('dataset', 'imagenet', ['mnist', 'cifar2'])).toThrow("--dataset must be one of mnist, cifar2, got 'imagenet'");
    expect(parseFlags('study', [], spec)).toEqual({ width: '8' });
  });
});
