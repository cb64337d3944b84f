/**
 * NaN, infinities and signed zeros behave on WebGPU exactly as on the CPU (the reference
 * semantics, NumPy's): max/min and the max reduction propagate NaN wherever it sits, sign(NaN)
 * is NaN and sign(-0) is +0. lavapipe's compiler assumes floats are never NaN (it folds
 * `x != x` to false), so these laws fail there unless the kernels test NaN on the bits.
 */
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { WebGpuBackend } from '../../kernels/webgpu/backend.ts';
import { randomArray } from '../random-array.ts';
import { describeGpu } from './gpu-available.ts';
import { cpuBackend, evaluate } from './util.ts';

const SPECIAL = [NaN, Infinity, -Infinity, -0, 0, 1, -1, 3.5] as const;

let gpu: WebGpuBackend;

/** The same computation on WebGPU and on the CPU (float32), read back. */
async function both(values: Float32Array, shape: number[], f: (x: Tensor) => Tensor): Promise<[Float32Array, Float32Array]> {
  const [g] = await evaluate(() => [f(tg.tensor(values, shape, 'float32', gpu))]);
  const [c] = await evaluate(() => [f(tg.tensor(values, shape, 'float32', cpuBackend()))]);
  return [g.data as Float32Array, c.data as Float32Array];
}

/** Equal as the CPU computed it: NaN where it has NaN; `zeroSign` also tells -0 from +0. */
function expectSame(got: Float32Array, want: Float32Array, what: string, zeroSign: boolean): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const ok = zeroSign ? Object.is(got[i], want[i]) : Number.isNaN(want[i]) ? Number.isNaN(got[i]) : got[i] === want[i];
    if (!ok) expect.fail(`${what}: element ${i} of ${want.length} is ${Object.is(got[i], -0) ? '-0' : got[i]}, the CPU has ${Object.is(want[i], -0) ? '-0' : want[i]}`);
  }
}

