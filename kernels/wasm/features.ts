/**
 * What this runtime lets the CPU backend use, found at first use (never at import, so importing
 * the library costs nothing and a strict page does not see a failed compile before it asks for
 * work): WebAssembly itself, whether compiling is allowed at all (a Content-Security-Policy
 * without 'wasm-unsafe-eval' makes WebAssembly.Module throw), 128-bit SIMD, relaxed SIMD (fused
 * multiply-add), and shared memory with Atomics.wait on this thread (threads).
 */
import { Body, ModuleBuilder } from './emitter.ts';

export interface WasmFeatures {
  /** WebAssembly exists and compiling a module is allowed. */
  wasm: boolean;
  simd: boolean;
  relaxedSimd: boolean;
  /** SharedArrayBuffer, a shared WebAssembly.Memory, and Atomics.wait allowed on this thread. */
  threads: boolean;
  /** Why something is missing (empty when everything is there). */
  notes: string[];
}

/** A module with one function whose body is `emit`; its bytes, for validation. */
function probe(emit: (f: Body) => void, shared = false): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1, maximum: shared ? 1 : undefined, shared });
  const f = new Body([], []);
  emit(f);
  mod.func(f, 'probe');
  return mod.encode();
}

let detected: WasmFeatures | undefined;

/** The features, detected once (at the first call). */
export function wasmFeatures(): WasmFeatures {
  detected ??= detectWasmFeatures();
  return detected;
}

/** Detects the features now (uncached; tests use it to simulate a runtime that forbids compiling). */
export function detectWasmFeatures(): WasmFeatures {
  const notes: string[] = [];
  const none = (why: string): WasmFeatures => ({ wasm: false, simd: false, relaxedSimd: false, threads: false, notes: [why] });
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.Module !== 'function') return none('no WebAssembly in this runtime');
  try {
    // Compiling (not just validating) is what a CSP forbids.
    new WebAssembly.Module(probe(() => {}));
  } catch (e) {
    return none(`compiling WebAssembly is not allowed here (${(e as Error).message}); a Content-Security-Policy needs 'wasm-unsafe-eval'`);
  }
  const simd = WebAssembly.validate(probe((f) => { f.f32(1).simd('f32x4.splat').f32(2).simd('f32x4.splat').simd('f32x4.add').op('drop'); }));
  if (!simd) notes.push('no WebAssembly SIMD');
  const relaxedSimd = simd && WebAssembly.validate(probe((f) => {
    f.f32(1).simd('f32x4.splat').f32(2).simd('f32x4.splat').f32(3).simd('f32x4.splat').simd('f32x4.relaxed_madd').op('drop');
  }));
  if (simd && !relaxedSimd) notes.push('no relaxed SIMD: multiply and add are separate');
  let threads = false;
  try {
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
    if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') {
      notes.push('no SharedArrayBuffer (a page must be cross-origin isolated): one thread');
    } else if (isolated === false) {
      notes.push('page not cross-origin isolated: one thread');
    } else {
      const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      if (!(memory.buffer instanceof SharedArrayBuffer)) throw new Error('memory is not shared');
      // A browser's main thread may not block: Atomics.wait throws there.
      Atomics.wait(new Int32Array(memory.buffer), 0, 1, 0);
      new WebAssembly.Module(probe(() => {}, true));
      threads = true;
    }
  } catch (e) {
    notes.push(`no threads (${(e as Error).message}): one thread`);
  }
  return { wasm: true, simd, relaxedSimd, threads, notes };
}
