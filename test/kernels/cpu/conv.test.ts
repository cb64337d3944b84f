/**
 * The im2col + gemm convolution against the literal nested-loop specification, with the JavaScript
 * kernels and with the Wasm ones (patches gathered by the im2col kernel into the kernels' memory)
 * on one and on three threads, every product however small going through them.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DType, TypedArray } from '../../../engine/dtype.ts';
import { convOutputLength, type ConvParams } from '../../../engine/conv-params.ts';
import { configureCpu, cpuInfo, shutdownCpuThreads, type CpuOptions } from '../../../kernels/cpu/config.ts';
import { conv2d } from '../../../kernels/cpu/conv.ts';
import { wasmFeatures } from '../../../kernels/wasm/features.ts';
import { conv2dDirect } from '../../../kernels/cpu/conv-reference.ts';
import { randomArray } from '../../random-array.ts';

type Shape4 = [number, number, number, number];


function outShape(xShape: Shape4, wShape: Shape4, p: ConvParams): Shape4 {
  return [
    xShape[0],
    convOutputLength(xShape[1], wShape[0], p.strides[0], p.padding[0][0], p.padding[0][1], p.kernelDilation[0], p.inputDilation[0]),
    convOutputLength(xShape[2], wShape[1], p.strides[1], p.padding[1][0], p.padding[1][1], p.kernelDilation[1], p.inputDilation[1]),
    wShape[3],
  ];
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function runConv(x: TypedArray, xShape: Shape4, w: TypedArray, wShape: Shape4, p: ConvParams): TypedArray {
  const out = x instanceof Float64Array ? new Float64Array(size(outShape(xShape, wShape, p))) : new Float32Array(size(outShape(xShape, wShape, p)));
  out.fill(Number.NaN); // proves every element is written
  conv2d(x, xShape, w, wShape, p, out);
  return out;
}

/** '' when `got` matches `want` within tol * sum|x||w| per element (the abs-valued reference). */
function compare(got: TypedArray, want: Float64Array, scale: Float64Array, tol: number): string {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * scale[i] + 1e-300)) return `out[${i}] = ${got[i]}, expected ${want[i]}`;
  }
  return '';
}

function reference(x: TypedArray, xShape: Shape4, w: TypedArray, wShape: Shape4, p: ConvParams) {
  const n = size(outShape(xShape, wShape, p));
  const want = new Float64Array(n);
  conv2dDirect(x, xShape, w, wShape, p, want);
  const scale = new Float64Array(n);
  conv2dDirect(Float64Array.from(x, Math.abs), xShape, Float64Array.from(w, Math.abs), wShape, p, scale);
  return { want, scale };
}

/** The kernel reversed along both spatial axes. */
function flipKernel(w: TypedArray, [KH, KW, C, O]: Shape4): TypedArray {
  const out = w.slice();
  const block = C * O;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const src = (kh * KW + kw) * block, dst = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * block;
      for (let i = 0; i < block; i++) out[dst + i] = w[src + i];
    }
  }
  return out;
}

const convCase = fc.record({
  N: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 1, max: 7 }), W: fc.integer({ min: 1, max: 7 }),
  C: fc.integer({ min: 1, max: 4 }), O: fc.integer({ min: 1, max: 4 }),
  KH: fc.integer({ min: 1, max: 3 }), KW: fc.integer({ min: 1, max: 3 }),
  strides: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  padding: fc.tuple(
    fc.tuple(fc.integer({ min: -1, max: 3 }), fc.integer({ min: -1, max: 3 })),
    fc.tuple(fc.integer({ min: -1, max: 3 }), fc.integer({ min: -1, max: 3 })),
  ),
  kernelDilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  inputDilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  flip: fc.boolean(),
  dtype: fc.constantFrom<DType>('float32', 'float64'),
  seed: fc.nat(),
});
type ConvCase = typeof convCase extends fc.Arbitrary<infer T> ? T : never;

function unpack(t: ConvCase) {
  const xShape: Shape4 = [t.N, t.H, t.W, t.C];
  const wShape: Shape4 = [t.KH, t.KW, t.C, t.O];
  const p: ConvParams = { strides: t.strides, padding: t.padding, kernelDilation: t.kernelDilation, inputDilation: t.inputDilation, flip: t.flip };
  const [, OH, OW] = outShape(xShape, wShape, p);
  return { xShape, wShape, p, OH, OW, x: randomArray(t.dtype, size(xShape), t.seed), w: randomArray(t.dtype, size(wShape), t.seed + 1) };
}

