import { afterAll, expect, it } from 'vitest';
import { describeIfAvailable } from '../webgpu/gpu-available.ts';
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

  it('passes an argument to the entry and reports page errors', async () => {
    await expect(runInBrowser('test/browser/fixtures/echo.ts', { fail: true })).rejects.toThrow(/echo: asked to fail/);
    expect(await runInBrowser('test/browser/fixtures/echo.ts', { n: 3, s: '</script>' })).toEqual({
      echoed: { n: 3, s: '</script>' },
    });
  });
});
