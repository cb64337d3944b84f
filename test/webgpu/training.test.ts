/**
 * Training on WebGPU end to end: a model with convolutions, a residual branch and dense layers,
 * 1,000 full steps (forward, backward, SGD update) that never read back, with flat memory; the
 * final loss matches a float64 CPU run of the same steps.
 */
import { beforeAll, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Backend, Tensor } from '../../engine/index.ts';
import type { WebGpuBackend } from '../../kernels/webgpu/backend.ts';
import { Conv, Dense, fanInSum, fanOut, GlobalAvgPool, gradientDescent, Identity, mseLoss, parallel, Relu, serial, type Params } from '../../models/index.ts';
import { describeGpu } from './gpu-available.ts';
import { cpuBackend, useWebGpu } from './util.ts';

const STEPS = 1000;
const BATCH = 8;

const net = serial(
  Conv(4, [3, 3], { padding: 'SAME', W_std: 1.4, b_std: 0.1 }),
  Relu(),
  fanOut(2),
  parallel(serial(Conv(4, [3, 3], { padding: 'SAME', W_std: 1.4, b_std: 0.1 }), Relu()), Identity()),
  fanInSum(),
  GlobalAvgPool(),
  Dense(8, { W_std: 1.4, b_std: 0.1 }),
  Relu(),
  Dense(1, { W_std: 1.4, b_std: 0.1 }),
);
const loss = mseLoss('mean/2');
const optimizer = gradientDescent(0.5);
const objective = tg.valueAndGrad((p: Params, x: Tensor, y: Tensor) => loss(net.apply(p, x) as Tensor, y));

/**
 * Trains on `backend` for STEPS steps. Losses stay on the device: the first and the last are
 * read after the loop, so the loop itself reads nothing back.
 */
async function trainOn(backend: Backend, dtype: 'float32' | 'float64', onStep?: (step: number) => void): Promise<{ first: number; last: number }> {
  const previous = tg.getBackend();
  await tg.setBackend(backend.name);
  try {
    const [kInit, kx, ky] = tg.split(tg.key(7), 3);
    const x = tg.normal(kx, [BATCH, 6, 6, 2], dtype);
    const y = tg.normal(ky, [BATCH, 1], dtype);
    let params = net.init(kInit, [BATCH, 6, 6, 2], dtype).params;
    let firstLoss: Tensor | null = null;
    let lastLoss: Tensor | null = null;
    for (let step = 0; step < STEPS; step++) {
      const out = tg.tidy(() => {
        const [value, grads] = objective(params, x, y) as [Tensor, Params];
        return { value, params: optimizer.update(params, grads, null).params };
      });
      tg.dispose(params);
      params = out.params;
      if (step === 0) firstLoss = out.value;
      else {
        lastLoss?.dispose();
        lastLoss = out.value;
      }
      onStep?.(step);
    }
    const [first] = await firstLoss!.data();
    const [last] = await lastLoss!.data();
    tg.dispose([x, y, params, firstLoss, lastLoss]);
    return { first, last };
  } finally {
    await tg.setBackend(previous.name);
  }
}

let gpu: WebGpuBackend;

await describeGpu('training on WebGPU', () => {
  beforeAll(async () => {
    gpu = await useWebGpu();
  });

  it(`${STEPS} SGD steps of a conv + residual + dense model: no readback, flat memory, the CPU float64 loss`, async () => {
    const tensorsBefore = tg.liveTensorCount();
    let at10: ReturnType<WebGpuBackend['stats']> | null = null;
    let at10Tensors = 0;
    let atEnd: ReturnType<WebGpuBackend['stats']> | null = null;
    const t0 = performance.now();
    const onGpu = await trainOn(gpu, 'float32', (step) => {
      if (step === 10) {
        at10 = gpu.stats();
        at10Tensors = tg.liveTensorCount();
      }
      if (step === STEPS - 1) atEnd = gpu.stats();
    });
    const gpuMs = performance.now() - t0;
    const t1 = performance.now();
    const onCpu = await trainOn(cpuBackend(), 'float64');
    const cpuMs = performance.now() - t1;
    const s10 = at10!;
    const end = atEnd!;
    console.info(
      `training: ${STEPS} steps on WebGPU in ${gpuMs.toFixed(0)} ms (${(end.dispatches - s10.dispatches) / (STEPS - 11)} dispatches and ` +
        `${((end.submits - s10.submits) / (STEPS - 11)).toFixed(1)} submits per step), float64 CPU in ${cpuMs.toFixed(0)} ms; ` +
        `loss ${onGpu.first} -> ${onGpu.last} (CPU ${onCpu.first} -> ${onCpu.last})`,
    );
    // No readback between step 10 and the last step (the loop reads nothing).
    expect(end.readbacks).toBe(s10.readbacks);
    // Memory is flat: the same number of live buffers, tensors and storages, and no new allocations.
    expect(end.liveBuffers).toBe(s10.liveBuffers);
    expect(end.liveStorages).toBe(s10.liveStorages);
    expect(end.buffersCreated).toBe(s10.buffersCreated);
    expect(end.pipelines).toBe(s10.pipelines);
    expect(tg.liveTensorCount()).toBe(tensorsBefore);
    expect(at10Tensors).toBeGreaterThan(tensorsBefore);
    // The loss decreases and matches the float64 run.
    expect(onGpu.last).toBeLessThan(0.2 * onGpu.first);
    expect(Math.abs(onGpu.first - onCpu.first)).toBeLessThanOrEqual(1e-5 * Math.abs(onCpu.first));
    expect(Math.abs(onGpu.last - onCpu.last)).toBeLessThanOrEqual(2e-3 * Math.abs(onCpu.last) + 1e-6);
  });
});