const tolOf = (dtype: DType) => (dtype === 'float32' ? 1e-5 : 1e-12);

const features = wasmFeatures();
const configs: [string, CpuOptions][] = [
  ['JavaScript kernels', { wasm: false, threads: 1 }],
  ...(features.simd ? [['Wasm kernels, one thread', { threads: 1, wasmMinWork: 1 }] as [string, CpuOptions]] : []),
  ...(features.simd && features.threads ? [
    ['Wasm kernels, three threads', { threads: 3, wasmMinWork: 1 }],
    ['Wasm kernels, three threads, every float array resident', { threads: 3, wasmMinWork: 1, residentMinBytes: 1 }],
  ] as [string, CpuOptions][] : []),
];

afterAll(() => {
  shutdownCpuThreads();
});

describe.each(configs)('conv2d (im2col + gemm), %s', (_label, config) => {
  beforeAll(async () => {
    await configureCpu(config);
  });
  afterAll(async () => {
    await configureCpu({});
  });

  it('runs as configured', () => {
    expect(cpuInfo().wasm).toBe(config.wasm !== false);
    expect(cpuInfo().activeThreads).toBe(config.threads);
  });

  it('matches conv2dDirect for random shapes, strides, paddings (negative too), dilations and flip', () => {
    fc.assert(fc.property(convCase, (t) => {
      const { xShape, wShape, p, OH, OW, x, w } = unpack(t);
      fc.pre(OH >= 1 && OW >= 1);
      const { want, scale } = reference(x, xShape, w, wShape, p);
      expect(compare(runConv(x, xShape, w, wShape, p), want, scale, tolOf(t.dtype))).toBe('');
    }), { numRuns: 400 });
  });

  it('with flip equals the correlation with the explicitly flipped kernel', () => {
    fc.assert(fc.property(convCase, (t) => {
      const { xShape, wShape, p, OH, OW, x, w } = unpack(t);
      fc.pre(OH >= 1 && OW >= 1);
      const flipped = runConv(x, xShape, w, wShape, { ...p, flip: true });
      const explicit = runConv(x, xShape, flipKernel(w, wShape), wShape, { ...p, flip: false });
      const { scale } = reference(x, xShape, w, wShape, p);
      expect(compare(flipped, Float64Array.from(explicit), scale, 2 * tolOf(t.dtype))).toBe('');
    }), { numRuns: 200 });
  });

  it('matches across several im2col row blocks and a gemm depth past one cache block', () => {
    // K = 3*3*32 = 288 > KC; 2*24*24 = 1152 patch rows exceed one 2^18-element block.
    for (const dtype of ['float32', 'float64'] as const) {
      const xShape: Shape4 = [2, 24, 24, 32], wShape: Shape4 = [3, 3, 32, 5];
      const p: ConvParams = { strides: [1, 1], padding: [[1, 1], [1, 1]], kernelDilation: [1, 1], inputDilation: [1, 1], flip: true };
      const x = randomArray(dtype, size(xShape), 3), w = randomArray(dtype, size(wShape), 4);
      const { want, scale } = reference(x, xShape, w, wShape, p);
      expect(compare(runConv(x, xShape, w, wShape, p), want, scale, tolOf(dtype))).toBe('');
    }
  });

  it('takes the 1x1 shortcut correctly (patch matrix = input)', () => {
    const xShape: Shape4 = [3, 5, 4, 7], wShape: Shape4 = [1, 1, 7, 6];
    const p: ConvParams = { strides: [1, 1], padding: [[0, 0], [0, 0]], kernelDilation: [2, 3], inputDilation: [1, 1], flip: true };
    const x = randomArray('float64', size(xShape), 8), w = randomArray('float64', size(wShape), 9);
    const { want, scale } = reference(x, xShape, w, wShape, p);
    expect(compare(runConv(x, xShape, w, wShape, p), want, scale, 1e-12)).toBe('');
  });

  it('reads zeros outside the input: an all-padding output is zero', () => {
    const p: ConvParams = { strides: [1, 1], padding: [[3, 0], [0, 0]], kernelDilation: [1, 1], inputDilation: [1, 1], flip: false };
    const out = runConv(new Float32Array([1, 2, 3, 4]), [1, 2, 2, 1], new Float32Array([1, 1]), [1, 2, 1, 1], p);
    expect(Array.from(out)).toEqual([0, 0, 0, 3, 7]);
  });

  it('with input dilation (the strided input gradient, split by output phase) matches conv2dDirect', () => {
    // Input dilation >= 2 on at least one axis: every case takes the phase split. Kernels up to
    // 4 taps with dilation up to 3 and 1x1 kernels give phases whose taps all read holes.
    const dilated = fc.record({
      N: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 1, max: 9 }), W: fc.integer({ min: 1, max: 9 }),
      C: fc.integer({ min: 1, max: 5 }), O: fc.integer({ min: 1, max: 5 }),
      KH: fc.integer({ min: 1, max: 4 }), KW: fc.integer({ min: 1, max: 4 }),
      strides: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      padding: fc.tuple(
        fc.tuple(fc.integer({ min: -2, max: 4 }), fc.integer({ min: -2, max: 4 })),
        fc.tuple(fc.integer({ min: -2, max: 4 }), fc.integer({ min: -2, max: 4 })),
      ),
      kernelDilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      inputDilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })).filter(([a, b]) => a > 1 || b > 1),
      flip: fc.boolean(),
      dtype: fc.constantFrom<DType>('float32', 'float64'),
      seed: fc.nat(),
    });
    fc.assert(fc.property(dilated, (t) => {
      const { xShape, wShape, p, OH, OW, x, w } = unpack(t);
      fc.pre(OH >= 1 && OW >= 1);
      const { want, scale } = reference(x, xShape, w, wShape, p);
      expect(compare(runConv(x, xShape, w, wShape, p), want, scale, tolOf(t.dtype))).toBe('');
    }), { numRuns: 400 });
  });

  it('computes the input gradient of strided convolutions (the VJP geometry) across several patch blocks per phase', () => {
    // The input-gradient conv of a stride-2 5x5 SAME conv on [2,40,40,64]: 4 phases of 800 rows, up
    // to 3*3*64 = 576 patch columns, so a phase spans several 2^18-element im2col blocks.
    for (const dtype of ['float32', 'float64'] as const) {
      const gShape: Shape4 = [2, 20, 20, 64], wShape: Shape4 = [5, 5, 64, 3];
      const p: ConvParams = { strides: [1, 1], padding: [[3, 2], [3, 2]], kernelDilation: [1, 1], inputDilation: [2, 2], flip: true };
      const g = randomArray(dtype, size(gShape), 5), w = randomArray(dtype, size(wShape), 6);
      const { want, scale } = reference(g, gShape, w, wShape, p);
      expect(want.length).toBe(2 * 40 * 40 * 3);
      expect(compare(runConv(g, gShape, w, wShape, p), want, scale, tolOf(dtype))).toBe('');
    }
  });

  it('names the shapes when the output would be empty or channels differ', () => {
    const p: ConvParams = { strides: [1, 1], padding: [[0, 0], [0, 0]], kernelDilation: [1, 1], inputDilation: [1, 1], flip: false };
    expect(() => conv2d(new Float32Array(4), [1, 2, 2, 1], new Float32Array(9), [3, 3, 1, 1], p, new Float32Array(1))).toThrow(/conv2d: empty output/);
    expect(() => conv2d(new Float32Array(4), [1, 2, 2, 1], new Float32Array(8), [2, 2, 2, 1], p, new Float32Array(1))).toThrow(/conv2d: kernel channels/);
  });
});

