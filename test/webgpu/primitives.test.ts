/**
 * The engine's primitive table (test/engine/cases.ts) on the WebGPU backend: forward against the
 * float64 references in float32 tolerance, on the table's small random shapes and on larger ones
 * (up to 70 per axis, sizes that divide no workgroup or tile size); JVP and VJP of matmul,
 * conv2d, gather and scatterAdd against the CPU in float64; and the PRNG against engine/random.ts.
 */
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { normalValues, uniformValues } from '../../engine/random.ts';
import type { WebGpuBackend } from '../../kernels/webgpu/backend.ts';
import { convCaseArb, fill, OPS, type Case, type OpSpec } from '../engine/cases.ts';
import * as ref from '../engine/reference.ts';
import { describeGpu } from './gpu-available.ts';
import { absArr, evaluate, expectNear, maxAbs, onCpu64, onGpu, useWebGpu } from './util.ts';

const RUNS = 25;
/** Random shapes hit many GEMM variants (alignment and edge flags), each compiled once: slow on a busy software driver. */
const SLOW = 300_000;
/** Ops whose error grows with the number of terms: compare against the magnitude of the terms. */
const ACCUMULATING = new Set(['sum', 'matmul', 'conv2d', 'scatterAdd']);

let gpu: WebGpuBackend;

async function checkForward(spec: OpSpec, { inputs, params }: Case): Promise<void> {
  const expected = spec.ref(inputs, params);
  const magnitude = ACCUMULATING.has(spec.name) ? spec.ref(inputs.map(absArr), params).data : undefined;
  const [out] = await evaluate(() => [spec.run(inputs.map((a) => onGpu(a, gpu)), params)]);
  expect(out.shape, `${spec.name} shape`).toEqual(expected.shape);
  expect(out.data).toBeInstanceOf(Float32Array);
  expectNear(out.data, expected.data, `${spec.name} on ${JSON.stringify(inputs.map((a) => a.shape))} ${JSON.stringify(params) ?? ''}`, { magnitude });
}

// ------------------------------------------------------------ larger random shapes

const bigDim = fc.integer({ min: 1, max: 70 });
const bigShape = (minRank: number, maxRank: number, maxSize = 150_000) =>
  fc.array(bigDim, { minLength: minRank, maxLength: maxRank }).filter((s) => ref.size(s) <= maxSize);

function bigCase(shapeArb: fc.Arbitrary<number[]>, make: (shape: number[]) => fc.Arbitrary<Omit<Case, 'inputs'> & { inputs?: ref.Arr[] }>): fc.Arbitrary<Case> {
  return shapeArb.chain((shape) => fc.tuple(make(shape), fc.nat()).map(([c, seed]) => ({ inputs: c.inputs ?? [fill(shape, seed, 'any')], params: c.params })));
}

