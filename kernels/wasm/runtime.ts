/**
 * The Wasm kernels at run time: one generated module (with or without relaxed-SIMD FMA), one memory
 * (shared when threads are used), the calling thread's instance, and the worker pool. `runJobs`
 * runs a batch of jobs of one kernel on every ready thread and returns when all are done; the
 * calling thread works too, then blocks with Atomics.wait (the CPU backend is synchronous).
 *
 * Memory: [0, 64 KiB) control block and descriptors; then one scratch area per thread; then the
 * heap (kernels/wasm/heap.ts): the CPU backend's resident arrays and each call's temporaries,
 * growing on demand.
 */
import { CTL, KERNEL_EXPORTS, LAYOUT, MAX_BATCH, type KernelName } from './control.ts';
import { ModuleBuilder } from './emitter.ts';
import { addGemm, GEMM_SHAPES, gemmScratchBytes } from './gemm-kernels.ts';
import { addElementwise } from './elementwise-kernels.ts';
import { addIm2col } from './im2col-kernel.ts';
import { WasmHeap } from './heap.ts';
import { WorkerPool } from './pool.ts';

const PAGE = 65536;
/** Shared memory needs a maximum; 2 GiB keeps every byte address a positive i32. */
const MAX_PAGES = 32768;
/** A batch whose finished-job count does not move for this long is reported as a stalled worker. */
const STALL_MS = 60_000;

export interface RuntimeOptions {
  fma: boolean;
  threads: number;
  shared: boolean;
}

/**
 * The part of a WebAssembly.Memory the kernels' callers use, named structurally: the package's
 * declarations must compile for a consumer with neither the DOM's nor Node's types, and the
 * `WebAssembly` namespace comes only from those.
 */
export interface KernelMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

type Kernel = (desc: number, job: number, scratch: number) => void;

export class WasmRuntime {
  readonly memory: KernelMemory;
  private readonly kernels: Kernel[];
  private readonly scratchBytes: number;
  /** Where the heap starts (above the scratch). */
  readonly heapBase: number;
  readonly heap: WasmHeap;
  private pool: WorkerPool | undefined;
  private gen = 0;
  /** Batches run so far (tests check that work went through the kernels). */
  batches = 0;

  constructor(readonly options: RuntimeOptions) {
    this.scratchBytes = roundUp(Math.max(gemmScratchBytes(GEMM_SHAPES.f32), gemmScratchBytes(GEMM_SHAPES.f64)), PAGE);
    this.heapBase = LAYOUT.scratch + options.threads * this.scratchBytes;
    const initial = this.heapBase / PAGE + 16;
    const shared = options.shared;
    const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial, maximum: shared ? MAX_PAGES : undefined, shared });
    addGemm(mod, 'f32', options.fma);
    addGemm(mod, 'f64', options.fma);
    addIm2col(mod);
    addElementwise(mod, 'f32');
    addElementwise(mod, 'f64');
    const module = new WebAssembly.Module(mod.encode());
    this.memory = new WebAssembly.Memory(shared ? { initial, maximum: MAX_PAGES, shared: true } : { initial });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.kernels = KERNEL_EXPORTS.map((name) => instance.exports[name] as Kernel);
    this.heap = new WasmHeap(this.memory, this.heapBase, shared, MAX_PAGES * PAGE);
    if (shared && options.threads > 1) {
      this.pool = new WorkerPool({ module, memory: this.memory, scratchOf: (id) => this.scratchOf(id) }, options.threads);
    }
  }

  /** Resolves when the worker threads have started (or failed to; see `problems`). */
  started(): Promise<void> {
    return this.pool?.started ?? Promise.resolve();
  }

  /** Threads that take jobs now: the calling one plus ready workers. */
  activeThreads(): number {
    return 1 + (this.pool?.ready() ?? 0);
  }

  problems(): readonly string[] {
    return this.pool?.problems ?? [];
  }

  stop(): void {
    this.pool?.stop();
    this.pool = undefined;
  }

  private scratchOf(thread: number): number {
    return LAYOUT.scratch + thread * this.scratchBytes;
  }

  /** Runs jobs 0 .. total-1 of `kernel` with the descriptor at `desc`. */
  runJobs(kernel: KernelName, desc: number, total: number): void {
    const kind = KERNEL_EXPORTS.indexOf(kernel);
    const fn = this.kernels[kind];
    this.batches++;
    const workers = this.pool?.ready() ?? 0;
    if (workers === 0 || total === 1) {
      const scratch = this.scratchOf(0);
      for (let j = 0; j < total; j++) fn(desc, j, scratch);
      return;
    }
    for (let job0 = 0; job0 < total; job0 += MAX_BATCH) this.batch(kind, fn, desc, job0, Math.min(MAX_BATCH, total - job0));
  }

  private batch(kind: number, fn: Kernel, desc: number, job0: number, total: number): void {
    const ctl = new Int32Array(this.memory.buffer, 0, 64);
    // Publish under the sequence lock (odd while writing), then wake the workers.
    this.gen = Atomics.add(ctl, CTL.GEN, 1) + 1;
    Atomics.store(ctl, CTL.KIND, kind);
    Atomics.store(ctl, CTL.DESC, desc);
    Atomics.store(ctl, CTL.JOB0, job0);
    Atomics.store(ctl, CTL.TOTAL, total);
    Atomics.store(ctl, CTL.DONE, 0);
    Atomics.store(ctl, CTL.ERROR, 0);
    const tag = ((this.gen + 1) >>> 1) & 0xffff;
    Atomics.store(ctl, CTL.NEXT, tag << 15);
    this.gen = Atomics.add(ctl, CTL.GEN, 1) + 1;
    Atomics.notify(ctl, CTL.GEN);
    // Take jobs like any worker.
    const scratch = this.scratchOf(0);
    let failure: unknown;
    for (;;) {
      const cur = Atomics.load(ctl, CTL.NEXT);
      const ticket = cur & 0x7fff;
      if (cur >>> 15 !== tag || ticket >= total) break;
      if (Atomics.compareExchange(ctl, CTL.NEXT, cur, cur + 1) !== cur) continue;
      try {
        fn(desc, job0 + ticket, scratch);
      } catch (e) {
        failure ??= e;
      }
      Atomics.add(ctl, CTL.DONE, 1);
    }
    // Wait for the jobs other threads took.
    let last = Atomics.load(ctl, CTL.DONE);
    let since = Date.now();
    while (last < total) {
      Atomics.wait(ctl, CTL.DONE, last, 1000);
      const now = Atomics.load(ctl, CTL.DONE);
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since > STALL_MS) {
        throw new Error(`cpu threads: ${total - last} of ${total} ${KERNEL_EXPORTS[kind]} jobs did not finish within ${STALL_MS / 1000} s (a worker thread died?)`);
      }
    }
    if (failure !== undefined) throw failure;
    if (Atomics.load(ctl, CTL.ERROR) !== 0) {
      const len = Atomics.load(ctl, CTL.ERROR_LEN);
      const text = new TextDecoder().decode(new Uint8Array(this.memory.buffer, LAYOUT.errorText, len).slice());
      Atomics.store(ctl, CTL.ERROR, 0);
      throw new Error(text);
    }
  }
}

/** x rounded up to a multiple of `to`. */
export function roundUp(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}
