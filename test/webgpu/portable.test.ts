/** The host-portable kernel checks (portable-checks.ts) in Node; Deno and Chromium run the same list. */
import { expect, it } from 'vitest';
import { describeGpu } from './gpu-available.ts';
import { CHECKS, kernelReport } from './portable-checks.ts';

await describeGpu('portable kernel checks (node)', () => {
  it('elementwise, reduce, movement, matmul, conv2d and gradients on WebGPU match the CPU backend', async () => {
    const report = await kernelReport();
    if (!report.available) throw new Error(report.error);
    expect(report.host).toBe('node');
    expect(report.checks.map((c) => c.name)).toEqual(CHECKS.map((c) => c.name));
    for (const c of report.checks) expect(c.error, `${c.name} (${JSON.stringify(c.shapes)}): error / tolerance`).toBeLessThanOrEqual(1);
  });
});
