/**
 * A quick probe of the CPU matmul kernels: our gemm (Wasm or JS, as configured) interleaved with
 * tfjs-wasm on the same float32 data, best and median of a few runs. For tuning, not for the README:
 * `npx tsx bench/gemm-probe.ts [threads] [sizes...]`.
 */
import { configureCpu } from '../kernels/cpu/config.ts';
import { gemm } from '../kernels/cpu/gemm.ts';
import { useTfjs } from './peers/tfjs.ts';
import { median } from './harness.ts';

const threads = Number(process.argv[2] ?? 1);
const sizes = process.argv.slice(3).map(Number);
console.log(await configureCpu({ threads }));
const tf = await useTfjs('tfjs-wasm');
for (const N of sizes.length ? sizes : [512, 1024]) {
  const a = new Float32Array(N * N).map(() => Math.random()), b = new Float32Array(N * N).map(() => Math.random());
  const a64 = Float64Array.from(a), b64 = Float64Array.from(b);
  const c = new Float32Array(N * N), c64 = new Float64Array(N * N);
  const ta = tf.tensor(a, [N, N]), tb = tf.tensor(b, [N, N]);
  const t: Record<string, number[]> = { ours32: [], ours64: [], tfjs: [] };
  for (let r = 0; r < 6; r++) {
    let t0 = performance.now();
    gemm(N, N, N, a, 0, false, b, 0, false, c, 0);
    t.ours32.push(performance.now() - t0);
    t0 = performance.now();
    gemm(N, N, N, a64, 0, false, b64, 0, false, c64, 0);
    t.ours64.push(performance.now() - t0);
    t0 = performance.now();
    const p = tf.matMul(ta, tb);
    await p.data();
    p.dispose();
    t.tfjs.push(performance.now() - t0);
  }
  for (const [k, v] of Object.entries(t)) {
    const s = v.slice(1);
    console.log(`${N} ${k.padEnd(7)} median ${median(s).toFixed(1)} ms  best ${Math.min(...s).toFixed(1)} ms  ${(2 * N ** 3 / Math.min(...s) / 1e6).toFixed(1)} GFLOP/s (best)`);
  }
}
process.exit(0);
