/** Broadcasting binaries and reductions of the CPU backend against plain index arithmetic on random shapes. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DType, TypedArray } from '../../../engine/dtype.ts';
import { broadcastShapes, sizeOf, stridesOf } from '../../../engine/shape.ts';
import { binaryKernels } from '../../../kernels/cpu/elementwise.ts';
import { reduceKernels } from '../../../kernels/cpu/reduce.ts';
import { collapseAxes } from '../../../engine/shape.ts';
import { gather } from '../../../kernels/cpu/strided.ts';

function values(dtype: DType, n: number, seed: number): TypedArray {
  const out = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(Math.sin(seed * 7.3 + i * 1.7) * 8) / 4;
  return out;
}

/** Multi-index of flat position i in a row-major shape. */
function unravel(i: number, shape: readonly number[]): number[] {
  const st = stridesOf(shape);
  return shape.map((d, k) => Math.floor(i / st[k]) % d);
}

/** Flat position in `shape` of an index into the broadcast target (size-1 and missing axes read 0). */
function broadcastIndex(idx: number[], shape: readonly number[]): number {
  const st = stridesOf(shape);
  const off = idx.length - shape.length;
  return shape.reduce((s, d, k) => s + (d === 1 ? 0 : idx[k + off] * st[k]), 0);
}

/** A pair of shapes that broadcast: a target, and each operand drops leading axes or sets axes to 1. */
const broadcastPair = fc
  .array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 4 })
  .chain((target) =>
    fc.tuple(
      fc.constant(target),
      fc.array(fc.boolean(), { minLength: target.length, maxLength: target.length }),
      fc.array(fc.boolean(), { minLength: target.length, maxLength: target.length }),
      fc.integer({ min: 0, max: target.length }),
      fc.integer({ min: 0, max: target.length }),
      fc.constantFrom<DType>('float32', 'float64'),
    ),
  )
  .map(([target, onesA, onesB, dropA, dropB, dtype]) => ({
    a: target.map((d, i) => (onesA[i] ? 1 : d)).slice(dropA),
    b: target.map((d, i) => (onesB[i] ? 1 : d)).slice(dropB),
    dtype,
  }));

describe('CPU broadcasting binaries', () => {
  it('sub and max equal index arithmetic for any broadcast', () => {
    fc.assert(
      fc.property(broadcastPair, ({ a, b, dtype }) => {
        const out = broadcastShapes('test', a, b);
        const x = values(dtype, sizeOf(a), 1), y = values(dtype, sizeOf(b), 2);
        for (const [op, f] of [['sub', (p: number, q: number) => p - q], ['max', Math.max]] as const) {
          const got = binaryKernels[op]([{ storage: x, shape: a, dtype }, { storage: y, shape: b, dtype }], undefined, out, dtype);
          expect(got.length).toBe(sizeOf(out));
          for (let i = 0; i < got.length; i++) {
            const idx = unravel(i, out);
            const want = f(x[broadcastIndex(idx, a)], y[broadcastIndex(idx, b)]);
            if (got[i] !== (dtype === 'float32' ? Math.fround(want) : want)) throw new Error(`${op} [${a}] [${b}] at ${i}: ${got[i]} != ${want}`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('collapseAxes merges contiguous axes and drops size-1 axes', () => {
    expect(collapseAxes([4, 1, 3, 5], [[15, 15, 5, 1], [0, 0, 0, 1]])).toEqual({ shape: [12, 5], strides: [[5, 1], [0, 1]] });
    expect(collapseAxes([2, 3], [[3, 1], [3, 1]])).toEqual({ shape: [6], strides: [[1], [1]] });
    expect(collapseAxes([1, 1], [[1, 1]])).toEqual({ shape: [1], strides: [[0]] });
  });
});

describe('CPU reductions', () => {
  const shapeAndAxes = fc
    .array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 })
    .chain((shape) => fc.tuple(fc.constant(shape), fc.subarray(shape.map((_, i) => i)), fc.constantFrom<DType>('float32', 'float64')));

  it('sum and max over any axes equal a plain fold', () => {
    fc.assert(
      fc.property(shapeAndAxes, ([shape, axes, dtype]) => {
        const x = values(dtype, sizeOf(shape), 3);
        const outShape = shape.filter((_, i) => !axes.includes(i));
        const want = { sum: new Float64Array(sizeOf(outShape)), reduceMax: new Float64Array(sizeOf(outShape)).fill(-Infinity) };
        for (let i = 0; i < x.length; i++) {
          const idx = unravel(i, shape).filter((_, k) => !axes.includes(k));
          const o = idx.reduce((s, v, k) => s + v * stridesOf(outShape)[k], 0);
          want.sum[o] += x[i];
          want.reduceMax[o] = Math.max(want.reduceMax[o], x[i]);
        }
        for (const op of ['sum', 'reduceMax'] as const) {
          const got = reduceKernels[op]([{ storage: x, shape, dtype }], { axes, keepdims: false }, outShape, dtype);
          // `+ 0` folds -0 into +0: which signed zero a max of {-0, +0} returns is immaterial
          // (Math.max prefers +0, the kernel keeps the first), and toEqual tells them apart.
          expect(Array.from(got, (v) => v + 0)).toEqual(Array.from(want[op], (v) => (dtype === 'float32' ? Math.fround(v) : v) + 0));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('max lets NaN win; an empty sum is 0', () => {
    const x = new Float64Array([1, NaN, 3, 4]);
    expect(reduceKernels.reduceMax([{ storage: x, shape: [2, 2], dtype: 'float64' }], { axes: [1], keepdims: false }, [2], 'float64')[0]).toBeNaN();
    expect(Array.from(reduceKernels.sum([{ storage: new Float64Array(0), shape: [2, 0], dtype: 'float64' }], { axes: [1], keepdims: false }, [2], 'float64'))).toEqual([0, 0]);
  });
});

describe('CPU strided gather', () => {
  it('copies any permuted, reversed or stepped view like index arithmetic', () => {
    const arb = fc
      .array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 4 })
      .chain((base) => fc.tuple(fc.constant(base), fc.shuffledSubarray(base.map((_, i) => i), { minLength: base.length, maxLength: base.length }), fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length })));
    fc.assert(
      fc.property(arb, ([base, perm, flip]) => {
        const src = values('float32', sizeOf(base), 4);
        const bs = stridesOf(base);
        let offset = 0;
        const shape = perm.map((p) => base[p]);
        const strides = perm.map((p, i) => {
          if (!flip[i]) return bs[p];
          offset += (base[p] - 1) * bs[p];
          return -bs[p];
        });
        const out = new Float32Array(sizeOf(shape));
        gather(src, offset, shape, strides, out);
        for (let i = 0; i < out.length; i++) {
          const idx = unravel(i, shape);
          const at = idx.reduce((s, v, k) => s + v * strides[k], offset);
          if (out[i] !== src[at]) throw new Error(`[${shape}] strides [${strides}] at ${i}: ${out[i]} != ${src[at]}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});
