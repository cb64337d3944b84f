import { expect, it } from 'vitest';
import { acquireDevice, captureErrors, deviceError, lastUncapturedError, releaseDevice, untilLost, webgpuAvailable } from '../../kernels/webgpu/device.ts';
import { describeGpu } from './gpu-available.ts';
import { runSmokeKernel, smokeInput, smokeMismatch, SMOKE_N } from './smoke-kernel.ts';

await describeGpu('WebGPU device (node)', ({ detail }) => {
  it('reports the adapter and the host', async () => {
    const { adapterInfo, host } = await acquireDevice();
    console.info(`WebGPU adapter (node): ${adapterInfo}`);
    expect(host).toBe('node');
    expect(adapterInfo).toBe(detail);
    expect(await webgpuAvailable()).toBe(true);
  });

  it('grants the adapter limits the kernels need, not the spec defaults', async () => {
    const { device } = await acquireDevice();
    // Spec defaults are 256 invocations and 128 MiB per binding; every driver we use offers more or equal.
    expect(device.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    expect(device.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
  });

  it('runs y = 2x + 1 over 1000 elements and reads it back', async () => {
    const { device } = await acquireDevice();
    const x = smokeInput();
    const y = await runSmokeKernel(device, x);
    expect(y.length).toBe(SMOKE_N);
    expect(smokeMismatch(x, y)).toBeNull();
    expect(Array.from(y.subarray(0, 3))).toEqual([-124, -123.75, -123.5]);
    expect(deviceError()).toBeNull();
  });

  it('records an uncaptured validation error instead of failing silently, and the device stays usable', async () => {
    const { device } = await acquireDevice();
    // A buffer with MAP_READ | STORAGE usage is invalid in WebGPU.
    device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    await device.queue.onSubmittedWorkDone();
    await expect.poll(() => lastUncapturedError()?.message, { timeout: 5000 }).toMatch(/validation error/i);
    // The error spoiled that call, not the device.
    expect(deviceError()).toBeNull();
    const x = smokeInput(64);
    expect(smokeMismatch(x, await runSmokeKernel(device, x))).toBeNull();
  });

  it('captureErrors throws scoped errors with the operation name', async () => {
    const { device } = await acquireDevice();
    const invalid = () => device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    await expect(captureErrors(device, 'smoke: staging buffer', invalid)).rejects.toThrow(
      /^smoke: staging buffer: WebGPU validation error: /,
    );
    const ok = await captureErrors(device, 'smoke: x', () => device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }));
    ok.destroy();
  });

  it('acquires a fresh device after release', async () => {
    const first = (await acquireDevice()).device;
    await releaseDevice();
    expect(deviceError()).toBeNull();
    const second = (await acquireDevice()).device;
    expect(second).not.toBe(first);
    const x = smokeInput(64);
    expect(smokeMismatch(x, await runSmokeKernel(second, x))).toBeNull();
  });

  it('reports a lost device, rejects waits on it, and starts over', async () => {
    const { device } = await acquireDevice();
    const wait = untilLost(device, new Promise<never>(() => {}));
    device.destroy(); // not via releaseDevice(): counts as a loss
    await expect(wait).rejects.toThrow(/device lost \(destroyed\)/);
    expect(deviceError()?.message).toMatch(/device lost \(destroyed\)/);
    const fresh = (await acquireDevice()).device;
    expect(fresh).not.toBe(device);
    expect(deviceError()).toBeNull();
  });
});