await describeGpu('NaN, infinities and signed zeros on WebGPU', () => {
  beforeAll(async () => {
    gpu = (await tg.setBackend('webgpu')) as WebGpuBackend;
  });

  it('maximum, minimum and comparisons of every pair of special values, in every read mode', async () => {
    const pairs = SPECIAL.flatMap((a) => SPECIAL.map((b) => [a, b] as const));
    // n = 64 takes the vec4 path, 63 the scalar one; [n, 1] against [1, n] is the strided one.
    for (const n of [pairs.length, pairs.length - 1]) {
      const a = Float32Array.from(pairs.slice(0, n), ([x]) => x);
      const b = Float32Array.from(pairs.slice(0, n), ([, y]) => y);
      for (const op of ['maximum', 'minimum', 'greater', 'less', 'equal', 'notEqual'] as const) {
        const run = (backend: tg.Backend) => evaluate(() => [tg[op](tg.tensor(a, [n], 'float32', backend), tg.tensor(b, [n], 'float32', backend))]);
        const [[g], [c]] = [await run(gpu), await run(cpuBackend())];
        expectSame(g.data as Float32Array, c.data as Float32Array, `${op} of pairs (n = ${n})`, false);
      }
    }
    for (const op of ['maximum', 'minimum'] as const) {
      const v = Float32Array.from(SPECIAL);
      const run = (backend: tg.Backend) =>
        evaluate(() => [tg[op](tg.tensor(v, [SPECIAL.length, 1], 'float32', backend), tg.tensor(v, [1, SPECIAL.length], 'float32', backend))]);
      const [[g], [c]] = [await run(gpu), await run(cpuBackend())];
      expectSame(g.data as Float32Array, c.data as Float32Array, `${op} broadcast [8,1] x [1,8]`, false);
      // A tensor against a scalar operand, either side.
      for (const s of SPECIAL) {
        const [gs, cs] = await both(v, [SPECIAL.length], (x) => tg[op](x, s));
        expectSame(gs, cs, `${op}(x, ${s})`, false);
        const [gl, cl] = await both(v, [SPECIAL.length], (x) => tg[op](s, x));
        expectSame(gl, cl, `${op}(${s}, x)`, false);
      }
    }
  });

  it('where treats a NaN condition as true, as the CPU does', async () => {
    const cond = Float32Array.from(SPECIAL);
    const [g, c] = await both(cond, [SPECIAL.length], (x) => tg.where(x, 1, 2));
    expectSame(g, c, 'where(special values, 1, 2)', false);
  });

  it('sign: NaN stays NaN and both zeros give +0, in the scalar and the vec4 kernels', async () => {
    for (const n of [SPECIAL.length, SPECIAL.length + 1]) {
      const v = Float32Array.from({ length: n }, (_, i) => SPECIAL[i % SPECIAL.length]);
      const [g, c] = await both(v, [n], tg.sign);
      expectSame(g, c, `sign of ${n} special values`, true);
    }
  });

  it('the max reduction propagates a NaN from every position: rows, columns, across workgroups', async () => {
    // A NaN on the diagonal of an n x n matrix sits at every position of every row (and column)
    // once, so a reduction over either axis checks all positions in one dispatch. Sizes straddle
    // the kernels' workgroup sizes (64 and 128) and the rows/tree switch (16 terms).
    for (const n of [1, 2, 15, 17, 63, 65, 127, 129, 257, 600]) {
      const v = randomArray('float32', n * n, n) as Float32Array;
      for (let i = 0; i < n; i++) v[i * n + i] = NaN;
      // Every other row also gets an infinity, which must not mask the NaN.
      for (let i = 0; i < n && n > 1; i += 2) v[i * n + ((i + 1) % n)] = i % 4 === 0 ? Infinity : -Infinity;
      for (const axes of [[1], [0], [0, 1]]) {
        const [g, c] = await both(v, [n, n], (x) => tg.max(x, axes));
        expect(c.every(Number.isNaN)).toBe(true);
        expectSame(g, c, `max over ${JSON.stringify(axes)} of a ${n}x${n} matrix with a NaN diagonal`, false);
      }
    }
  });

  it('max and sum of long rows split into chunks: NaN and infinities anywhere, including chunk boundaries', async () => {
    const CHUNK = 2048; // kernels/wgsl/reduce.ts
    const rows = fc.integer({ min: 1, max: 4 });
    const len = fc.oneof(fc.integer({ min: 1, max: 70_000 }), fc.constantFrom(4 * CHUNK + 1, 8 * CHUNK, 8 * CHUNK + 1, 20 * CHUNK - 1));
    const spots = fc.array(fc.tuple(fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity, -0)), { maxLength: 3 });
    const boundary = fc.integer({ min: 0, max: 40 }).map((j) => j * CHUNK - 1);
    await fc.assert(fc.asyncProperty(rows, len, spots, fc.option(boundary), fc.nat(), async (m, k, marks, edge, seed) => {
      const v = randomArray('float32', m * k, seed) as Float32Array;
      for (const [at, value] of marks) v[at % v.length] = value;
      if (edge !== null && edge >= 0) v[edge % v.length] = NaN;
      for (const axes of [[1], [0, 1]]) {
        const [gm, cm] = await both(v, [m, k], (x) => tg.max(x, axes));
        expectSame(gm, cm, `max over ${JSON.stringify(axes)} of [${m},${k}]`, false);
        const [gs, cs] = await both(v, [m, k], (x) => tg.sum(x, axes));
        for (let i = 0; i < cs.length; i++) {
          // Sums differ in rounding; what must agree is whether they are finite, infinite or NaN.
          if (Number.isFinite(cs[i])) expect(Math.abs(gs[i] - cs[i])).toBeLessThanOrEqual(1e-3 * k);
          else expectSame(gs.subarray(i, i + 1), cs.subarray(i, i + 1), `sum over ${JSON.stringify(axes)} of [${m},${k}], element ${i}`, false);
        }
      }
    }), { numRuns: 12 });
  }, 300_000);

  it('max of all -Infinity is -Infinity and of all NaN is NaN', async () => {
    for (const value of [-Infinity, NaN]) {
      for (const n of [3, 300, 20_000]) {
        const [g, c] = await both(new Float32Array(n).fill(value), [n], (x) => tg.max(x));
        expectSame(g, c, `max of ${n} x ${value}`, false);
      }
    }
  });
});
