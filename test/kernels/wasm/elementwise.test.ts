/**
 * The Wasm SIMD elementwise loops (binary arithmetic and comparisons, where, the sum over a
 * leading axis) give the same bits as the JavaScript loops (sums: any NaN for a NaN): on values that include NaN, infinities and both zeros, in every operand
 * mode (full, scalar, row of a period that does not divide the vector lanes), float32 and
 * float64, on one, two and three threads. The law table (primitives-wasm.test.ts) checks the same
 * ops against float64 references, JVPs and transposes.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as tg from '../../../engine/index.ts';
import type { DType, TypedArray } from '../../../engine/dtype.ts';
import { configureCpu, cpuInfo, shutdownCpuThreads, wasmRuntime } from '../../../kernels/cpu/config.ts';
import { wasmFeatures } from '../../../kernels/wasm/features.ts';
import { randomArray } from '../../random-array.ts';

const features = wasmFeatures();
const threadCounts = features.threads ? [1, 2, 3] : [1];

const BINARY = {
  add: tg.add, sub: tg.sub, mul: tg.mul, div: tg.div, maximum: tg.maximum, minimum: tg.minimum,
  greater: tg.greater, greaterEqual: tg.greaterEqual, less: tg.less, lessEqual: tg.lessEqual, equal: tg.equal, notEqual: tg.notEqual,
};
const SPECIAL = [Number.NaN, Infinity, -Infinity, 0, -0, 1, -1];

/** Random values with about a quarter drawn from the special ones (ties too, so equal/max see them). */
function values(dtype: DType, length: number, seed: number): TypedArray {
  const out = randomArray(dtype, length, seed);
  const pick = randomArray('float64', length, seed + 7);
  for (let i = 0; i < length; i++) if (pick[i] < -0.5) out[i] = SPECIAL[Math.floor((pick[i] + 1) * 2 * SPECIAL.length) % SPECIAL.length];
  return out;
}

type Mode = 'full' | 'scalar' | 'row';
const binaryCase = fc.record({
  op: fc.constantFrom(...(Object.keys(BINARY) as (keyof typeof BINARY)[])),
  rows: fc.integer({ min: 1, max: 40 }),
  period: fc.integer({ min: 1, max: 37 }),
  modes: fc.constantFrom<[Mode, Mode]>(['full', 'full'], ['full', 'scalar'], ['scalar', 'full'], ['full', 'row'], ['row', 'full']),
  dtype: fc.constantFrom<DType>('float32', 'float64'),
  seed: fc.nat(),
});

const whereCase = fc.record({
  n: fc.integer({ min: 1, max: 700 }),
  consts: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()),
  dtype: fc.constantFrom<DType>('float32', 'float64'),
  seed: fc.nat(),
});

const sumCase = fc.record({
  shape: fc.array(fc.integer({ min: 2, max: 23 }), { minLength: 2, maxLength: 3 }),
  dtype: fc.constantFrom<DType>('float32', 'float64'),
  seed: fc.nat(),
});

function runSum(c: typeof sumCase extends fc.Arbitrary<infer T> ? T : never): number[] {
  return tg.tidy(() => {
    const x = tg.tensor(values(c.dtype, c.shape.reduce((a, b) => a * b, 1), c.seed), c.shape, c.dtype);
    // NaN sums: same NaN, but the sign bit of a NaN made by inf + -inf depends on operand order
    // inside the hardware's add, which V8's JavaScript and Wasm code generators may order differently.
    const t = tg.sum(x, 0);
    const nan = [...(t.dataSync() as TypedArray)].map(Number.isNaN);
    const words = c.dtype === 'float64' ? 2 : 1;
    return bits(t).map((b, i) => (nan[Math.floor(i / words)] ? -1 : b));
  });
}

function bits(t: tg.Tensor): number[] {
  const d = t.dataSync() as TypedArray;
  return [...new Uint32Array(d.buffer, d.byteOffset, d.byteLength / 4)];
}

function runBinary(c: typeof binaryCase extends fc.Arbitrary<infer T> ? T : never): number[] {
  return tg.tidy(() => {
    const shapeOf = (m: Mode) => (m === 'full' ? [c.rows, c.period] : m === 'scalar' ? [] : [c.period]);
    const x = tg.tensor(values(c.dtype, shapeOf(c.modes[0]).reduce((a, b) => a * b, 1), c.seed), shapeOf(c.modes[0]), c.dtype);
    const y = tg.tensor(values(c.dtype, shapeOf(c.modes[1]).reduce((a, b) => a * b, 1), c.seed + 1), shapeOf(c.modes[1]), c.dtype);
    return bits(BINARY[c.op](x, y));
  });
}

function runWhere(c: typeof whereCase extends fc.Arbitrary<infer T> ? T : never): number[] {
  return tg.tidy(() => {
    const shapeOf = (isConst: boolean) => (isConst ? [] : [c.n]);
    const condValues = values('float64', c.consts[0] ? 1 : c.n, c.seed + 2).map((v) => (v > 0.3 ? 0 : v));
    const cond = tg.tensor(condValues, shapeOf(c.consts[0]), c.dtype);
    const a = tg.tensor(values(c.dtype, c.consts[1] ? 1 : c.n, c.seed), shapeOf(c.consts[1]), c.dtype);
    const b = tg.tensor(values(c.dtype, c.consts[2] ? 1 : c.n, c.seed + 1), shapeOf(c.consts[2]), c.dtype);
    return bits(tg.where(cond, a, b));
  });
}

afterAll(async () => {
  await configureCpu({});
  shutdownCpuThreads();
});

describe.skipIf(!features.simd)('Wasm elementwise loops', () => {
  it('give the bits of the JavaScript loops for every op and operand mode and column sums, on 1, 2 and 3 threads', async () => {
    const binaries = fc.sample(binaryCase, { numRuns: 150, seed: 5 });
    const wheres = fc.sample(whereCase, { numRuns: 60, seed: 6 });
    const sums = fc.sample(sumCase, { numRuns: 60, seed: 7 });
    await configureCpu({ wasm: false, threads: 1 });
    const want = { binary: binaries.map(runBinary), where: wheres.map(runWhere), sum: sums.map(runSum) };
    for (const threads of threadCounts) {
      await configureCpu({ threads, wasmMinWork: 1 });
      expect(cpuInfo().activeThreads).toBe(threads);
      const before = wasmRuntime()!.batches;
      binaries.forEach((c, i) => expect(runBinary(c), `${c.op} ${c.modes} ${c.rows}x${c.period} ${c.dtype}, ${threads} threads`).toEqual(want.binary[i]));
      wheres.forEach((c, i) => expect(runWhere(c), `where ${JSON.stringify(c)}, ${threads} threads`).toEqual(want.where[i]));
      sums.forEach((c, i) => expect(runSum(c), `sum over axis 0 of [${c.shape}] ${c.dtype}, ${threads} threads`).toEqual(want.sum[i]));
      // Every case above went through the Wasm loops (each is one batch).
      expect(wasmRuntime()!.batches - before).toBeGreaterThanOrEqual(binaries.length + wheres.length + sums.length);
    }
  });
});
