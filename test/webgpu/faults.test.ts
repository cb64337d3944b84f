/**
 * A fault belongs to the op that caused it: sizes past the device's limits are refused before
 * anything is enqueued, naming the op, its shapes, the size and the limit; a submit the GPU
 * rejects spoils exactly the tensors that depend on it (their reads and ops name the cause); and
 * the backend goes on working either way (setBackend keeps returning the same, healthy one).
 */
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { GpuStorage, WebGpuBackend } from '../../kernels/webgpu/backend.ts';
import { lazyProgram, UniformBlock } from '../../kernels/wgsl/common.ts';
import { describeGpu } from './gpu-available.ts';

let gpu: WebGpuBackend;
/** Floats in the largest storage buffer the device allows. */
let maxFloats: number;

/** The backend still computes: a small random op gives the right values, on the same instance. */
async function expectHealthy(seed: number): Promise<void> {
  expect(await tg.setBackend('webgpu')).toBe(gpu);
  expect(gpu.failed).toBeNull();
  const values = [seed % 7, -(seed % 5), 0.5];
  const y = tg.tidy(() => tg.mul(tg.add(tg.tensor(values), 1), 2));
  expect(Array.from(await y.data())).toEqual(values.map((v) => (v + 1) * 2));
  y.dispose();
}

const broken = (key: string) => lazyProgram(key, 0, new UniformBlock().u32('n', 1).words(), [1, 1, 1], 1, () => 'this is not WGSL');

