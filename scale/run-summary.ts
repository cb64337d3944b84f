/**
 * What every runner reports, and the progress line they share: blocks done of the total, the rate
 * in blocks and kernel entries per second, and the ETA (cli/progress.ts draws it).
 */
import { progressReporter, silentProgress, type Progress } from '../cli/progress.ts';
import type { KernelStore } from './store.ts';

export interface RunSummary {
  /** Block tasks of the store. */
  readonly blocks: number;
  /** Blocks this run computed and wrote. */
  readonly computed: number;
  /** Blocks found present and verified at the start (resume), or written meanwhile by someone else. */
  readonly skipped: number;
  /** Kernel entries (per kernel) this run computed. */
  readonly entries: number;
  readonly seconds: number;
}

/** Progress option of the runners: true (stderr), false (silent) or a reporter. */
export type ProgressOption = boolean | Progress;

export function progressOf(option: ProgressOption | undefined): Progress {
  if (option === undefined || option === false) return silentProgress;
  if (option === true) return progressReporter(true);
  return option;
}

/** Tracks blocks done and draws the line with entries per second. */
export class BlockProgress {
  private done = 0;
  private entries = 0;
  private readonly t0 = performance.now();

  constructor(private readonly progress: Progress, readonly store: KernelStore, readonly total: number, phase: string) {
    progress.start(phase, total, 'blocks');
  }

  blockDone(index: number): void {
    const b = this.store.block(index);
    this.done++;
    this.entries += b.rows * b.cols;
    const seconds = (performance.now() - this.t0) / 1000;
    this.progress.update(this.done, `${formatRate(this.entries / Math.max(seconds, 1e-9))} entries/s`);
  }

  get entriesDone(): number {
    return this.entries;
  }

  stop(): void {
    this.progress.stop();
  }
}

export function formatRate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0);
}
