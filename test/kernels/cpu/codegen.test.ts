/**
 * The CPU elementwise kernels' two paths: loops generated with `new Function` (the default) and
 * the closure loops used where generated code is refused (a CSP without 'unsafe-eval').
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DType, TypedArray } from '../../../engine/dtype.ts';
import { broadcastShapes, sizeOf } from '../../../engine/shape.ts';
import { binaryKernelTable, unaryKernelTable, whereKernel } from '../../../kernels/cpu/elementwise.ts';
import * as tg from '../../../engine/index.ts';
import { mapN } from '../../engine/reference.ts';

const generated = { unary: unaryKernelTable(() => true), binary: binaryKernelTable(() => true) };
const closures = { unary: unaryKernelTable(() => false), binary: binaryKernelTable(() => false) };

const SPECIAL = [0, -0, 1, -1, 0.5, -2.5, 3, 1e-30, 1e30, Infinity, -Infinity, NaN];

/** Values mixing the special cases with ordinary numbers, deterministic in `seed`. */
function values(dtype: DType, n: number, seed: number): TypedArray {
  const out = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (i + seed) % 5 === 0 ? SPECIAL[(i * 7 + seed) % SPECIAL.length] : Math.sin(seed * 3.1 + i * 1.3) * 4;
  return out;
}

function expectSameBits(got: TypedArray, want: TypedArray, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) throw new Error(`${what} at ${i}: closure ${got[i]} != generated ${want[i]}`);
}

/** Two shapes that broadcast, covering the same-shape, scalar-left, scalar-right and strided loops. */
const pair = fc
  .array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 4 })
  .chain((target) =>
    fc.tuple(
      fc.constant(target),
      fc.array(fc.boolean(), { minLength: target.length, maxLength: target.length }),
      fc.array(fc.boolean(), { minLength: target.length, maxLength: target.length }),
      fc.integer({ min: 0, max: target.length }),
      fc.integer({ min: 0, max: target.length }),
      fc.constantFrom<DType>('float32', 'float64'),
      fc.nat(1000),
    ),
  )
  .map(([target, onesA, onesB, dropA, dropB, dtype, seed]) => ({
    a: target.map((d, i) => (onesA[i] ? 1 : d)).slice(dropA),
    b: target.map((d, i) => (onesB[i] ? 1 : d)).slice(dropB),
    dtype,
    seed,
  }));

describe('CPU elementwise kernels without generated code', () => {
  it('every binary op gives the same bits through closure loops as through generated loops, for any broadcast', () => {
    expect(Object.keys(closures.binary)).toEqual(Object.keys(generated.binary));
    fc.assert(
      fc.property(pair, ({ a, b, dtype, seed }) => {
        const out = broadcastShapes('test', a, b);
        const x = values(dtype, sizeOf(a), seed), y = values(dtype, sizeOf(b), seed + 1);
        for (const op of Object.keys(generated.binary) as (keyof typeof generated.binary)[]) {
          const inputs = [{ storage: x, shape: a, dtype }, { storage: y, shape: b, dtype }];
          expectSameBits(closures.binary[op](inputs, undefined, out, dtype), generated.binary[op](inputs, undefined, out, dtype), `${op} [${a}] [${b}] ${dtype}`);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('every unary op gives the same bits through closure loops as through generated loops', () => {
    expect(Object.keys(closures.unary)).toEqual(Object.keys(generated.unary));
    fc.assert(
      fc.property(fc.nat(200), fc.constantFrom<DType>('float32', 'float64'), fc.nat(1000), (n, dtype, seed) => {
        const x = values(dtype, n, seed);
        for (const op of Object.keys(generated.unary) as (keyof typeof generated.unary)[]) {
          const inputs = [{ storage: x, shape: [n], dtype }];
          expectSameBits(closures.unary[op](inputs, undefined, [n], dtype), generated.unary[op](inputs, undefined, [n], dtype), `${op} [${n}] ${dtype}`);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('where (constant operands read in place, others broadcast) equals an index-by-index select, through both loops', () => {
    const generatedWhere = whereKernel(() => true), closureWhere = whereKernel(() => false);
    const shapeFor = (target: number[], kind: number, ones: boolean[]): number[] =>
      kind === 0 ? target : kind === 1 ? [] : target.map((d, i) => (ones[i] ? 1 : d));
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
        fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2)),
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        fc.constantFrom<DType>('float32', 'float64'),
        fc.nat(1000),
        (target, kinds, ones, dtype, seed) => {
          const [cShape, aShape, bShape] = kinds.map((k) => shapeFor(target, k, ones));
          const cond = values(dtype, sizeOf(cShape), seed).map((v) => (v > 0 ? 1 : 0));
          const a = values(dtype, sizeOf(aShape), seed + 1), b = values(dtype, sizeOf(bShape), seed + 2);
          const inputs = [{ storage: cond, shape: cShape, dtype }, { storage: a, shape: aShape, dtype }, { storage: b, shape: bShape, dtype }];
          // The float64 reference's broadcast read (float32 values widen exactly and narrow back);
          // the zeros fix the output shape when every operand broadcasts along some axis.
          const operands = inputs.map((t) => ({ data: Float64Array.from(t.storage), shape: t.shape }));
          const ref = mapN((ci, ai, bi) => (ci !== 0 ? ai : bi), ...operands, { data: new Float64Array(sizeOf(target)), shape: target });
          const want = dtype === 'float32' ? Float32Array.from(ref.data) : ref.data;
          const what = `where [${cShape}] [${aShape}] [${bShape}] -> [${target}] ${dtype}`;
          expectSameBits(generatedWhere(inputs, undefined, target, dtype), want, `${what} (generated)`);
          expectSameBits(closureWhere(inputs, undefined, target, dtype), want, `${what} (closures)`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the engine imports and computes values and gradients in a Node that refuses code generation, equal to this process', async () => {
    const entry = fileURLToPath(new URL('./fixtures/no-codegen-entry.ts', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--disallow-code-generation-from-strings', '--import', 'tsx', entry], { timeout: 60_000 }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
      ),
    );
    const child = JSON.parse(stdout.trim().split('\n').pop() ?? '') as { codegen: boolean; value: number[]; grad: number[] };
    expect(child.codegen).toBe(false);
    // The same computation here, with generated loops.
    const x = tg.reshape(tg.arange(0, 24, 1, 'float64'), [2, 3, 4]);
    const y = tg.tensor([0.5, -1, 2, 3], [4], 'float64');
    const f = (v: tg.Tensor) => tg.sum(tg.mul(tg.tanh(tg.add(tg.div(v, 7), y)), tg.erf(tg.sub(v, 3))));
    const [value, gradient] = tg.valueAndGrad(f)(x);
    expect(child.value).toEqual(Array.from(value.dataSync()));
    expect(child.grad).toEqual(Array.from(gradient.dataSync()));
    expect(child.grad.length).toBe(24);
  });
});
