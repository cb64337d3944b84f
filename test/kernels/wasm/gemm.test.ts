/**
 * The Wasm SIMD GEMM against a float64 reference: random sizes that do not divide the tiles, both
 * transposes, offsets, float32 and float64, multiply + add and (where the runtime has relaxed
 * SIMD) fused multiply-add; thread counts 1, 2 and 3 bit-identical; and the JavaScript fallback is
 * what runs when asked for.
 *
 * Tolerance: float32 accumulates in float32, one depth block of KC = 256 terms in registers, then
 * block sums added to C, so |error| <= (min(k, 256) + ceil(k / 256) + 1) * 2^-24 * sum_p |a_ip b_pj|
 * (the standard recursive-summation bound); float64 the same with 2^-53.
 */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DType, TypedArray } from '../../../engine/dtype.ts';
import { configureCpu, cpuInfo, shutdownCpuThreads, wasmRuntime } from '../../../kernels/cpu/config.ts';
import { gemm, gemmBlocked } from '../../../kernels/cpu/gemm.ts';
import { wasmFeatures } from '../../../kernels/wasm/features.ts';
import { wasmGemm } from '../../../kernels/wasm/gemm.ts';
import { WasmRuntime } from '../../../kernels/wasm/runtime.ts';
import { randomArray } from '../../random-array.ts';
import { gemmCaseArb, gemmMismatch, type GemmCase } from './gemm-check.ts';

const features = wasmFeatures();
const threadCounts = features.threads ? [1, 2, 3] : [1];
const runtimes = new Map<number, WasmRuntime>();

beforeAll(async () => {
  for (const t of threadCounts) {
    const rt = new WasmRuntime({ fma: false, threads: t, shared: t > 1 });
    await rt.started();
    runtimes.set(t, rt);
  }
});

afterAll(() => {
  for (const rt of runtimes.values()) rt.stop();
  shutdownCpuThreads();
});

describe.skipIf(!features.simd)('Wasm SIMD gemm', () => {
  it('thread pools start every worker', () => {
    for (const [t, rt] of runtimes) expect(rt.activeThreads()).toBe(t);
  });

  it('matches the float64 reference: random sizes, transposes, offsets, both dtypes (multiply + add)', () => {
    const rt = runtimes.get(1)!;
    fc.assert(fc.property(gemmCaseArb(140), (t) => {
      expect(gemmMismatch((...args) => { expect(wasmGemm(rt, ...args)).toBe(true); }, t)).toBe('');
    }), { numRuns: 60 });
  });

  it('handles one large dimension (up to 300) and depths past one block', () => {
    const rt = runtimes.get(1)!;
    fc.assert(fc.property(gemmCaseArb(300, 24), (t) => {
      expect(gemmMismatch((...args) => { expect(wasmGemm(rt, ...args)).toBe(true); }, t)).toBe('');
    }), { numRuns: 12 });
  });

  it.skipIf(!features.relaxedSimd)('matches the reference with relaxed-SIMD fused multiply-add', () => {
    const rt = new WasmRuntime({ fma: true, threads: 1, shared: false });
    fc.assert(fc.property(gemmCaseArb(140), (t) => {
      expect(gemmMismatch((...args) => { expect(wasmGemm(rt, ...args)).toBe(true); }, t)).toBe('');
    }), { numRuns: 40 });
  });

  it.skipIf(features.relaxedSimd)('matches the reference with relaxed-SIMD FMA (in a Node child with the flag)', () => {
    // Node 20's V8 has relaxed SIMD behind a flag: run the same property there.
    let out: string;
    try {
      out = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', 'test/kernels/wasm/relaxed-entry.ts'], {
        encoding: 'utf8', timeout: 100_000, env: { ...process.env },
      });
    } catch (e) {
      throw new Error(`relaxed-SIMD child failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
    }
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as { relaxedSimd: boolean; cases: number; failures: string[] };
    if (!report.relaxedSimd) return; // this Node has no relaxed SIMD even with the flag
    expect(report.failures).toEqual([]);
    expect(report.cases).toBeGreaterThan(0);
  });

  it.skipIf(threadCounts.length < 3)('thread counts 1, 2 and 3 give bit-identical results', () => {
    fc.assert(fc.property(gemmCaseArb(200), ({ m, n, k, transA, transB, aOff, bOff, cOff, dtype, seed }) => {
      const a = randomArray(dtype, aOff + m * k, seed);
      const b = randomArray(dtype, bOff + k * n, seed + 1);
      const outs = threadCounts.map((t) => {
        const c = randomArray(dtype, cOff + m * n, 0);
        expect(wasmGemm(runtimes.get(t)!, m, n, k, a, aOff, transA, b, bOff, transB, c, cOff)).toBe(true);
        return c;
      });
      for (const c of outs.slice(1)) expect(bits(c)).toEqual(bits(outs[0]));
    }), { numRuns: 25 });
  });
});

describe('the gemm entry dispatches as configured', () => {
  const m = 67, n = 45, k = 131;
  const run = (dtype: DType, impl: typeof gemm) => {
    const a = randomArray(dtype, m * k, 1), b = randomArray(dtype, k * n, 2);
    const c = randomArray(dtype, m * n, 0);
    impl(m, n, k, a, 0, false, b, 0, true, c, 0);
    return c;
  };

  it('wasm: false runs the JavaScript kernels (bit-identical to them), single-threaded', async () => {
    const info = await configureCpu({ wasm: false, threads: 1 });
    expect(info.wasm).toBe(false);
    expect(info.notes.join(' ')).toMatch(/wasm: false/);
    for (const dtype of ['float32', 'float64'] as const) expect(bits(run(dtype, gemm))).toEqual(bits(run(dtype, gemmBlocked)));
  });

  it.skipIf(!features.simd)('by default large products run the Wasm kernels (bit-identical to them)', async () => {
    const info = await configureCpu({ threads: 1 });
    expect(info.wasm).toBe(true);
    const rt = wasmRuntime()!;
    for (const dtype of ['float32', 'float64'] as const) {
      const viaWasm = run(dtype, (...args) => { expect(wasmGemm(rt, ...args)).toBe(true); });
      expect(bits(run(dtype, gemm))).toEqual(bits(viaWasm));
    }
  });

  it('rejects a bad thread count with the option named', async () => {
    await expect(configureCpu({ threads: 0 })).rejects.toThrow(/threads/);
    await expect(configureCpu({ threads: 2.5 })).rejects.toThrow(/threads/);
    expect(cpuInfo().threads).toBeGreaterThanOrEqual(1);
  });
});

function bits(x: TypedArray): number[] {
  return [...new Uint32Array(x.buffer, x.byteOffset, x.byteLength / 4)];
}

export type { GemmCase };