describe.skipIf(!features.simd || !features.threads)('conv2d on the Wasm kernels: thread counts', () => {
  afterAll(async () => {
    await configureCpu({});
  });

  it('1, 2 and 3 threads give bit-identical results (every output element has one fixed summation order)', async () => {
    const cases = fc.sample(convCase.filter((t) => t.inputDilation[0] === 1 && t.inputDilation[1] === 1), { numRuns: 40, seed: 11 })
      .map(unpack).filter((c) => c.OH >= 1 && c.OW >= 1);
    // And one large enough to be gathered in several patch blocks, each split among the threads.
    const xShape: Shape4 = [2, 30, 26, 40], wShape: Shape4 = [3, 3, 40, 9];
    const p: ConvParams = { strides: [1, 2], padding: [[1, 2], [0, 1]], kernelDilation: [1, 1], inputDilation: [1, 1], flip: false };
    cases.push({ xShape, wShape, p, OH: 0, OW: 0, x: randomArray('float32', size(xShape), 12), w: randomArray('float32', size(wShape), 13) });
    const runs: number[][][] = [];
    for (const threads of [1, 2, 3]) {
      await configureCpu({ threads, wasmMinWork: 1 });
      expect(cpuInfo().activeThreads).toBe(threads);
      runs.push(cases.map((c) => {
        const out = runConv(c.x, c.xShape, c.w, c.wShape, c.p);
        return [...new Uint8Array(out.buffer, out.byteOffset, out.byteLength)];
      }));
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
  });
});
