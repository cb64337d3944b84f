/**
 * int32 and indexing on WebGPU: int32 tensors round-trip exactly through uploads, reads, every
 * movement op, add/sub/mul (wrapping) and casts, equal to the CPU; take, argmax and oneHot equal
 * the CPU; host-known out-of-range indices are refused before dispatch (the backend stays
 * usable), device-computed ones gather NaN and drop their scatter term; minibatch training
 * (batches gathered with take) equals the CPU's.
 */
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { WebGpuBackend } from '../../kernels/webgpu/backend.ts';
import { fill, shapeArb } from '../engine/cases.ts';
import * as ref from '../engine/reference.ts';
import { Dense, gradientDescent, mseLoss, Relu, serial, train, type Params } from '../../models/index.ts';
import { describeGpu } from './gpu-available.ts';
import { cpuBackend, evaluate, expectNear, useWebGpu } from './util.ts';

let gpu: WebGpuBackend;

const int32Arb = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

/** The same int32 computation on both backends, read back. */
async function bothBackends(values: Int32Array, shape: number[], f: (t: Tensor) => Tensor[]): Promise<[tg.TypedArray[], tg.TypedArray[]]> {
  const run = (backend: tg.Backend) => evaluate(() => f(tg.tensor(values, shape, 'int32', backend)));
  const [onCpu, onGpu] = [await run(cpuBackend()), await run(gpu)];
  return [onCpu.map((r) => r.data), onGpu.map((r) => r.data)];
}