await describeGpu('WebGPU faults stay with their op', () => {
  beforeAll(async () => {
    gpu = (await tg.setBackend('webgpu')) as WebGpuBackend;
    const { maxStorageBufferBindingSize, maxBufferSize } = gpu.device.limits;
    maxFloats = Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / 4);
  });

  it('a non-integer shape is refused by the engine before the backend sees it', async () => {
    const x = tg.tensor([1]);
    expect(() => tg.broadcastTo(x, [2.5])).toThrow(/^broadcastTo: invalid shape \[2.5\]/);
    x.dispose();
    await expectHealthy(3);
  });

  it('outputs past the storage-buffer limit are refused naming the op, its shapes, the bytes and the limit', async () => {
    const limit = new RegExp(`more than this device allows in one storage buffer \\((maxStorageBufferBindingSize|maxBufferSize) ${maxFloats * 4} bytes\\)`);
    const rows = 2 ** 13;
    const cols = Math.floor(maxFloats / rows) + 1; // rows * cols floats: just past the limit
    const cases: [RegExp, (a: Tensor, b: Tensor) => Tensor][] = [
      [new RegExp(`^add \\[${rows},1\\], \\[1,${cols}\\] -> \\[${rows},${cols}\\]: the output needs ${rows * cols * 4} bytes`), (a, b) => tg.add(a, b)],
      [new RegExp(`^mul \\[1,${cols}\\], \\[${rows},1\\] -> \\[${rows},${cols}\\]: the output needs`), (a, b) => tg.mul(b, a)],
      [new RegExp(`^matmul \\[${rows},1\\], \\[1,${cols}\\] -> \\[${rows},${cols}\\]: the output needs`), (a, b) => tg.matmul(a, b)],
      [new RegExp(`^broadcastTo \\[${rows},1\\] -> \\[${rows},${cols}\\]: the output needs`), (a) => tg.broadcastTo(a, [rows, cols])],
      [new RegExp(`^pad \\[${rows},1\\] -> \\[${rows},${cols}\\]: the output needs`), (a) => tg.pad(a, [0, 0], [0, cols - 1])],
    ];
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: cases.length - 1 }), fc.nat(), async (which, seed) => {
      const a = tg.ones([rows, 1]);
      const b = tg.ones([1, cols]);
      // Work enqueued before the refusal, in the same batch, is unaffected by it.
      const before = tg.add(tg.tensor([seed % 11]), 1);
      const dispatches = gpu.stats().dispatches;
      const [pattern, op] = cases[which];
      let error: Error | null = null;
      try {
        tg.tidy(() => op(a, b));
      } catch (e) {
        error = e as Error;
      }
      expect(error?.message).toMatch(pattern);
      expect(error?.message).toMatch(limit);
      expect(gpu.stats().dispatches, 'a refused op enqueues nothing').toBe(dispatches);
      expect(Array.from(await before.data())).toEqual([(seed % 11) + 1]);
      tg.dispose([a, b, before]);
      await expectHealthy(seed);
    }), { numRuns: 8 });
  });

  it('an upload past the limit is refused before any buffer is made', async () => {
    const n = maxFloats + 1;
    const host = new Float32Array(n);
    expect(() => tg.tensor(host, [n])).toThrow(new RegExp(`^upload \\[${n}\\]: the tensor needs ${n * 4} bytes, more than this device allows`));
    await expectHealthy(5);
  });

  it('a dispatch with more workgroups than the device allows per dimension is refused, nothing enqueued', async () => {
    const groups = gpu.device.limits.maxComputeWorkgroupsPerDimension;
    const program = { ...broken('too-wide'), dispatch: [groups + 1, 1, 1] as const };
    const dispatches = gpu.stats().dispatches;
    expect(() => gpu.runProgram('wide-op', program, [])).toThrow(
      new RegExp(`^wide-op: program 'too-wide' dispatches \\[${groups + 1},1,1\\] workgroups, more than this device allows per dimension \\(maxComputeWorkgroupsPerDimension ${groups}\\)`),
    );
    expect(gpu.stats().dispatches).toBe(dispatches);
    await expectHealthy(7);
  });

  it('a rejected submit spoils exactly what depends on it: those reads and ops name the cause, the rest reads fine', async () => {
    // Validated in an earlier submit: unaffected by the failure to come.
    const earlier = tg.mul(tg.tensor([1, 2, 3]), 2);
    expect(Array.from(await earlier.data())).toEqual([2, 4, 6]);
    // The same batch as the failing kernel: the GPU runs none of it, so its values are garbage.
    const sameBatch = tg.add(earlier, 1);
    const bad = new tg.Tensor(gpu, gpu.runProgram('badop', broken('broken-kernel-2'), []), [1], 'float32', null);
    const cause = /badop: compiling WGSL program 'broken-kernel-2': WebGPU validation error/;
    await expect(bad.data()).rejects.toThrow(cause);
    await expect(sameBatch.data()).rejects.toThrow(new RegExp(`^read \\[3\\]: ${cause.source}`));
    expect(() => tg.exp(bad)).toThrow(new RegExp(`^exp \\[1\\] -> \\[1\\]: input 0 \\[1\\] holds no valid values: ${cause.source}`));
    expect(Array.from(await earlier.data())).toEqual([2, 4, 6]);
    // After the failure: new work on the same backend, including from the earlier values.
    const later = tg.sub(earlier, 1);
    expect(Array.from(await later.data())).toEqual([1, 3, 5]);
    // The invalid pipeline was not cached: using it again fails again, with the same cause.
    const again = new tg.Tensor(gpu, gpu.runProgram('badop', broken('broken-kernel-2'), []), [1], 'float32', null);
    await expect(again.data()).rejects.toThrow(cause);
    tg.dispose([earlier, sameBatch, bad, later, again]);
    await expectHealthy(11);
  });

  it('a tensor computed after the failure from a spoiled one in flight is spoiled too, not garbage', async () => {
    const bad = new tg.Tensor(gpu, gpu.runProgram('badop', broken('broken-kernel-3'), []), [1], 'float32', null);
    // Enqueued before the failure is known: the failure reaches it through its lineage.
    const derived = tg.tidy(() => tg.mul(tg.exp(bad), 3));
    expect((derived.storage as GpuStorage).from).toBeLessThanOrEqual((bad.storage as GpuStorage).submit);
    await expect(derived.data()).rejects.toThrow(/badop: compiling WGSL program 'broken-kernel-3'/);
    tg.dispose([bad, derived]);
    await expectHealthy(13);
  });
});
