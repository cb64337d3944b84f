/**
 * The `gp` subcommand's flags, options and entry point. Light on purpose: `tangentgrad gp --help`
 * loads only this file; the study (cli/gp.ts, the engine) is imported when it runs.
 */
import { intFlag, numberFlag, parseFlags, usage, type FlagSpec } from './args.ts';
import { prepareOutDir } from './out-dir.ts';
import { progressReporter } from './progress.ts';

export interface GpStudyOptions {
  width: number;
  depth: number;
  ensemble: number;
  trainSize: number;
  inputDim: number;
  /** Points from x0 to x1 inclusive (alpha = k / (testPoints - 1)). */
  testPoints: number;
  /** More points at the same spacing beyond both ends, up to alpha = -extrapolate and 1 + extrapolate. */
  extrapolate: number;
  /** Gradient-descent steps at which the outputs are compared (ascending, first may be 0). */
  steps: number[];
  /** null: 1 / lambda_max of the analytic NTK. */
  lr: number | null;
  sigmaW2: number;
  /** 0: no bias (the paper's setup). */
  sigmaB2: number;
  seed: number;
}

export const GP_DEFAULTS: GpStudyOptions = {
  width: 256,
  depth: 3,
  ensemble: 64,
  trainSize: 8,
  inputDim: 8,
  testPoints: 33,
  extrapolate: 0.25,
  steps: [0, 2, 16, 128],
  lr: null,
  sigmaW2: 1.5,
  sigmaB2: 0,
  seed: 0,
};

function parseSteps(raw: string | boolean): number[] {
  if (typeof raw !== 'string' || !/^\d+(,\d+)*$/.test(raw.replace(/\s+/g, ''))) {
    throw new Error(`--steps must be a comma-separated list of non-negative integers, got '${String(raw)}'`);
  }
  const steps = raw.replace(/\s+/g, '').split(',').map(Number);
  for (let i = 0; i < steps.length; i++) {
    if (!Number.isSafeInteger(steps[i]) || steps[i] > 100_000) throw new Error(`--steps: each step must be at most 100000, got ${steps[i]}`);
    if (i > 0 && steps[i] <= steps[i - 1]) throw new Error(`--steps must be strictly increasing, got '${raw}'`);
  }
  if (steps[steps.length - 1] < 1) throw new Error(`--steps: the last step must be >= 1, got '${raw}'`);
  return steps;
}

export const GP_FLAGS: FlagSpec[] = [
  { name: 'width', type: 'string', help: 'hidden layer width', default: String(GP_DEFAULTS.width) },
  { name: 'depth', type: 'string', help: 'number of hidden tanh layers', default: String(GP_DEFAULTS.depth) },
  { name: 'ensemble', type: 'string', help: 'number of independently initialized networks', default: String(GP_DEFAULTS.ensemble) },
  { name: 'train-size', type: 'string', help: 'training set size |D|', default: String(GP_DEFAULTS.trainSize) },
  { name: 'input-dim', type: 'string', help: 'input dimension d of the synthetic data', default: String(GP_DEFAULTS.inputDim) },
  { name: 'test-points', type: 'string', help: 'inputs from one training point x0 to another x1, inclusive', default: String(GP_DEFAULTS.testPoints) },
  { name: 'extrapolate', type: 'string', help: 'also alpha in [-e, 0) and (1, 1 + e], same spacing', default: String(GP_DEFAULTS.extrapolate) },
  { name: 'steps', type: 'string', help: 'GD steps of the panels (the paper: 0,16,256,65536)', default: GP_DEFAULTS.steps.join(',') },
  { name: 'lr', type: 'string', help: "learning rate on 1/2 sum (f - y)^2, or 'auto' = 1/lambda_max of the analytic NTK", default: 'auto' },
  { name: 'sigma-w2', type: 'string', help: 'weight variance sigma_w^2', default: String(GP_DEFAULTS.sigmaW2) },
  { name: 'sigma-b2', type: 'string', help: 'bias variance sigma_b^2 (0: no bias)', default: String(GP_DEFAULTS.sigmaB2) },
  { name: 'seed', type: 'string', help: 'seed of the data and the initializations', default: String(GP_DEFAULTS.seed) },
  { name: 'out', type: 'string', help: 'output folder for report.json and report.html', default: 'out/gp' },
  { name: 'no-progress', type: 'boolean', help: 'no progress bar' },
];

/** Validates the flags into options (every error names its flag). */
export function gpOptions(v: Record<string, string | boolean>): GpStudyOptions & { out: string } {
  const sigmaB2 = Number(v['sigma-b2']);
  if (typeof v['sigma-b2'] !== 'string' || !Number.isFinite(sigmaB2) || sigmaB2 < 0) throw new Error(`--sigma-b2 must be a number >= 0, got '${String(v['sigma-b2'])}'`);
  const extrapolate = Number(v.extrapolate);
  if (typeof v.extrapolate !== 'string' || !Number.isFinite(extrapolate) || extrapolate < 0 || extrapolate > 5) throw new Error(`--extrapolate must be a number in [0, 5], got '${String(v.extrapolate)}'`);
  return {
    width: intFlag('width', v.width, 1, 1 << 14),
    depth: intFlag('depth', v.depth, 1, 32),
    ensemble: intFlag('ensemble', v.ensemble, 1, 10_000),
    trainSize: intFlag('train-size', v['train-size'], 2, 2048),
    inputDim: intFlag('input-dim', v['input-dim'], 1, 4096),
    testPoints: intFlag('test-points', v['test-points'], 2, 2048),
    extrapolate,
    steps: parseSteps(v.steps),
    lr: v.lr === 'auto' ? null : numberFlag('lr', v.lr),
    sigmaW2: numberFlag('sigma-w2', v['sigma-w2']),
    sigmaB2,
    seed: intFlag('seed', v.seed, 0, 0xffffffff),
    out: String(v.out),
  };
}

export const GP_SUMMARY =
  'The shape of Figure 2 of Lee et al. 2019: an ensemble of wide tanh networks trained by gradient descent\nagainst the Gaussian process of infinitely wide networks (mean and +-2 sd along inputs interpolated\nbetween two training points, at several steps).';

/**
 * The `gp` subcommand: parses and validates flags and the output folder, runs the study, prints
 * the summary and writes the report pair atomically.
 * @example await gpCommand(['--ensemble', '16', '--out', 'out/gp-small']);
 */
export async function gpCommand(argv: string[]): Promise<void> {
  const v = parseFlags('gp', argv, GP_FLAGS);
  if (v.help) {
    console.log(usage('gp', GP_SUMMARY, GP_FLAGS));
    return;
  }
  const { out, ...study } = gpOptions(v);
  const outDir = prepareOutDir(out);
  const { plotlyPath, writeReport } = await import('./report.ts');
  plotlyPath(); // the optional report dependency, checked before the work
  const { gpStudyHtml, gpSummaryRows, runGpStudy } = await import('./gp.ts');
  const progress = progressReporter(!v['no-progress']);
  const report = await runGpStudy(study, progress, (s) => console.error(s));
  const rows = gpSummaryRows(report);
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(rows.map(([k, val]) => `${k.padEnd(width)}  ${val}`).join('\n'));
  progress.start('report', 1, 'files');
  const paths = await writeReport(outDir, report, gpStudyHtml(report));
  progress.update(1);
  progress.stop();
  console.log(`\nwrote ${paths.json} and ${paths.html}`);
}
