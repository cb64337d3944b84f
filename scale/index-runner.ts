/**
 * Array-job mode, for clusters without Redis: each task of a Kubernetes Indexed Job
 * (JOB_COMPLETION_INDEX) or a Slurm array (SLURM_ARRAY_TASK_ID) computes the blocks
 * index, index + count, index + 2 count, ... of the store, where count is the number of tasks
 * (default: one task per block). Blocks already verified are skipped, so a retried task (the
 * Job's backoffLimitPerIndex, Slurm's --requeue) only does what is left.
 */
import { BlockComputer } from './compute-block.ts';
import { BlockProgress, progressOf, type ProgressOption, type RunSummary } from './run-summary.ts';
import { KernelStore } from './store.ts';

export interface IndexRunOptions {
  /** This task's index; default from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN). */
  index?: number;
  /** Tasks in the array; default SLURM_ARRAY_TASK_COUNT, else the store's block count. */
  count?: number;
  progress?: ProgressOption;
  env?: Record<string, string | undefined>;
}

function envInt(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new Error(`kernel index: ${name}='${raw}' is not a non-negative integer`);
  return Number(raw);
}

/** The task index and count from options or the environment (errors say which variables were looked at). */
export function arrayTask(blocks: number, opts: IndexRunOptions = {}): { index: number; count: number } {
  const env = opts.env ?? process.env;
  let index = opts.index;
  if (index === undefined) {
    const k8s = envInt(env, 'JOB_COMPLETION_INDEX');
    const slurm = envInt(env, 'SLURM_ARRAY_TASK_ID');
    if (k8s !== undefined) index = k8s;
    else if (slurm !== undefined) index = slurm - (envInt(env, 'SLURM_ARRAY_TASK_MIN') ?? 0);
    else throw new Error('kernel index: no task index (give --index, or run as a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) or a Slurm array task (SLURM_ARRAY_TASK_ID))');
  }
  const count = opts.count ?? envInt(env, 'SLURM_ARRAY_TASK_COUNT') ?? blocks;
  if (!Number.isInteger(count) || count < 1) throw new Error(`kernel index: the task count must be a positive integer, got ${count}`);
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new Error(`kernel index: task index ${index} is outside [0, ${count}) (${count} tasks)`);
  return { index, count };
}

/** Computes this array task's blocks of the store at `root`. */
export async function runIndexTask(root: string, opts: IndexRunOptions = {}): Promise<RunSummary & { index: number; count: number }> {
  const store = KernelStore.open(root);
  const { index, count } = arrayTask(store.blockCount, opts);
  const t0 = performance.now();
  const mine: number[] = [];
  for (let b = index; b < store.blockCount; b += count) mine.push(b);
  const progress = new BlockProgress(progressOf(opts.progress), store, mine.length, `task ${index}/${count}`);
  let computed = 0;
  let computer: BlockComputer | null = null;
  try {
    for (const b of mine) {
      if (!store.blockIsDone(b)) {
        computer ??= new BlockComputer(store);
        if (computer.run(b).written) computed++;
      }
      progress.blockDone(b);
    }
  } finally {
    progress.stop();
  }
  return { index, count, blocks: mine.length, computed, skipped: mine.length - computed, entries: progress.entriesDone, seconds: (performance.now() - t0) / 1000 };
}
