/**
 * Worker threads over the kernels' shared memory: worker_threads in Node, Web Workers in browsers
 * and Deno, each running worker.js (loaded by URL next to this file: no blob, so a strict
 * Content-Security-Policy and bundlers work). Workers start asynchronously; until one has said it
 * is ready the calling thread simply takes every job itself (jobs are pulled, not assigned), so
 * nothing ever waits on a worker that is still starting or failed to start.
 *
 * Workers never keep a Node process alive (unref) and are stopped by `stop()`.
 */
import { CTL, KERNEL_EXPORTS } from './control.ts';

interface WorkerHandle {
  terminate(): unknown;
}

export interface PoolInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Scratch address of worker `id` (1-based; the calling thread is 0). */
  scratchOf: (id: number) => number;
}

export class WorkerPool {
  private readonly workers: WorkerHandle[] = [];
  private stopped = false;
  /** Messages from workers that could not start (they are not counted as ready). */
  readonly problems: string[] = [];
  /** Resolves when every worker has started (or failed to). */
  readonly started: Promise<void>;

  constructor(private readonly init: PoolInit, readonly size: number) {
    this.started = this.spawn();
  }

  /** Workers ready to take jobs now. */
  ready(): number {
    return Atomics.load(new Int32Array(this.init.memory.buffer, 0, 16), CTL.READY);
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }

  private async spawn(): Promise<void> {
    const url = new URL('./worker.js', import.meta.url);
    const WebWorker = (globalThis as { Worker?: new (url: URL, opts: { type: 'module' }) => Worker }).Worker;
    const message = (id: number) => ({
      module: this.init.module, memory: this.init.memory, id, scratch: this.init.scratchOf(id), kernels: [...KERNEL_EXPORTS],
    });
    if (WebWorker !== undefined) {
      for (let id = 1; id < this.size && !this.stopped; id++) {
        const w = new WebWorker(url, { type: 'module' });
        w.onmessage = (e: MessageEvent) => { this.problems.push(String(e.data)); };
        w.onerror = (e: ErrorEvent) => { this.problems.push(`cpu worker ${id}: ${e.message}`); };
        w.postMessage(message(id));
        this.workers.push(w);
      }
    } else {
      const { Worker } = await import('node:worker_threads');
      for (let id = 1; id < this.size && !this.stopped; id++) {
        const w = new Worker(url);
        w.unref();
        w.on('message', (m) => { this.problems.push(String(m)); });
        w.on('error', (e) => { this.problems.push(`cpu worker ${id}: ${e.message}`); });
        w.postMessage(message(id));
        this.workers.push(w);
      }
    }
    // Workers signal readiness through shared memory (they need no event loop of ours): poll it.
    const deadline = Date.now() + 30_000;
    while (!this.stopped && this.ready() + this.problems.length < this.workers.length) {
      if (Date.now() > deadline) {
        this.problems.push(`only ${this.ready()} of ${this.workers.length} cpu workers started within 30 s`);
        break;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 5) as unknown as { unref?: () => void };
        t.unref?.();
      });
    }
  }
}
