/**
 * The embedded runner: fills a store on this machine, either in this thread (`workers: 0`, the
 * single-process reference) or on a pool of worker threads (the default: one per core). Blocks
 * present and verified are skipped, so a rerun resumes an interrupted run; a chunk that is
 * truncated or fails its checksum counts as missing and is recomputed.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BlockComputer } from './compute-block.ts';
import { BlockProgress, progressOf, type ProgressOption, type RunSummary } from './run-summary.ts';
import { KernelStore } from './store.ts';
import type { PoolReply, PoolRequest } from './pool-worker.ts';

export interface LocalRunOptions {
  /** Worker threads; 0 computes in the calling thread. Default: the cores present. */
  workers?: number;
  progress?: ProgressOption;
  /** Called after each block this run finishes (its index and whether it wrote it). */
  onBlock?: (index: number, written: boolean) => void;
  /** Stop after this many blocks (the rest stays for a later run): for batch slots with a time limit. */
  maxBlocks?: number;
}

/**
 * Starts a worker thread running scale/pool-worker. From the TypeScript sources (tsx, vitest) the
 * thread first registers tsx's loader: Node 20 does not apply `--import tsx` to a worker's entry.
 */
export function startPoolThread(root: string): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './pool-worker.ts' : './pool-worker.js', import.meta.url).href;
  if (!fromSource) return new Worker(new URL(entry), { workerData: { root } });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData: { root } });
}

/**
 * Computes the missing blocks of the store at `root`.
 * @example const summary = await runLocal('k.zarr', { workers: 4, progress: true });
 */
export async function runLocal(root: string, opts: LocalRunOptions = {}): Promise<RunSummary> {
  const store = KernelStore.open(root);
  const workers = opts.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 0) throw new Error(`runLocal: workers must be a non-negative integer, got ${workers}`);
  const maxBlocks = opts.maxBlocks ?? Infinity;
  if (!(maxBlocks >= 1)) throw new Error(`runLocal: maxBlocks must be >= 1, got ${opts.maxBlocks}`);
  const t0 = performance.now();
  for (const k of store.meta.kernels) store.removePartials(k);
  const allMissing = store.missingBlocks();
  const missing = allMissing.slice(0, Number.isFinite(maxBlocks) ? maxBlocks : undefined);
  const progress = new BlockProgress(progressOf(opts.progress), store, missing.length, 'kernel blocks');
  let computed = 0;
  const finish = (index: number, written: boolean) => {
    if (written) computed++;
    progress.blockDone(index);
    opts.onBlock?.(index, written);
  };
  try {
    if (workers === 0 || missing.length === 0) {
      const computer = missing.length ? new BlockComputer(store) : null;
      for (const index of missing) finish(index, computer!.run(index).written);
    } else {
      await runPool(root, missing, Math.min(workers, missing.length), finish);
    }
  } finally {
    progress.stop();
  }
  return {
    blocks: store.blockCount,
    computed,
    // Present at the start, or written meanwhile by another runner (then this run wrote nothing).
    skipped: store.blockCount - allMissing.length + (missing.length - computed),
    entries: progress.entriesDone,
    seconds: (performance.now() - t0) / 1000,
  };
}

function runPool(root: string, queue: number[], size: number, finish: (index: number, written: boolean) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const pending = [...queue];
    let outstanding = 0;
    let failed = false;
    const threads: Worker[] = [];
    const stopAll = () => {
      for (const t of threads) void t.terminate();
    };
    const next = (t: Worker) => {
      const index = pending.shift();
      if (index === undefined) {
        t.postMessage({ type: 'stop' } satisfies PoolRequest);
        if (outstanding === 0) {
          stopAll();
          resolve();
        }
        return;
      }
      outstanding++;
      t.postMessage({ type: 'block', index } satisfies PoolRequest);
    };
    for (let i = 0; i < size; i++) {
      const t = startPoolThread(root);
      threads.push(t);
      t.on('message', (msg: PoolReply) => {
        if (failed) return;
        if (msg.type === 'ready') return next(t);
        outstanding--;
        if (msg.type === 'error') {
          failed = true;
          stopAll();
          return reject(new Error(`kernel block ${msg.index}: ${msg.message}`));
        }
        finish(msg.index, msg.written);
        next(t);
      });
      t.on('error', (e) => {
        if (failed) return;
        failed = true;
        stopAll();
        reject(new Error(`kernel worker thread failed: ${e.message}`));
      });
    }
  });
}
