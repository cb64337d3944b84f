/**
 * The Wasm runtime's failure paths: a job that traps in any thread surfaces as an error (not a
 * hang) and the runtime keeps working; a runtime that forbids compiling (a strict
 * Content-Security-Policy) is detected and recorded, so the JavaScript kernels run.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LAYOUT } from '../../../kernels/wasm/control.ts';
import { detectWasmFeatures, wasmFeatures } from '../../../kernels/wasm/features.ts';
import { wasmGemm } from '../../../kernels/wasm/gemm.ts';
import { GEMM_DESC } from '../../../kernels/wasm/gemm-kernels.ts';
import { WasmRuntime } from '../../../kernels/wasm/runtime.ts';
import { randomArray } from '../../random-array.ts';

const features = wasmFeatures();
let rt: WasmRuntime;

beforeAll(async () => {
  const threads = features.threads ? 3 : 1;
  rt = new WasmRuntime({ fma: false, threads, shared: threads > 1 });
  await rt.started();
});
afterAll(() => rt?.stop());

describe.skipIf(!features.simd)('Wasm runtime failures', () => {
  it('a job that traps (here: operands outside the memory) throws in the caller, then the runtime still computes', () => {
    const d = new Int32Array(rt.memory.buffer, LAYOUT.desc, GEMM_DESC.words);
    d.set([64, 64, 64, 0x7ff00000, 256, 4, 0x7ff00000, 4, 256, rt.heapBase, 256, 8, 64, 8]);
    expect(() => rt.runJobs('gemm_f32', LAYOUT.desc, 8)).toThrow(/out of bounds|memory access/i);
    // Afterwards an ordinary product is right.
    const m = 37, n = 29, k = 41;
    const a = randomArray('float64', m * k, 1), b = randomArray('float64', k * n, 2), c = new Float64Array(m * n);
    expect(wasmGemm(rt, m, n, k, a, 0, false, b, 0, false, c, 0)).toBe(true);
    let worst = 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
        worst = Math.max(worst, Math.abs(s - c[i * n + j]));
      }
    }
    expect(worst).toBeLessThan(1e-13);
  });

  it('a runtime that refuses to compile WebAssembly (strict CSP) is detected with the reason', () => {
    const spy = vi.spyOn(WebAssembly, 'Module').mockImplementation(() => {
      throw new WebAssembly.CompileError('WebAssembly.Module(): Wasm code generation disallowed by embedder');
    });
    try {
      const f = detectWasmFeatures();
      expect(f).toMatchObject({ wasm: false, simd: false, relaxedSimd: false, threads: false });
      expect(f.notes.join(' ')).toMatch(/wasm-unsafe-eval/);
    } finally {
      spy.mockRestore();
    }
  });
});
