/**
 * The primitive law table (test/engine/law-table.ts) with the Wasm kernels taking every product,
 * however small (wasmMinWork: 1), single- and multi-threaded: the primitives that run through them
 * (matmul; conv2d via the im2col kernel + gemm; the binary arithmetic and comparisons and where
 * through the SIMD elementwise loops; sums over a leading axis), forward against the float64 references in float32 and
 * float64, JVP against finite differences, and the transpose law. The random shapes of the table
 * are small and odd, so they never divide the micro-tiles (5x8 float32, 2x8 float64). Each runs
 * with operands copied into the kernels' memory and with every float array resident there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureCpu, cpuInfo, shutdownCpuThreads, wasmRuntime, type CpuOptions } from '../../../kernels/cpu/config.ts';
import { wasmFeatures } from '../../../kernels/wasm/features.ts';
import { OPS } from '../../engine/cases.ts';
import { primitiveLaws } from '../../engine/law-table.ts';

const THROUGH_WASM = [
  'matmul', 'conv2d', 'where', 'sum',
  'add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'greater', 'greaterEqual', 'less', 'lessEqual', 'equal', 'notEqual',
];
const features = wasmFeatures();
const configs: [string, CpuOptions][] = [
  ['Wasm kernels, one thread', { threads: 1, wasmMinWork: 1 }],
  ...(features.threads ? [
    ['Wasm kernels, three threads', { threads: 3, wasmMinWork: 1 }],
    // Every float array resident in the kernels' memory (kernels/wasm/heap.ts): operands read and
    // outputs written in place instead of copied.
    ['Wasm kernels, one thread, every float array resident', { threads: 1, wasmMinWork: 1, residentMinBytes: 1 }],
    ['Wasm kernels, three threads, every float array resident', { threads: 3, wasmMinWork: 1, residentMinBytes: 1 }],
  ] as [string, CpuOptions][] : []),
];

afterAll(() => {
  shutdownCpuThreads();
});

describe.skipIf(!features.simd).each(configs)('%s', (_label, config) => {
  beforeAll(async () => {
    await configureCpu(config);
  });
  afterAll(async () => {
    await configureCpu({});
  });

  it('runs as configured', () => {
    const info = cpuInfo();
    expect(info.wasm).toBe(true);
    expect(info.activeThreads).toBe(config.threads);
  });

  primitiveLaws(OPS.filter((s) => THROUGH_WASM.includes(s.name)), 20);

  it('sent the products above through the Wasm kernels', () => {
    expect(wasmRuntime()!.batches).toBeGreaterThan(50);
  });
});
