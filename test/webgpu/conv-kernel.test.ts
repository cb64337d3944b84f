/**
 * The WGSL implicit-GEMM convolution (kernels/wgsl/conv.ts) against the float64 nested-loop
 * specification (kernels/cpu/conv-reference.ts) over the whole ConvParams space: strides 1-3,
 * padding -1..3 (negative = crop), kernel dilation 1-2, input dilation 1-2 (holes read zero),
 * flip; aligned and unaligned channel counts; with and without subgroups. The gradient-shaped
 * cases (input dilation = forward stride, swapped roles) are the same kernel with other params.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { convOutputLength, type ConvParams } from '../../engine/conv-params.ts';
import { conv2dDirect } from '../../kernels/cpu/conv-reference.ts';
import { acquireDevice } from '../../kernels/webgpu/device.ts';
import { conv2dProgram } from '../../kernels/wgsl/conv.ts';
import { describeGpu } from './gpu-available.ts';
import { randomArray, runProgram, supportsSubgroupPrograms } from './kernel-runner.ts';

type Shape4 = [number, number, number, number];

interface Case {
  x: Shape4;
  w: Shape4;
  p: ConvParams;
  seed: number;
}

function outShape({ x, w, p }: Case): Shape4 {
  const oh = convOutputLength(x[1], w[0], p.strides[0], p.padding[0][0], p.padding[0][1], p.kernelDilation[0], p.inputDilation[0]);
  const ow = convOutputLength(x[2], w[1], p.strides[1], p.padding[1][0], p.padding[1][1], p.kernelDilation[1], p.inputDilation[1]);
  return [x[0], oh, ow, w[3]];
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** '' when every output is within 1e-4 * sum |x||w| of the float64 reference. */
async function mismatch(device: GPUDevice, t: Case, subgroups: boolean, rows?: 8 | 16): Promise<string> {
  const out = outShape(t);
  const x = randomArray(size(t.x), t.seed);
  const w = randomArray(size(t.w), t.seed + 1);
  const prog = conv2dProgram(t.x, t.w, t.p, out, { subgroups, rows });
  const got = await runProgram(device, prog, [x, w]);
  const ref = new Float64Array(size(out));
  const scale = new Float64Array(ref.length);
  conv2dDirect(Float64Array.from(x), t.x, Float64Array.from(w), t.w, t.p, ref);
  conv2dDirect(Float64Array.from(x, Math.abs), t.x, Float64Array.from(w, Math.abs), t.w, t.p, scale);
  for (let i = 0; i < ref.length; i++) {
    if (!(Math.abs(got[i] - ref[i]) <= 1e-4 * scale[i] + 1e-30)) {
      return `out[${i}] = ${got[i]}, expected ${ref[i]} (program ${prog.key}, out [${out}], case ${JSON.stringify(t)})`;
    }
  }
  return '';
}

const pair = (min: number, max: number) => fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }));
const channels = fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(4, 8, 12, 16));

const convCase = fc
  .record({
    n: fc.integer({ min: 1, max: 3 }),
    hw: pair(1, 9),
    c: channels,
    o: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(4, 32)),
    k: pair(1, 4),
    strides: pair(1, 3),
    padH: pair(-1, 3),
    padW: pair(-1, 3),
    kernelDilation: pair(1, 2),
    inputDilation: pair(1, 2),
    flip: fc.boolean(),
    seed: fc.nat(1e6),
  })
  .map((r): Case => ({
    x: [r.n, r.hw[0], r.hw[1], r.c],
    w: [r.k[0], r.k[1], r.c, r.o],
    p: { strides: r.strides, padding: [r.padH, r.padW], kernelDilation: r.kernelDilation, inputDilation: r.inputDilation, flip: r.flip },
    seed: r.seed,
  }))
  .filter((t) => {
    const [, oh, ow] = outShape(t);
    return oh >= 1 && ow >= 1;
  });

const params = (over: Partial<ConvParams> = {}): ConvParams => ({
  strides: [1, 1], padding: [[1, 1], [1, 1]], kernelDilation: [1, 1], inputDilation: [1, 1], flip: false, ...over,
});

