/**
 * The `study` subcommand (the default): flags, validation of everything (the output folder and
 * the data included) before any work, then the study, its summary and its report pair. The
 * engine and the study are imported only when it runs, so `--help` stays instant.
 */
import { existsSync } from 'node:fs';
import { cifar10CacheDir } from '../data/download.ts';
import { choiceFlag, intFlag, numberFlag, parseFlags, usage, type FlagSpec } from './args.ts';
import { prepareOutDir } from './out-dir.ts';
import { progressReporter } from './progress.ts';
import type { StudyOptions } from './study.ts';

export const STUDY_SUMMARY =
  'Trains a wide ReLU network by full-batch gradient descent and sets it against its linearization\n(closed form from the empirical NTK at init, and the linearized model trained step by step).';

export const STUDY_FLAGS: FlagSpec[] = [
  { name: 'dataset', type: 'string', help: "mnist (digits 4 vs 9, needs the optional package 'mnist') or cifar2 (airplane vs horse)", default: 'mnist' },
  { name: 'data-dir', type: 'string', help: 'folder with CIFAR-10 binary batches, for --dataset cifar2 (fill the default one with: tangentgrad data cifar10)', default: cifar10CacheDir() },
  { name: 'width', type: 'string', help: 'hidden layer width n', default: '256' },
  { name: 'depth', type: 'string', help: 'number of hidden ReLU layers', default: '2' },
  { name: 'train-size', type: 'string', help: 'training set size |D|', default: '128' },
  { name: 'test-size', type: 'string', help: 'test set size', default: '128' },
  { name: 'steps', type: 'string', help: 'gradient descent steps', default: '300' },
  { name: 'lr', type: 'string', help: "learning rate, or 'auto' = 1/lambda_max (half the stable threshold)", default: 'auto' },
  { name: 'loss', type: 'string', help: "MSE scaling: 'sum/2' (the paper) or 'mean/2' (neural-tangents)", default: 'sum/2' },
  { name: 'backend', type: 'string', help: 'auto (WebGPU if an adapter is found, else CPU), cpu or webgpu', default: 'auto' },
  { name: 'seed', type: 'string', help: 'seed of the initialization and the data split', default: '0' },
  { name: 'points', type: 'string', help: 'test points whose outputs are plotted', default: '4' },
  { name: 'out', type: 'string', help: 'output folder for report.json and report.html', default: 'out' },
  { name: 'no-progress', type: 'boolean', help: 'no progress output' },
];

/** Validates the flags into options; every error names its flag. */
export function studyOptions(v: Record<string, string | boolean>): StudyOptions & { out: string } {
  const dataset = choiceFlag('dataset', v.dataset, ['mnist', 'cifar2'] as const);
  const dataDir = String(v['data-dir']);
  if (dataset === 'cifar2' && !existsSync(dataDir)) {
    throw new Error(
      `--data-dir '${dataDir}' does not exist; run 'tangentgrad data cifar10' to download CIFAR-10 there (add --data-dir to choose the folder), ` +
        `or point --data-dir at a folder with the CIFAR-10 binary files (data_batch_*.bin or train_batch.bin, and test_batch.bin)`,
    );
  }
  return {
    dataset,
    dataDir,
    width: intFlag('width', v.width, 1, 1 << 16),
    depth: intFlag('depth', v.depth, 1, 64),
    trainSize: intFlag('train-size', v['train-size'], 2, 10_000),
    testSize: intFlag('test-size', v['test-size'], 1, 10_000),
    steps: intFlag('steps', v.steps, 1, 10_000_000),
    lr: v.lr === 'auto' ? null : numberFlag('lr', v.lr),
    loss: choiceFlag('loss', v.loss, ['sum/2', 'mean/2'] as const),
    backend: choiceFlag('backend', v.backend, ['auto', 'cpu', 'webgpu'] as const),
    seed: intFlag('seed', v.seed, 0, 0xffffffff),
    points: intFlag('points', v.points, 0, 64),
    out: String(v.out),
  };
}

/** @example await studyCommand(['--width', '64', '--steps', '50', '--out', 'out/small']); */
export async function studyCommand(argv: string[]): Promise<void> {
  const v = parseFlags('study', argv, STUDY_FLAGS);
  if (v.help) {
    console.log(usage('[study]', STUDY_SUMMARY, STUDY_FLAGS));
    return;
  }
  const { out, ...opts } = studyOptions(v);
  const outDir = prepareOutDir(out);
  const { plotlyPath, writeReport } = await import('./report.ts');
  plotlyPath(); // the optional report dependency, checked before the work
  const { runStudy } = await import('./study.ts');
  const { studyHtml, summaryRows } = await import('./study-report.ts');
  const progress = progressReporter(!v['no-progress']);
  const report = await runStudy(opts, progress, (s) => console.error(s));
  const rows = summaryRows(report);
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(rows.map(([k, val]) => `${k.padEnd(width)}  ${val}`).join('\n'));
  progress.start('report', 1, 'files');
  const paths = await writeReport(outDir, report, studyHtml(report));
  progress.update(1);
  progress.stop();
  console.log(`\nwrote ${paths.json} and ${paths.html}`);
}
