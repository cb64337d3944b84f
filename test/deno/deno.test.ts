import { expect, it } from 'vitest';
import { CHECKS, type KernelReport } from '../webgpu/portable-checks.ts';
import { describeIfAvailable, type Availability } from '../webgpu/gpu-available.ts';
import type { SmokeReport } from '../webgpu/smoke-kernel.ts';
import { denoMissing, runDeno } from './run-deno.ts';

// Run once at collection time: whether Deno has an adapter decides run / skip / fail.
const missing = denoMissing();
const report = missing ? null : ((await runDeno('test/deno/smoke-entry.ts')).json as SmokeReport);
const availability: Availability = missing
  ? { available: false, detail: missing }
  : report!.available
    ? { available: true, detail: report!.adapterInfo }
    : { available: false, detail: `deno: ${report!.error}` };

describeIfAvailable('WebGPU in Deno', availability, () => {
  it('runs y = 2x + 1 over 1000 elements on navigator.gpu', () => {
    if (!report?.available) throw new Error('unreachable: suite runs only with an adapter');
    console.info(`WebGPU adapter (deno): ${report.adapterInfo}`);
    expect(report.host).toBe('deno');
    expect(report.n).toBe(1000);
    expect(report.mismatch).toBeNull();
    expect(report.head).toEqual([-124, -123.75, -123.5, -123.25]);
  });

  it('runs the engine on the WebGPU backend: elementwise, reduce, movement, matmul, conv2d and gradients match the CPU backend', async () => {
    const kernels = (await runDeno('test/deno/kernels-entry.ts', [], 240_000)).json as KernelReport;
    if (!kernels.available) throw new Error(`deno: the smoke test found an adapter but the backend did not: ${kernels.error}`);
    console.info(`WebGPU kernel checks (deno, ${kernels.adapterInfo}): ${kernels.checks.length} checks in ${kernels.ms} ms`);
    expect(kernels.host).toBe('deno');
    expect(kernels.checks.map((c) => c.name)).toEqual(CHECKS.map((c) => c.name));
    for (const c of kernels.checks) expect(c.error, `${c.name} (${JSON.stringify(c.shapes)}): error / tolerance`).toBeLessThanOrEqual(1);
  });
});
