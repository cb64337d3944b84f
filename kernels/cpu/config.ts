/**
 * How the CPU backend runs its heavy kernels: generated WebAssembly SIMD on a pool of threads
 * where the runtime allows, the plain JavaScript kernels otherwise. Decided at first use (the
 * first large matmul or convolution, or a call to `configureCpu`), never at import.
 *
 * @example
 * import { configureCpu, cpuInfo } from 'tangentgrad';
 * await configureCpu({ threads: 2 });   // or { wasm: false } for the JavaScript kernels only
 * console.log(cpuInfo());               // { wasm: true, simd: true, fma: false, threads: 2, ... }
 */
import { wasmFeatures } from '../wasm/features.ts';
import { WasmRuntime } from '../wasm/runtime.ts';

export interface CpuOptions {
  /** Threads for large kernels, the calling one included; default: the cores present (at most 16). */
  threads?: number;
  /** Use the WebAssembly kernels when the runtime has them (default true). */
  wasm?: boolean;
  /**
   * Use relaxed-SIMD fused multiply-add where the runtime has it (default true). Fused and
   * unfused products differ in the last bits; turn it off to compare, or for results that do not
   * depend on the runtime's relaxed-SIMD support.
   */
  fma?: boolean;
  /**
   * Smallest matrix product, in multiply-adds (m * n * k), sent to the WebAssembly kernels
   * (default 32768: below it copying the operands and starting the jobs costs more than the
   * JavaScript kernels' whole run). Tests set 1 to drive tiny shapes through them.
   */
  wasmMinWork?: number;
  /**
   * Smallest float array, in bytes, that the CPU backend keeps in the WebAssembly kernels' memory
   * (default 16384), where the kernels read and write it in place; smaller arrays are ordinary
   * typed arrays (copied in when a kernel takes them). Needs shared memory (threads available).
   * Tests set 1 to keep every float array there.
   */
  residentMinBytes?: number;
}

export interface CpuInfo {
  /** The WebAssembly SIMD kernels run (else the JavaScript ones). */
  wasm: boolean;
  simd: boolean;
  relaxedSimd: boolean;
  /** relaxed_madd is used in the matmul micro-kernels. */
  fma: boolean;
  /** Threads configured (the calling one included). */
  threads: number;
  /** Threads taking work now (workers still starting are not counted). */
  activeThreads: number;
  /** Why something is off or missing, for the record (empty when everything runs). */
  notes: string[];
}

/** Most threads chosen by default (more are allowed explicitly, up to MAX_THREADS). */
const DEFAULT_MAX_THREADS = 16;
const MAX_THREADS = 64;

const DEFAULT_MIN_WORK = 32768;
const DEFAULT_RESIDENT_MIN_BYTES = 16384;

let options: CpuOptions = {};
let minWork = DEFAULT_MIN_WORK;
let residentMin = DEFAULT_RESIDENT_MIN_BYTES;

/** See CpuOptions.residentMinBytes. */
export function residentMinBytes(): number {
  return residentMin;
}

/** See CpuOptions.wasmMinWork. */
export function wasmMinWork(): number {
  return minWork;
}
let runtime: WasmRuntime | null | undefined;
let notes: string[] = [];

/**
 * Sets the CPU backend's options (unset ones return to their defaults) and starts what they
 * need; resolves once the worker threads are running. Large kernels called before it resolves
 * run on the threads ready by then (same results: the work split never changes a result).
 */
export async function configureCpu(opts: CpuOptions = {}): Promise<CpuInfo> {
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > MAX_THREADS)) {
    throw new RangeError(`configureCpu: threads must be an integer in [1, ${MAX_THREADS}], got ${opts.threads}`);
  }
  if (opts.wasmMinWork !== undefined && !(opts.wasmMinWork >= 1)) {
    throw new RangeError(`configureCpu: wasmMinWork must be at least 1, got ${opts.wasmMinWork}`);
  }
  if (opts.residentMinBytes !== undefined && !(opts.residentMinBytes >= 1)) {
    throw new RangeError(`configureCpu: residentMinBytes must be at least 1, got ${opts.residentMinBytes}`);
  }
  shutdownCpuThreads();
  options = { ...opts };
  minWork = opts.wasmMinWork ?? DEFAULT_MIN_WORK;
  residentMin = opts.residentMinBytes ?? DEFAULT_RESIDENT_MIN_BYTES;
  const rt = wasmRuntime();
  if (rt) await rt.started();
  return cpuInfo();
}

/** What the CPU backend chose and why (detects the runtime's features if not done yet). */
export function cpuInfo(): CpuInfo {
  const f = wasmFeatures();
  const rt = wasmRuntime();
  return {
    wasm: rt !== null,
    simd: f.simd,
    relaxedSimd: f.relaxedSimd,
    fma: rt?.options.fma ?? false,
    threads: rt?.options.threads ?? 1,
    activeThreads: rt?.activeThreads() ?? 1,
    notes: [...notes, ...(rt?.problems() ?? [])],
  };
}

/** Stops the worker threads (a later large kernel starts them again). */
export function shutdownCpuThreads(): void {
  runtime?.stop();
  runtime = undefined;
}

/** The Wasm runtime, created at first call; null when the JavaScript kernels are to run. */
export function wasmRuntime(): WasmRuntime | null {
  if (runtime !== undefined) return runtime;
  const f = wasmFeatures();
  notes = [...f.notes];
  if (options.wasm === false) {
    notes.push('wasm: false was configured: JavaScript kernels');
    runtime = null;
  } else if (!f.simd) {
    notes.push('JavaScript kernels (no WebAssembly SIMD here)');
    runtime = null;
  } else {
    const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? nodeCores();
    let threads = options.threads ?? Math.min(DEFAULT_MAX_THREADS, Math.max(1, cores));
    if (threads > 1 && !f.threads) {
      notes.push(`${threads} threads asked for, but this runtime has no shared memory: one thread`);
      threads = 1;
    }
    const fma = f.relaxedSimd && options.fma !== false;
    try {
      // Shared memory whenever the runtime has it, threads or not: only then can arrays stay resident (heap.ts).
      runtime = new WasmRuntime({ fma, threads, shared: f.threads });
    } catch (e) {
      notes.push(`WebAssembly kernels failed to start (${(e as Error).message}): JavaScript kernels`);
      runtime = null;
    }
  }
  return runtime;
}

/** Cores in Node (>= 20.16) and Deno without an import (process.getBuiltinModule); 1 when unknown. */
function nodeCores(): number {
  type Os = { availableParallelism?: () => number; cpus?: () => unknown[] };
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = proc?.getBuiltinModule?.('node:os') as Os | undefined;
  return os?.availableParallelism?.() ?? os?.cpus?.().length ?? 1;
}
