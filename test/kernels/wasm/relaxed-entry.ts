// Run by gemm.test.ts in a Node child started with --experimental-wasm-relaxed-simd: the Wasm GEMM
// with relaxed-SIMD fused multiply-add against the float64 reference. Prints one JSON line.
import fc from 'fast-check';
import { wasmFeatures } from '../../../kernels/wasm/features.ts';
import { wasmGemm } from '../../../kernels/wasm/gemm.ts';
import { WasmRuntime } from '../../../kernels/wasm/runtime.ts';
import { gemmCaseArb, gemmMismatch } from './gemm-check.ts';

const relaxedSimd = wasmFeatures().relaxedSimd;
const failures: string[] = [];
let cases = 0;
if (relaxedSimd) {
  const rt = new WasmRuntime({ fma: true, threads: 1, shared: false });
  const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : Date.now();
  for (const t of fc.sample(gemmCaseArb(140), { numRuns: 40, seed })) {
    cases++;
    const why = gemmMismatch((...args) => {
      if (!wasmGemm(rt, ...args)) throw new Error('wasmGemm declined');
    }, t);
    if (why !== '') failures.push(`${why} (seed ${seed})`);
  }
}
console.log(JSON.stringify({ relaxedSimd, cases, failures }));
