/**
 * The WebGPU backend's mechanics: zero-copy aliases with reference counts, the scalar cache,
 * enqueue-only ops with batched submits, the pools and caches reaching a steady state, float64
 * rejected with the op's name, zero-size tensors, and a read that surfaces a bad kernel.
 */
import { beforeAll, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import { GpuStorage, WebGpuBackend } from '../../kernels/webgpu/backend.ts';
import { acquireDevice } from '../../kernels/webgpu/device.ts';
import { lazyProgram, UniformBlock } from '../../kernels/wgsl/common.ts';
import { describeGpu } from './gpu-available.ts';
import { evaluate, useWebGpu } from './util.ts';

let gpu: WebGpuBackend;

await describeGpu('WebGPU backend mechanics', () => {
  beforeAll(async () => {
    gpu = await useWebGpu();
  });

  it('is what setBackend / initBackend pick, and reports its adapter', async () => {
    expect(gpu.name).toBe('webgpu');
    expect(gpu.adapterInfo).toBe((await acquireDevice()).adapterInfo);
    expect((await tg.initBackend()).backend).toBe(gpu);
    expect(tg.getBackend()).toBe(gpu);
  });

  it('reshape, identity and stopGradient share storage; the buffer is freed with its last holder', async () => {
    const before = gpu.stats();
    const x = tg.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const r = tg.reshape(x, [3, 2]);
    const i = tg.identity(r);
    const s = tg.stopGradient(i);
    expect(r.storage).toBe(x.storage);
    expect(s.storage).toBe(x.storage);
    expect((x.storage as GpuStorage).refs).toBe(4);
    expect(gpu.liveCount()).toBe(before.liveStorages + 4);
    expect(gpu.stats().liveBuffers).toBe(before.liveBuffers + 1);
    expect(gpu.stats().dispatches).toBe(before.dispatches);
    x.dispose();
    r.dispose();
    i.dispose();
    expect(Array.from(await s.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(gpu.stats().liveBuffers).toBe(before.liveBuffers + 1);
    s.dispose();
    expect(gpu.liveCount()).toBe(before.liveStorages);
    expect(gpu.stats().liveBuffers).toBe(before.liveBuffers);
  });

  it('caches promoted scalars by value: no upload for a constant seen before', async () => {
    const x = tg.tensor([1, 2, 3]);
    const first = tg.mul(x, 0.125);
    const stats = gpu.stats();
    const second = tg.mul(x, 0.125);
    const after = gpu.stats();
    expect(after.uploads).toBe(stats.uploads);
    expect(after.scalarHits).toBe(stats.scalarHits + 1);
    expect(Array.from(await second.data())).toEqual([0.125, 0.25, 0.375]);
    tg.dispose([x, first, second]);
  });

  it('ops only enqueue: a long chain submits in batches and reads back once', async () => {
    const before = gpu.stats();
    const y = tg.tidy(() => {
      let t = tg.tensor([0.5, -0.25, 2]);
      for (let k = 0; k < 200; k++) t = tg.add(tg.mul(t, 1), 1);
      return t;
    });
    const mid = gpu.stats();
    expect(mid.readbacks).toBe(before.readbacks);
    expect(mid.dispatches - before.dispatches).toBe(400);
    // 64 dispatches per submit by default: a handful of submits, not one per dispatch.
    expect(mid.submits - before.submits).toBeLessThanOrEqual(7);
    expect(Array.from(await y.data())).toEqual([200.5, 199.75, 202]);
    expect(gpu.stats().readbacks).toBe(before.readbacks + 1);
    y.dispose();
  });

  it('reaches a steady state: pipelines, buffers and bind groups are reused step after step', async () => {
    const step = () => tg.tidy(() => {
      const a = tg.tensor(new Float32Array(1000).fill(1), [10, 100]);
      return tg.sum(tg.tanh(tg.matmul(a, tg.transpose(a))));
    });
    await evaluate(() => [step()]);
    await evaluate(() => [step()]);
    const before = gpu.stats();
    for (let k = 0; k < 20; k++) await evaluate(() => [step()]);
    const after = gpu.stats();
    expect(after.pipelines).toBe(before.pipelines);
    expect(after.buffersCreated).toBe(before.buffersCreated);
    expect(after.bindGroupMisses).toBe(before.bindGroupMisses);
    expect(after.liveBuffers).toBe(before.liveBuffers);
  });

  it('rejects float64 with an error naming the op', () => {
    const x = tg.tensor([1, 2]);
    expect(() => tg.cast(x, 'float64')).toThrow(/^cast: the webgpu backend does not support float64/);
    expect(() => tg.tensor([1, 2], undefined, 'float64')).toThrow(/webgpu backend does not support float64/);
    expect(() => gpu.upload(new Float64Array(2), [2], 'float64')).toThrow(/^upload: the webgpu backend supports float32 and int32, got float64/);
    expect(gpu.supportsDType('float32')).toBe(true);
    expect(gpu.supportsDType('int32')).toBe(true);
    expect(gpu.supportsDType('float64')).toBe(false);
    expect(tg.cast(x, 'float32')).toBe(x);
    x.dispose();
  });

  it('reads asynchronously only', () => {
    const x = tg.tensor([1]);
    expect(() => x.dataSync()).toThrow(/dataSync: the webgpu backend reads asynchronously/);
    x.dispose();
  });

  it('handles zero-size tensors', async () => {
    const [e, padded, cat, prod] = await evaluate(() => {
      const empty = tg.zeros([0, 3]);
      return [
        tg.exp(empty),
        tg.pad(tg.zeros([2, 0]), [0, 1], [1, 1], [0, 0], 7),
        tg.concat([tg.zeros([2, 0]), tg.ones([2, 2])], 1),
        tg.matmul(tg.zeros([2, 0]), tg.zeros([0, 3])),
      ];
    });
    expect(e.shape).toEqual([0, 3]);
    expect(e.data.length).toBe(0);
    expect(Array.from(padded.data)).toEqual([7, 7, 7, 7, 7, 7]);
    expect(Array.from(cat.data)).toEqual([1, 1, 1, 1]);
    expect(Array.from(prod.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('reads many tensors concurrently', async () => {
    const xs = Array.from({ length: 20 }, (_, k) => tg.mul(tg.ones([k + 1]), k));
    const values = await Promise.all(xs.map((x) => x.data()));
    values.forEach((v, k) => expect(Array.from(v)).toEqual(new Array(k + 1).fill(k)));
    tg.dispose(xs);
  });
});

await describeGpu('WebGPU backend errors', () => {
  it('a kernel that fails to compile makes read() reject naming the op and the program; the backend goes on', async () => {
    const { device, adapterInfo } = await acquireDevice();
    const b = new WebGpuBackend(device, adapterInfo);
    const program = lazyProgram('broken-kernel', 0, new UniformBlock().u32('n', 1).words(), [1, 1, 1], 1, () => 'this is not WGSL');
    const out = b.runProgram('myop', program, []);
    await expect(b.read(out, [1], 'float32')).rejects.toThrow(/myop: compiling WGSL program 'broken-kernel': WebGPU validation error/);
    // An op on the spoiled values names their cause; the same backend runs anything else.
    expect(() => b.run('neg', [{ storage: out, shape: [1], dtype: 'float32' }], undefined, [1], 'float32')).toThrow(
      /^neg \[1\] -> \[1\]: input 0 \[1\] holds no valid values: myop: compiling WGSL program 'broken-kernel'/,
    );
    expect(b.failed).toBeNull();
    const x = b.upload(Float32Array.from([1, -2]), [2], 'float32');
    const y = b.run('neg', [{ storage: x, shape: [2], dtype: 'float32' }], undefined, [2], 'float32');
    expect(Array.from(await b.read(y, [2], 'float32'))).toEqual([-1, 2]);
  });

  it('a lost device rejects reads with the reason instead of hanging', async () => {
    // Not the registered instance: the previous suite released its device.
    const b = await WebGpuBackend.create();
    const x = tg.exp(tg.tensor([1, 2, 3], undefined, 'float32', b));
    b.device.destroy();
    await expect(x.data()).rejects.toThrow(/^read \[3\]: the readback failed: WebGPU device lost \(destroyed\)/);
    expect(() => tg.exp(x)).toThrow(/^exp: the WebGPU backend cannot run: WebGPU device lost \(destroyed\)/);
  });

  it('a backend whose device was released says so instead of failing obscurely', () => {
    // The registered instance outlived the previous suite's releaseDevice().
    expect(() => tg.tensor([1], undefined, 'float32', gpu)).toThrow(/upload: the WebGPU backend cannot run: WebGPU device lost \(destroyed\)/);
    expect(gpu.failed?.message).toMatch(/^WebGPU device lost \(destroyed\)/);
  });
});