await describeGpu('int32 and indexing on WebGPU', () => {
  beforeAll(async () => {
    gpu = await useWebGpu();
  });

  it('int32 values round-trip exactly through movement ops, arithmetic and casts, as on the CPU', async () => {
    await fc.assert(fc.asyncProperty(shapeArb(1, 3), fc.array(int32Arb, { minLength: 1, maxLength: 40 }), async (shape, pool) => {
      const values = Int32Array.from({ length: ref.size(shape) }, (_, i) => pool[i % pool.length]);
      const perm = shape.map((_, i) => shape.length - 1 - i);
      const [cpu, onGpu] = await bothBackends(values, shape, (t) => [
        t,
        tg.transpose(t, perm),
        tg.reverse(t, 0),
        tg.slice(t, shape.map(() => 0), shape, shape.map(() => 2)),
        tg.pad(t, shape.map(() => 1), shape.map(() => 0), shape.map(() => 1), -7),
        tg.concat([t, t], 0),
        tg.broadcastTo(t, [2, ...shape]),
        tg.add(t, tg.reverse(t, 0)),
        tg.sub(t, 5),
        tg.mul(t, tg.reverse(t, 0)),
        tg.greaterEqual(t, tg.reverse(t, 0)),
        tg.cast(tg.cast(t, 'float32'), 'int32'),
      ]);
      expect(onGpu[0]).toEqual(values);
      onGpu.forEach((g, i) => {
        expect(g, `result ${i}`).toBeInstanceOf(Int32Array);
        expect(Array.from(g), `result ${i}`).toEqual(Array.from(cpu[i]));
      });
    }), { numRuns: 15 });
  });

  it('float32 -> int32 casts truncate and saturate, NaN to 0, as on the CPU', async () => {
    const values = [1.9, -1.9, 0.5, -0.5, NaN, 3e9, -3e9, Infinity, -Infinity, 16777216];
    const [got] = await evaluate(() => [tg.cast(tg.tensor(values, undefined, 'float32', gpu), 'int32')]);
    expect(Array.from(got.data)).toEqual([1, -1, 0, 0, 0, 2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 1, -(2 ** 31), 16777216]);
  });

  it('argmax and oneHot equal the CPU (ties resolve to the first index)', async () => {
    await fc.assert(fc.asyncProperty(shapeArb(1, 3), fc.nat(), fc.nat(), async (shape, seed, a) => {
      const axis = a % shape.length;
      const x = fill(shape, seed, 'gridA');
      const [idx, hot] = await evaluate(() => {
        const i = tg.argmax(tg.tensor(Float32Array.from(x.data), shape, 'float32', gpu), axis);
        return [i, tg.oneHot(i, shape[axis])];
      });
      const want = ref.argmax(x, axis);
      expect(idx.data).toBeInstanceOf(Int32Array);
      expect(Array.from(idx.data)).toEqual(want.data);
      expect(Array.from(hot.data)).toEqual(want.data.flatMap((k) => Array.from({ length: shape[axis] }, (_, j) => +(j === k))));
    }), { numRuns: 15 });
  });

  it('argmax follows NumPy on NaN: the first NaN wins', async () => {
    const [got] = await evaluate(() => [tg.argmax(tg.tensor([[1, 3, 3], [NaN, 0, 5], [0, NaN, NaN], [-Infinity, -Infinity, -Infinity]], undefined, 'float32', gpu), 1)]);
    expect(Array.from(got.data)).toEqual([1, 0, 1, 0]);
  });

  it('host-known out-of-range indices are refused before dispatch, and the backend keeps working', async () => {
    const x = tg.tensor([[1, 2], [3, 4]], undefined, 'float32', gpu);
    try {
      expect(() => tg.take(x, [0, 2], 0)).toThrow(/gather: index 2 is out of range \[0, 2\) for axis 0 of \[2,2\]/);
      expect(() => tg.take(x, tg.reshape(tg.tensor(Int32Array.from([-1, 0]), [2], 'int32', gpu), [1, 2]), 1)).toThrow(/gather: index -1 is out of range \[0, 2\)/);
      expect(() => tg.scatterAdd(tg.tensor([1, 2], undefined, 'float32', gpu), [0, 3], 0, 3)).toThrow(/scatterAdd: index 3 is out of range \[0, 3\)/);
      const [ok] = await evaluate(() => [tg.take(x, [1, 1, 0], 0)]);
      expect(Array.from(ok.data)).toEqual([3, 4, 3, 4, 1, 2]);
    } finally {
      x.dispose();
    }
  });

  it('device-computed out-of-range indices gather NaN (0 for int32 data) and drop their scatter term', async () => {
    const [taken, takenInt, scattered, scatteredInt] = await evaluate(() => {
      // add runs on the device: the backend cannot know these indices without a readback.
      const idx = tg.add(tg.tensor(Int32Array.from([0, 5, -3, 1]), [4], 'int32', gpu), 0);
      return [
        tg.take(tg.tensor([10, 20], undefined, 'float32', gpu), idx),
        tg.take(tg.tensor(Int32Array.from([10, 20]), [2], 'int32', gpu), idx),
        tg.scatterAdd(tg.tensor([1, 2, 4, 8], undefined, 'float32', gpu), idx, 0, 2),
        tg.scatterAdd(tg.tensor(Int32Array.from([1, 2, 4, 8]), [4], 'int32', gpu), idx, 0, 2),
      ];
    });
    expect(Array.from(taken.data)).toEqual([10, NaN, NaN, 20]);
    expect(Array.from(takenInt.data)).toEqual([10, 0, 0, 20]);
    expect(Array.from(scattered.data)).toEqual([1, 8]);
    expect(scatteredInt.data).toBeInstanceOf(Int32Array);
    expect(Array.from(scatteredInt.data)).toEqual([1, 8]);
  });

  it('minibatch training gathers the same batches as the CPU: equal losses and parameters', async () => {
    const net = serial(Dense(16, { W_std: 1.4, b_std: 0.1 }), Relu(), Dense(2, { W_std: 1.4, b_std: 0.1 }));
    tg.useBackend('cpu');
    const init = net.init(tg.key(2), [-1, 5], 'float32').params as Params;
    const run = async (backend: tg.Backend) => {
      tg.useBackend(backend.name);
      const [kx, ky] = tg.split(tg.key(3), 2);
      const x = tg.normal(kx, [13, 5], 'float32', backend);
      const y = tg.normal(ky, [13, 2], 'float32', backend);
      const params = tg.treeMap(init, (t: Tensor) => tg.tensor(t.dataSync(), t.shape, 'float32', backend));
      const r = await train({ apply: net.apply, params, loss: mseLoss('sum/2'), optimizer: gradientDescent(0.02), data: { x, y }, steps: 7, batchSize: 4, key: tg.key(8) });
      const leaves = await Promise.all(tg.treeLeaves(r.params).map((t) => t.data()));
      tg.dispose([x, y, params, r.params, r.optState]);
      return { losses: r.history.map((h) => h.loss), leaves };
    };
    const cpu = await run(cpuBackend());
    const onGpu = await run(gpu);
    tg.dispose(init);
    expectNear(onGpu.losses, cpu.losses, 'losses', { rtol: 1e-4, atol: 1e-5 });
    onGpu.leaves.forEach((l, i) => expectNear(l, cpu.leaves[i], `parameter ${i}`, { rtol: 1e-4, atol: 1e-5 }));
  });
});