const BIG: { name: string; gen: fc.Arbitrary<Case> }[] = [
  { name: 'sum', gen: bigCase(bigShape(1, 3), (s) => fc.record({ params: fc.record({ axes: fc.subarray(s.map((_, i) => i), { minLength: 1 }), keepdims: fc.boolean() }) })) },
  {
    name: 'max',
    gen: bigShape(1, 3).chain((s) => fc.tuple(fc.subarray(s.map((_, i) => i), { minLength: 1 }), fc.boolean(), fc.nat()).map(([axes, keepdims, seed]) => ({ inputs: [fill(s, seed, 'any')], params: { axes, keepdims } }))),
  },
  { name: 'transpose', gen: bigCase(bigShape(2, 3), (s) => fc.record({ params: fc.record({ perm: fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length }) }) })) },
  { name: 'reverse', gen: bigCase(bigShape(1, 3), (s) => fc.record({ params: fc.record({ axes: fc.subarray(s.map((_, i) => i), { minLength: 1 }) }) })) },
  {
    name: 'slice',
    gen: bigCase(bigShape(1, 3), (s) => fc.record({
      params: fc.tuple(...s.map((d) => fc.tuple(fc.integer({ min: 0, max: d - 1 }), fc.integer({ min: 1, max: d }), fc.integer({ min: 1, max: 4 }))))
        .map((axes) => ({ begin: axes.map(([b]) => b), end: axes.map(([b, len], i) => Math.min(s[i], b + len)), strides: axes.map(([, , st]) => st) })),
    })),
  },
  {
    name: 'pad',
    gen: bigCase(bigShape(1, 3, 40_000), (s) => fc.record({
      params: fc.tuple(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: s.length, maxLength: s.length }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: s.length, maxLength: s.length }), fc.array(fc.integer({ min: 0, max: 1 }), { minLength: s.length, maxLength: s.length }))
        .map(([lo, hi, interior]) => ({ lo, hi, interior, value: 0.5 })),
    })),
  },
  {
    name: 'concat',
    gen: bigShape(1, 3, 50_000).chain((s) => fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), fc.array(fc.tuple(bigDim, fc.nat()), { minLength: 2, maxLength: 3 }))
      .map(([axis, parts]) => ({ inputs: parts.map(([d, seed]) => fill(s.map((v, i) => (i === axis ? d : v)), seed, 'any')), params: { axis } }))),
  },
  {
    name: 'broadcastTo',
    gen: bigShape(1, 3).chain((out) => fc.tuple(fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }), fc.integer({ min: 0, max: out.length - 1 }), fc.nat())
      .map(([ones, drop, seed]) => ({ inputs: [fill(out.slice(drop).map((d, i) => (ones[i] ? 1 : d)), seed, 'any')], params: { shape: out } }))),
  },
  {
    name: 'mul',
    gen: bigShape(1, 3).chain((out) => fc.tuple(fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }), fc.nat(), fc.nat())
      .map(([ones, s1, s2]) => ({ inputs: [fill(out, s1, 'any'), fill(out.map((d, i) => (ones[i] ? 1 : d)), s2, 'any')], params: undefined }))),
  },
  {
    name: 'matmul',
    gen: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 140 }), fc.integer({ min: 1, max: 70 }), fc.boolean(), fc.boolean(), fc.nat(), fc.nat())
      .map(([b, m, k, n, tA, tB, sa, sb]) => ({
        inputs: [fill([b, ...(tA ? [k, m] : [m, k])], sa, 'any'), fill(tB ? [n, k] : [k, n], sb, 'any')],
        params: { transposeA: tA, transposeB: tB },
      })),
  },
  { name: 'conv2d', gen: convCaseArb(19) },
  {
    name: 'gather',
    gen: bigShape(1, 3, 40_000).chain((s) => fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), fc.nat()).chain(([axis, seed]) =>
      fc.array(fc.integer({ min: 0, max: s[axis] - 1 }), { minLength: 1, maxLength: 300 }).map((indices) => ({
        inputs: [fill(s, seed, 'any')],
        params: { indices, indexShape: [indices.length], axis },
      })))),
  },
  {
    // Few output rows, many indices: every row sums a long run of duplicates.
    name: 'scatterAdd',
    gen: fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 70 }), fc.nat()).chain(([size, m, inner, seed]) =>
      fc.array(fc.integer({ min: 0, max: size - 1 }), { minLength: m, maxLength: m }).map((indices) => ({
        inputs: [fill([m, inner], seed, 'any')],
        params: { indices, indexShape: [m], axis: 0, size },
      }))),
  },
];

function spec(name: string): OpSpec {
  const s = OPS.find((o) => o.name === name);
  if (!s) throw new Error(`no primitive test case named ${name}`);
  return s;
}

