/**
 * The `figures` subcommand: the paper's figure suite (Figures 1, 2, 3, S2, S3, S5, S9) from one
 * command, each a page of one HTML report with the paper's claims beside our measurements.
 * Light on purpose: `--help` loads only this file.
 */
import { existsSync } from 'node:fs';
import { cifar10CacheDir } from '../data/download.ts';
import { choiceFlag, intFlag, parseFlags, usage, type FlagSpec } from './args.ts';
import { prepareOutDir } from './out-dir.ts';
import { progressReporter } from './progress.ts';
import { FIGURE_IDS, type FigureId } from './figures/types.ts';
import { SCALES, SIZES, type Scale } from './figures/scales.ts';

export const FIGURES_SUMMARY =
  "The paper's figures, each measured against what the paper reports: 1 (weight change vs width), 2 (ensemble vs GP),\n" +
  '3 (network vs linearization, CIFAR), S2 (tanh CNN with momentum), S3 (cross-entropy, minibatch SGD), S5 (RMSE vs\n' +
  'width, depth, |D|), S9 (empirical vs analytic kernels). Writes index.html, one page per figure and report.json;\n' +
  'a rerun with the same --out resumes the figures already finished.';

export const FIGURES_FLAGS: FlagSpec[] = [
  { name: 'only', type: 'string', help: `comma-separated figures (${FIGURE_IDS.join(',')})`, default: FIGURE_IDS.join(',') },
  { name: 'scale', type: 'string', help: "small (10 CPU-minutes; 29 min measured on a busy 2-core machine), paper (the paper's sizes; hours on a CPU) or tiny (seconds, for tests)", default: 'small' },
  { name: 'seeds', type: 'string', help: 'independent replicates per measurement (default: 3 at small, 5 at paper, 2 at tiny)' },
  { name: 'backend', type: 'string', help: 'auto (WebGPU if an adapter is found, else CPU), cpu or webgpu', default: 'auto' },
  { name: 'data-dir', type: 'string', help: 'folder with the CIFAR-10 binary batches (Figures 3, S2, S5)', default: cifar10CacheDir() },
  { name: 'out', type: 'string', help: 'output folder', default: 'out/figures' },
  { name: 'no-progress', type: 'boolean', help: 'no progress output' },
];

const NEEDS_CIFAR: readonly FigureId[] = ['3', 'S2', 'S5'];

export interface FiguresOptions {
  only: FigureId[];
  scale: Scale;
  seeds: number;
  backend: 'auto' | 'cpu' | 'webgpu';
  dataDir: string;
  out: string;
}

/** Validates the flags (every error names its flag). */
export function figuresOptions(v: Record<string, string | boolean>): FiguresOptions {
  const raw = String(v.only).split(',').map((s) => s.trim()).filter((s) => s !== '');
  const only: FigureId[] = [];
  for (const id of raw) {
    const canonical = FIGURE_IDS.find((f) => f.toLowerCase() === id.toLowerCase());
    if (!canonical) throw new Error(`--only: unknown figure '${id}' (figures: ${FIGURE_IDS.join(', ')})`);
    if (!only.includes(canonical)) only.push(canonical);
  }
  if (only.length === 0) throw new Error(`--only must name at least one figure (${FIGURE_IDS.join(', ')})`);
  // Run in the paper's order whatever the flag's order.
  only.sort((a, b) => FIGURE_IDS.indexOf(a) - FIGURE_IDS.indexOf(b));
  const scale = choiceFlag('scale', v.scale, SCALES);
  const seeds = v.seeds === undefined ? SIZES[scale].seeds : intFlag('seeds', v.seeds, 1, 100);
  const dataDir = String(v['data-dir']);
  const needing = only.filter((id) => NEEDS_CIFAR.includes(id));
  if (needing.length > 0 && !existsSync(dataDir)) {
    throw new Error(
      `--data-dir '${dataDir}' does not exist (figures ${needing.join(', ')} read CIFAR-10); run 'tangentgrad data cifar10' to download it, ` +
        'point --data-dir at a folder with the CIFAR-10 binary files, or leave those figures out with --only',
    );
  }
  return { only, scale, seeds, backend: choiceFlag('backend', v.backend, ['auto', 'cpu', 'webgpu'] as const), dataDir, out: String(v.out) };
}

/** @example await figuresCommand(['--only', '1,S9', '--scale', 'tiny', '--out', 'out/fig']); */
export async function figuresCommand(argv: string[]): Promise<void> {
  const v = parseFlags('figures', argv, FIGURES_FLAGS);
  if (v.help) {
    console.log(usage('figures', FIGURES_SUMMARY, FIGURES_FLAGS));
    return;
  }
  const o = figuresOptions(v);
  const out = prepareOutDir(o.out);
  const { plotlyPath } = await import('./report.ts');
  plotlyPath(); // the optional report dependency, checked before the work
  const { chooseBackend } = await import('./study.ts');
  const { runSuite } = await import('./figures/run.ts');
  const { formatInterval, formatValue } = await import('./figures/claims.ts');
  const { backend, reason } = await chooseBackend(o.backend);
  console.error(`backend: ${backend.name} (${reason})`);
  const progress = progressReporter(!v['no-progress']);
  const t0 = performance.now();
  const report = await runSuite({ ...o, out, backend: backend.name === 'webgpu' ? 'webgpu' : 'cpu', progress, log: (s) => console.error(s) });
  const rows = report.claims.map((c) => [c.figure, c.claim, c.paper, formatValue(c.measured), formatInterval(c.interval), c.verdict]);
  const head = ['figure', 'claim', 'paper', 'measured', '95% interval', 'verdict'];
  const line = (r: string[]) => `| ${r.join(' | ')} |`;
  console.log([line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n'));
  const cpu = process.cpuUsage();
  console.log(`\nfigures' time: ${Object.entries(report.meta.seconds).map(([id, s]) => `${id} ${s.toFixed(1)} s (CPU ${report.meta.cpuSeconds[id].toFixed(1)} s)`).join(', ')}`);
  console.log(`this run: ${((performance.now() - t0) / 1000).toFixed(1)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU (all threads)`);
  console.log(`wrote ${out}/index.html and ${out}/report.json`);
}
