/**
 * Runs the selected figures in order, each timed, resuming those an earlier run in the same
 * --out already finished with the same setup, and rewrites the report after every figure so an
 * interrupted run leaves a readable report of what it finished.
 */
import * as tg from '../../engine/index.ts';
import type { Progress } from '../progress.ts';
import { figure1 } from './figure1.ts';
import { figure2 } from './figure2.ts';
import { figure3 } from './figure3.ts';
import { figureS2 } from './figure-s2.ts';
import { figureS3 } from './figure-s3.ts';
import { figureS5 } from './figure-s5.ts';
import { figureS9 } from './figure-s9.ts';
import { loadFigure, saveFigure, writeSuite, type SuiteReport } from './pages.ts';
import type { Scale } from './scales.ts';
import type { Figure, FigureId, FigureResult } from './types.ts';

export const FIGURES: Record<FigureId, Figure> = { 1: figure1, 2: figure2, 3: figure3, S2: figureS2, S3: figureS3, S5: figureS5, S9: figureS9 };

export interface SuiteOptions {
  only: FigureId[];
  scale: Scale;
  seeds: number;
  dataDir: string;
  /** An existing writable folder. */
  out: string;
  backend: 'cpu' | 'webgpu';
  progress: Progress;
  log: (line: string) => void;
}

/** Runs (or resumes) the figures and writes the report; returns it. */
export async function runSuite(o: SuiteOptions): Promise<SuiteReport> {
  const results: FigureResult[] = [];
  const resumed: FigureId[] = [];
  const seconds: Record<string, number> = {};
  const cpuSeconds: Record<string, number> = {};
  const report = (): SuiteReport => ({
    meta: { scale: o.scale, seeds: o.seeds, backend: o.backend, written: new Date().toISOString(), seconds, cpuSeconds, resumed },
    claims: results.flatMap((r) => r.claims),
    figures: results,
  });
  for (const [k, id] of o.only.entries()) {
    const figure = FIGURES[id];
    const config = figure.config(o);
    const saved = loadFigure(o.out, id, config);
    if (saved) {
      o.log(`[${k + 1}/${o.only.length}] ${figure.title}: finished by an earlier run (${saved.seconds.toFixed(1)} s), resumed`);
      resumed.push(id);
      results.push(saved);
      seconds[id] = saved.seconds;
      cpuSeconds[id] = saved.cpuSeconds;
      continue;
    }
    o.log(`[${k + 1}/${o.only.length}] ${figure.title}`);
    // Figures that need float64 switch to the CPU themselves; every figure starts on the chosen backend.
    await tg.setBackend(o.backend);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const body = await figure.run({ scale: o.scale, seeds: o.seeds, dataDir: o.dataDir, backend: o.backend, progress: o.progress, log: o.log });
    const cpu = process.cpuUsage(cpu0);
    const result: FigureResult = { id, title: figure.title, config, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, ...body };
    saveFigure(o.out, result);
    results.push(result);
    seconds[id] = result.seconds;
    cpuSeconds[id] = result.cpuSeconds;
    o.log(`[${k + 1}/${o.only.length}] ${figure.title}: ${result.seconds.toFixed(1)} s (CPU ${result.cpuSeconds.toFixed(1)} s)`);
    writeSuite(o.out, report());
  }
  writeSuite(o.out, report());
  return report();
}