await describeGpu('WGSL conv2d kernel', () => {
  const modes = async (): Promise<{ device: GPUDevice; modes: boolean[] }> => {
    const { device } = await acquireDevice();
    const sg = supportsSubgroupPrograms(device);
    if (!sg) console.warn('conv-kernel: the device has no subgroups of >= 8 invocations; testing the direct path only');
    return { device, modes: sg ? [false, true] : [false] };
  };

  it('matches the float64 specification over strides, padding (incl. negative), dilations and flip', async () => {
    const { device, modes: ms } = await modes();
    for (const sg of ms) {
      await fc.assert(fc.asyncProperty(convCase, async (t) => {
        expect(await mismatch(device, t, sg)).toBe('');
      }), { numRuns: 30 });
    }
  });

  it('matches with 16-row tiles (two output pixels per lane)', async () => {
    const { device, modes: ms } = await modes();
    if (!ms.includes(true)) return;
    await fc.assert(fc.asyncProperty(convCase, async (t) => {
      expect(await mismatch(device, t, true, 16)).toBe('');
    }), { numRuns: 10 });
  });

  it('runs the forward pass and both gradient convolutions of a strided 3x3 layer', async () => {
    const { device, modes: ms } = await modes();
    // Forward: x [2,9,9,8] * w [3,3,8,12], stride 2, padding 1 -> g [2,5,5,12]. The gradients as
    // engine/primitives/conv.ts builds them: dx correlates g (input-dilated by the stride) with
    // the flipped, IO-swapped kernel; dw convolves x as [C,H,W,N] with g as [OH,OW,N,O] at
    // kernel dilation = stride.
    const cases: Case[] = [
      { x: [2, 9, 9, 8], w: [3, 3, 8, 12], p: params({ strides: [2, 2] }), seed: 1 },
      { x: [2, 5, 5, 12], w: [3, 3, 12, 8], p: params({ padding: [[1, 1], [1, 1]], inputDilation: [2, 2], flip: true }), seed: 2 },
      { x: [8, 9, 9, 2], w: [5, 5, 2, 12], p: params({ kernelDilation: [2, 2], padding: [[1, 1], [1, 1]] }), seed: 3 },
    ];
    for (const sg of ms) for (const t of cases) expect(await mismatch(device, t, sg)).toBe('');
  });

  it('takes the aligned, guard-free path when C % 8, O % 32 and the pixel count % 8 allow', async () => {
    const { device, modes: ms } = await modes();
    // The second is the benchmark layer (16x32x32x16 -> 32, 3x3 SAME), 16-row tiles with subgroups.
    for (const t of [{ x: [2, 8, 8, 16], w: [3, 3, 16, 32], p: params(), seed: 4 }, { x: [16, 32, 32, 16], w: [3, 3, 16, 32], p: params(), seed: 5 }] as Case[]) {
      for (const sg of ms) {
        expect(conv2dProgram(t.x, t.w, t.p, outShape(t), { subgroups: sg }).key).toMatch(/:v11:f111:/);
        expect(await mismatch(device, t, sg)).toBe('');
      }
    }
  });

  it('reads single-channel inputs and 1x1 kernels', async () => {
    const { device, modes: ms } = await modes();
    const cases: Case[] = [
      { x: [3, 28, 28, 1], w: [5, 5, 1, 6], p: params({ padding: [[2, 2], [2, 2]] }), seed: 5 },
      { x: [2, 6, 7, 20], w: [1, 1, 20, 36], p: params({ padding: [[0, 0], [0, 0]] }), seed: 6 },
    ];
    for (const sg of ms) for (const t of cases) expect(await mismatch(device, t, sg)).toBe('');
  });
});

it('keys hold flags, not geometry; the geometry is in the uniforms', () => {
  const a = conv2dProgram([2, 8, 8, 16], [3, 3, 16, 32], params(), [2, 8, 8, 32]);
  const b = conv2dProgram([4, 16, 12, 8], [5, 3, 8, 64], params({ strides: [2, 1], padding: [[2, 2], [1, 1]], flip: true }), [4, 8, 12, 64]);
  expect(a.key).toBe(b.key);
  expect(a.code).toBe(b.code);
  expect(conv2dProgram([2, 8, 8, 16], [3, 3, 16, 32], params({ inputDilation: [2, 1] }), [2, 15, 8, 32]).key).toMatch(/idil/);
});

it('names the shapes when they do not fit', () => {
  expect(() => conv2dProgram([1, 5, 5, 3], [3, 3, 4, 2], params(), [1, 5, 5, 2])).toThrow(/conv2d \(wgsl\): input channels/);
  expect(() => conv2dProgram([1, 5, 5, 3], [3, 3, 3, 2], params(), [1, 4, 5, 2])).toThrow(/output shape should be \[1,5,5,2\]/);
});
