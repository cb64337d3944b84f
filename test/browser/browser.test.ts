import { afterAll, expect, it } from 'vitest';
import { describeIfAvailable } from '../webgpu/gpu-available.ts';
import { CHECKS, type KernelReport } from '../webgpu/portable-checks.ts';
import type { SmokeReport } from '../webgpu/smoke-kernel.ts';
import { closeBrowser, probeBrowserGpu, runInBrowser } from './harness.ts';

// Probed at collection time: whether Chromium has an adapter decides run / skip / fail.
const availability = await probeBrowserGpu();
// Not inside the suite: the probe may have launched the browser even when it then failed.
afterAll(closeBrowser);

describeIfAvailable('WebGPU in Chromium', availability, () => {
  it('runs y = 2x + 1 over 1000 elements in a page', async () => {
    const report = (await runInBrowser('web/smoke.ts')) as SmokeReport;
    if (!report.available) throw new Error(`the probe found an adapter but the page did not: ${report.error}`);
    console.info(`WebGPU adapter (browser): ${report.adapterInfo}`);
    expect(report.host).toBe('browser');
    expect(report.n).toBe(1000);
    expect(report.mismatch).toBeNull();
    expect(report.head).toEqual([-124, -123.75, -123.5, -123.25]);
  });

  it('runs the engine on WebGPU in a page: matmul, conv2d, gradients and the other kernels match the CPU backend there', async () => {
    const report = (await runInBrowser('web/kernels.ts', null, 240_000)) as KernelReport;
    if (!report.available) throw new Error(`the probe found an adapter but the backend did not: ${report.error}`);
    console.info(`WebGPU kernel checks (browser, ${report.adapterInfo}): ${report.checks.length} checks in ${report.ms} ms`);
    expect(report.host).toBe('browser');
    expect(report.checks.map((c) => c.name)).toEqual(CHECKS.map((c) => c.name));
    for (const c of report.checks) expect(c.error, `${c.name} (${JSON.stringify(c.shapes)}): error / tolerance`).toBeLessThanOrEqual(1);
  });

  it('passes an argument to the entry and reports page errors', async () => {
    await expect(runInBrowser('test/browser/fixtures/echo.ts', { fail: true })).rejects.toThrow(/echo: asked to fail/);
    expect(await runInBrowser('test/browser/fixtures/echo.ts', { n: 3, s: '</script>' })).toEqual({
      echoed: { n: 3, s: '</script>' },
    });
  });
});