await describeGpu('primitives on WebGPU vs float64 references', () => {
  beforeAll(async () => {
    gpu = await useWebGpu();
  });

  it.each(OPS.map((s) => [s.name, s] as const))('%s: forward (table shapes)', async (_name, s) => {
    await fc.assert(fc.asyncProperty(s.gen, (c) => checkForward(s, c)), { numRuns: RUNS });
  }, SLOW);

  it.each(BIG.map((b) => [b.name, b] as const))('%s: forward on shapes up to 70 per axis', async (name, b) => {
    await fc.assert(fc.asyncProperty(b.gen, (c) => checkForward(spec(name), c)), { numRuns: 6 });
  }, SLOW);

  it('reductions split across workgroups or slices: a full sum, long rows and long columns', async () => {
    for (const [shape, axes] of [[[300, 311], [0, 1]], [[3, 40_001], [1]], [[40_001, 3], [0]], [[5, 997, 7], [0, 2]], [[2, 70_000], [0, 1]], [[20_000, 65], [0]], [[3, 9_000, 70], [0, 1]]] as [number[], number[]][]) {
      const x = fill(shape, shape[0], 'any');
      await checkForward(spec('sum'), { inputs: [x], params: { axes, keepdims: false } });
      await checkForward(spec('max'), { inputs: [x], params: { axes, keepdims: true } });
    }
  });

  it('large elementwise grids spill into a second dispatch dimension', async () => {
    const n = 65_535 * 256 + 77; // more than 65535 workgroups of 256
    const [out] = await evaluate(() => [tg.sum(tg.add(tg.full([n], 0.5, 'float32', gpu), 0.25))]);
    expect(out.data[0]).toBeCloseTo(0.75 * n, -3);
    const [slice] = await evaluate(() => [tg.slice(tg.mul(tg.full([n], 2, 'float32', gpu), 3), [n - 3], [n])]);
    expect(Array.from(slice.data)).toEqual([6, 6, 6]);
  });

  it.each(['matmul', 'conv2d', 'gather', 'scatterAdd'])('%s: JVP and VJP on WebGPU equal the CPU float64 results', async (name) => {
    const s = spec(name);
    await fc.assert(fc.asyncProperty(s.gen, fc.nat(), async ({ inputs, params }, seed) => {
      const outShape = s.ref(inputs, params).shape;
      const tangents = inputs.map((a, i) => fill(a.shape, seed + i, 'any'));
      const cotangent = fill(outShape, seed + 99, 'any');
      const f = (...xs: Tensor[]) => s.run(xs, params);
      const both = (make: (a: ref.Arr) => Tensor) => () => {
        const xs = inputs.map(make);
        const [, jv] = tg.jvp(f, xs, tangents.map(make));
        const [, back] = tg.vjp(f, ...xs);
        return [jv as Tensor, ...(back(make(cotangent)) as Tensor[])];
      };
      const want = await evaluate(both(onCpu64));
      const got = await evaluate(both((a) => onGpu(a, gpu)));
      got.forEach((g, i) => {
        expect(g.shape).toEqual(want[i].shape);
        expectNear(g.data, want[i].data, `${name} ${i === 0 ? 'jvp' : `vjp ${i - 1}`}`, { atol: 1e-4 * (1 + maxAbs(want[i].data)) });
      });
    }), { numRuns: 15 });
  }, SLOW);

  it('uniform random numbers are the CPU values bit for bit', async () => {
    for (const [seed, n] of [[0, 1], [1, 7], [42, 1000], [7, 2 * 65_535 * 64 + 3]]) {
      const k = tg.foldIn(tg.key(seed), 3);
      const t = new tg.Tensor(gpu, gpu.randomStorage('uniform', k, [n]), [n], 'float32', null);
      try {
        const got = await t.data();
        const want = uniformValues(k, n);
        // A loop: toEqual on millions of elements is slower than the whole GPU run.
        const bad = got.findIndex((v, i) => v !== want[i]);
        expect(bad, bad < 0 ? '' : `seed ${seed}, n ${n}: element ${bad} is ${got[bad]}, the CPU has ${want[bad]}`).toBe(-1);
      } finally {
        t.dispose();
      }
    }
  });

  it('uniforms on [low, high) are within an ulp of the CPU; normals within 1e-6', async () => {
    const k = tg.key(11);
    const n = 10_001;
    const u = new tg.Tensor(gpu, gpu.randomStorage('uniform', k, [n], -3, 5), [n], 'float32', null);
    const z = new tg.Tensor(gpu, gpu.randomStorage('normal', k, [n]), [n], 'float32', null);
    try {
      const want = uniformValues(k, n).map((v) => -3 + 8 * v);
      expectNear(await u.data(), want, 'uniform(-3, 5)', { rtol: 2 ** -23, atol: 2 ** -22 });
      const normals = await z.data();
      const ref64 = normalValues(k, n);
      expectNear(normals, ref64, 'normal', { rtol: 0, atol: 1e-6 });
      // The engine hook: exact uniforms on [0, 1), normals, and a refusal where exactness is impossible.
      expect(gpu.random('uniform', k, [3], 'float32', -3, 5)).toBeUndefined();
      const hooked = gpu.random('normal', k, [n], 'float32')!;
      const again = new tg.Tensor(gpu, hooked, [n], 'float32', null);
      expect(await again.data()).toEqual(normals);
      again.dispose();
    } finally {
      u.dispose();
      z.dispose();
    }
  });

  it('tg.normal and tg.uniform on the WebGPU backend draw the CPU values', async () => {
    const k = tg.key(5);
    const [n32, u32] = await evaluate(() => [tg.normal(k, [17, 3], 'float32', gpu), tg.uniform(k, [51], 'float32', -1, 2, gpu)]);
    const cpu = tg.backendInstance('cpu')!;
    const [nc, uc] = await evaluate(() => [tg.normal(k, [17, 3], 'float32', cpu), tg.uniform(k, [51], 'float32', -1, 2, cpu)]);
    expect(n32.data).toEqual(nc.data);
    expect(u32.data).toEqual(uc.data);
  });
});
