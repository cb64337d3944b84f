/**
 * The layer law table (test/models/laws.ts) on WebGPU in float32: gradients and JVPs against
 * finite differences, and the transpose law, for every layer and combinator. Float32 needs a
 * larger finite-difference step (round-off in L(theta +- h v) grows like eps / h) and looser
 * tolerances than the float64 CPU run; the seeds are fixed, so the run is deterministic.
 */
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { WebGpuBackend } from '../../kernels/webgpu/backend.ts';
import { LAYER_CASES, checkLayerLaws, type LawOptions } from '../models/laws.ts';
import { describeGpu } from './gpu-available.ts';
import { useWebGpu } from './util.ts';

const FLOAT32_LAWS: Omit<LawOptions, 'seed' | 'batch'> = { dtype: 'float32', h: 1e-3, fdTol: 3e-3, transposeTol: 2e-5 };

let gpu: WebGpuBackend;

await describeGpu('layer laws on WebGPU (float32)', () => {
  beforeAll(async () => {
    gpu = await useWebGpu();
  });

  it.each(LAYER_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const tensors = tg.liveTensorCount();
    const storages = gpu.liveCount();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 3 }), (seed, batch) =>
        checkLayerLaws(c, { ...FLOAT32_LAWS, seed, batch }),
      ),
      { numRuns: 6, seed: 20190206 },
    );
    expect(tg.liveTensorCount()).toBe(tensors);
    expect(gpu.liveCount()).toBe(storages);
  });
});
