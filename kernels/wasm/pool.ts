/**
 * Worker threads over the kernels' shared memory: worker_threads in Node and Deno (both can unref
 * a worker, so an idle pool never keeps the process alive), Web Workers in browsers, each running
 * worker.js (loaded by URL next to this file: no blob, so a strict
 * Content-Security-Policy and bundlers work). Workers start asynchronously; until one has said it
 * is ready the calling thread simply takes every job itself (jobs are pulled, not assigned), so
 * nothing ever waits on a worker that is still starting or failed to start.
 *
 * Idle workers never keep a Node or Deno process alive (unref) and are stopped by `stop()`.
 */
import { detectHost } from '../host.ts';
import { CTL, KERNEL_EXPORTS } from './control.ts';
import type { KernelMemory } from './runtime.ts';

interface WorkerHandle {
  terminate(): unknown;
}

const NODE_WORKER_THREADS = 'node:worker_threads';

export interface PoolInit {
  /** The compiled WebAssembly.Module (typed opaquely: see KernelMemory). */
  module: object;
  memory: KernelMemory;
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
    const WebWorker = detectHost() === 'browser' ? (globalThis as { Worker?: new (url: URL, opts: { type: 'module' }) => Worker }).Worker : undefined;
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
      // A variable specifier: bundlers leave it alone instead of resolving a Node builtin for a browser.
      const { Worker } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ NODE_WORKER_THREADS)) as typeof import('node:worker_threads');
      for (let id = 1; id < this.size && !this.stopped; id++) {
        const w = new Worker(url);
        w.on('message', (m) => { this.problems.push(String(m)); });
        w.on('error', (e) => { this.problems.push(`cpu worker ${id}: ${e.message}`); });
        // After the listeners: adding a 'message' listener re-references the worker's port.
        w.unref();
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
      // A referenced timer: `await configureCpu()` must not find an empty event loop (Node would
      // exit with an unsettled top-level await). Start-up takes milliseconds; the deadline bounds it.
      await new Promise<void>((resolve) => setTimeout(resolve, 5));
    }
  }
}
