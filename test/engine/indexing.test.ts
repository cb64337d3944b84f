/**
 * take, scatterAdd, argmax and oneHot as laws against plain-loop references (random shapes,
 * duplicate indices, ties and NaNs), int32 round trips, and the errors for bad indices and for
 * int32 where a float is required.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { fill, indexTensor, shapeArb, takeCaseArb } from './cases.ts';
import * as ref from './reference.ts';
import { argmax as refArgmax } from './reference.ts';
import { dot, expectClose, toTensor } from './util.ts';

const RUNS = 40;

/** Values on a coarse grid (many ties) with some NaNs. */
const tiedArb = shapeArb(1, 3).chain((shape) => fc.tuple(fc.nat(), fc.integer({ min: 0, max: shape.length - 1 }), fc.double({ min: 0, max: 0.3, noNaN: true }))
  .map(([seed, axis, nanRate]) => {
    const a = fill(shape, seed, 'gridA');
    const mask = fill(shape, seed + 1, 'any');
    a.data.forEach((_, i) => {
      if ((mask.data[i] + 2) / 4 < nanRate) a.data[i] = NaN;
    });
    return { a, axis };
  }));

describe('take', () => {
  it('equals the reference and rows of oneHot(indices) @ x (float64 and float32)', () => {
    fc.assert(fc.property(takeCaseArb(), ({ inputs: [x], params }) => tg.tidy(() => {
      const axis = params.axis < 0 ? params.axis + x.shape.length : params.axis;
      const want = ref.take(x, params.indices, params.indexShape, axis);
      for (const dtype of ['float64', 'float32'] as const) {
        const t = toTensor(x, dtype);
        const got = tg.take(t, indexTensor(params, t), params.axis);
        expect(got.dtype).toBe(dtype);
        expect([...got.shape]).toEqual(want.shape);
        // A copy: exact in either dtype.
        expectClose(got.dataSync(), dtype === 'float32' ? want.data.map(Math.fround) : want.data, 0, 0, `take ${dtype}`);
      }
      // Selecting rows is multiplying by one-hot rows.
      if (axis === 0 && x.shape.length === 2 && params.indexShape.length === 1) {
        const t = toTensor(x);
        const viaMatmul = tg.matmul(tg.oneHot(indexTensor(params, t), x.shape[0], 'float64'), t);
        expectClose(viaMatmul.dataSync(), want.data, 0, 0, 'oneHot @ x');
      }
    })), { numRuns: RUNS });
  });

  it('take of every index in order is the identity, and plain index arrays work like int32 tensors', () => {
    fc.assert(fc.property(shapeArb(1, 4), fc.nat(), fc.nat(), (shape, seed, a) => tg.tidy(() => {
      const axis = a % shape.length;
      const x = toTensor(fill(shape, seed, 'any'));
      const all = Array.from({ length: shape[axis] }, (_, i) => i);
      expectClose(tg.take(x, all, axis).dataSync(), x.dataSync(), 0, 0, 'identity');
      expectClose(tg.take(x, Int32Array.from(all).reverse(), axis).dataSync(), tg.reverse(x, axis).dataSync(), 0, 0, 'reverse');
    })), { numRuns: RUNS });
  });
});

describe('scatterAdd', () => {
  it('accumulates duplicate indices and is the adjoint of take: <scatterAdd(u), x> = <u, take(x)>', () => {
    fc.assert(fc.property(takeCaseArb(), fc.nat(), ({ inputs: [x], params }, seed) => tg.tidy(() => {
      const axis = params.axis < 0 ? params.axis + x.shape.length : params.axis;
      const xt = toTensor(x);
      const idx = indexTensor(params, xt);
      const u = fill(ref.take(x, params.indices, params.indexShape, axis).shape, seed, 'any');
      const scattered = tg.scatterAdd(toTensor(u), idx, axis, x.shape[axis]);
      const want = ref.scatterAdd(u, params.indices, params.indexShape, axis, x.shape[axis]);
      expectClose(scattered.dataSync(), want.data, 1e-12, 1e-12, 'scatterAdd');
      const lhs = dot(scattered.dataSync(), xt.dataSync());
      const rhs = dot(u.data, tg.take(xt, idx, axis).dataSync());
      expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(lhs)));
    })), { numRuns: RUNS });
  });

  it('scatterAdd of ones counts how often each index occurs (float and int32)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 30 }), (indices) => tg.tidy(() => {
      const want = Array.from({ length: 7 }, (_, k) => indices.filter((i) => i === k).length);
      for (const dtype of ['float64', 'float32', 'int32'] as const) {
        const counts = tg.scatterAdd(tg.ones([indices.length], dtype), indices, 0, 7);
        expect(counts.dtype).toBe(dtype);
        expect(Array.from(counts.dataSync())).toEqual(want);
      }
    })), { numRuns: RUNS });
  });
});

describe('argmax', () => {
  it('is the first maximal index, and the first NaN where there is one (NumPy)', () => {
    fc.assert(fc.property(tiedArb, ({ a, axis }) => tg.tidy(() => {
      for (const dtype of ['float64', 'float32'] as const) {
        const got = tg.argmax(toTensor(a, dtype), axis);
        const want = refArgmax(a, axis);
        expect(got.dtype).toBe('int32');
        expect([...got.shape]).toEqual(want.shape);
        expect(Array.from(got.dataSync())).toEqual(want.data);
      }
    })), { numRuns: RUNS });
  });

  it('inverts oneHot, and passes no gradient', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 12 }), (labels) => tg.tidy(() => {
      const idx = tg.tensor(Int32Array.from(labels));
      expect(Array.from(tg.argmax(tg.oneHot(idx, 10), -1).dataSync())).toEqual(labels);
      const weighted = (x: Tensor) => tg.sum(tg.mul(x, tg.reshape(tg.cast(tg.argmax(x, 1), 'float64'), [labels.length, 1])));
      const g = tg.grad(weighted)(tg.oneHot(idx, 10, 'float64')) as Tensor;
      // d/dx sum(x * argmax(x)) = argmax(x) broadcast: argmax itself contributes nothing.
      expectClose(g.dataSync(), labels.flatMap((l) => new Array(10).fill(l)), 0, 0, 'gradient');
    })), { numRuns: 10 });
  });

  it('refuses an empty axis and int32 input by name', () => {
    expect(() => tg.argmax(tg.zeros([2, 0]), 1)).toThrow(/argmax: axis 1 of \[2,0\] is empty/);
    expect(() => tg.argmax(tg.tensor(Int32Array.from([1, 2])))).toThrow(/argmax: expected a float tensor, got .*int32/);
  });
});

describe('oneHot', () => {
  it('has one 1 per in-range index and all-zero rows for out-of-range ones', () => {
    fc.assert(fc.property(shapeArb(0, 2), fc.integer({ min: 0, max: 6 }), fc.nat(), (shape, depth, seed) => tg.tidy(() => {
      const values = Array.from(fill(shape, seed, 'any').data, (v) => Math.floor(v * 4));
      const h = tg.oneHot(tg.tensor(Int32Array.from(values), shape, 'int32'), depth, 'float64');
      expect([...h.shape]).toEqual([...shape, depth]);
      const want = values.flatMap((v) => Array.from({ length: depth }, (_, k) => +(v === k)));
      expect(Array.from(h.dataSync())).toEqual(want);
    })), { numRuns: RUNS });
  });
});

describe('int32', () => {
  it('round-trips through tensors, movement ops and casts exactly, including the extremes', () => {
    fc.assert(fc.property(shapeArb(1, 3), fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 64 }), (shape, pool) => tg.tidy(() => {
      const n = ref.size(shape);
      const values = Int32Array.from({ length: n }, (_, i) => pool[i % pool.length]);
      const t = tg.tensor(values, shape);
      expect(t.dtype).toBe('int32');
      expect(t.dataSync()).toEqual(values);
      expect(tg.cast(tg.cast(t, 'float64'), 'int32').dataSync()).toEqual(values);
      const perm = shape.map((_, i) => shape.length - 1 - i);
      const back = tg.transpose(tg.reverse(tg.reverse(tg.transpose(t, perm), 0), 0), perm);
      expect(back.dataSync()).toEqual(values);
      const a = Float64Array.from(values);
      expectClose(tg.transpose(t, perm).dataSync(), ref.transpose({ data: a, shape }, perm).data, 0, 0, 'transpose');
    })), { numRuns: RUNS });
  });

  it('adds, subtracts and multiplies with wrap-around and compares exactly', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })), { minLength: 1, maxLength: 20 }), (pairs) => tg.tidy(() => {
      const a = tg.tensor(Int32Array.from(pairs.map((p) => p[0])));
      const b = tg.tensor(Int32Array.from(pairs.map((p) => p[1])));
      expect(Array.from(tg.add(a, b).dataSync())).toEqual(pairs.map(([x, y]) => (x + y) | 0));
      expect(Array.from(tg.sub(a, b).dataSync())).toEqual(pairs.map(([x, y]) => (x - y) | 0));
      expect(Array.from(tg.mul(a, b).dataSync())).toEqual(pairs.map(([x, y]) => Math.imul(x, y)));
      expect(Array.from(tg.less(a, b).dataSync())).toEqual(pairs.map(([x, y]) => +(x < y)));
    })), { numRuns: RUNS });
  });

  it('casts floats by truncation with saturation, NaN to 0', () => {
    const got = tg.cast(tg.tensor([1.9, -1.9, 0.5, NaN, 3e9, -3e9, Infinity], undefined, 'float64'), 'int32').dataSync();
    expect(Array.from(got)).toEqual([1, -1, 0, 0, 2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 1]);
  });

  it('is not differentiable: grad gives int32 zeros, a jvp tangent for it is refused', () => {
    tg.tidy(() => {
      const x = tg.tensor([1, 2, 3], undefined, 'float64');
      const idx = tg.tensor(Int32Array.from([2, 2, 0]));
      const [gx, gi] = tg.grad((a: Tensor, i: Tensor) => tg.sum(tg.mul(tg.take(a, i), tg.cast(i, 'float64'))), { argnums: [0, 1] })(x, idx) as Tensor[];
      expect(Array.from(gx.dataSync())).toEqual([0, 0, 4]);
      expect(gi.dtype).toBe('int32');
      expect(Array.from(gi.dataSync())).toEqual([0, 0, 0]);
      expect(() => tg.jvp((i: Tensor) => tg.take(x, i), [idx], [idx])).toThrow(/jvp: argument 0 leaf 0 is .*int32.*not differentiable, pass null/);
      const [, t] = tg.jvp((a: Tensor, i: Tensor) => tg.take(a, i), [x, idx], [tg.onesLike(x), null]);
      expect(Array.from((t as Tensor).dataSync())).toEqual([1, 1, 1]);
    });
  });
});

describe('errors', () => {
  it('name the op and the offending index, dtype or value', () => {
    tg.tidy(() => {
      const x = tg.zeros([4, 3]);
      expect(() => tg.take(x, [0, 4], 0)).toThrow(/gather: index 4 at position 1 is out of range \[0, 4\) for axis 0 of \[4,3\]/);
      expect(() => tg.take(x, [-1], 1)).toThrow(/gather: index -1 at position 0 is out of range \[0, 3\) for axis 1/);
      expect(() => tg.take(x, [0.5], 0)).toThrow(/take: index 0.5 at position 0 is not an integer/);
      expect(() => tg.take(x, tg.tensor([0, 1]), 0)).toThrow(/take: indices must be int32, got .*float32/);
      expect(() => tg.take(x, [0], 2)).toThrow(/take: axis 2 is out of range/);
      expect(() => tg.scatterAdd(tg.ones([2]), [0, 5], 0, 5)).toThrow(/scatterAdd: index 5 at position 1 is out of range \[0, 5\)/);
      expect(() => tg.scatterAdd(tg.ones([3]), [0, 1], 0, 5)).toThrow(/scatterAdd: updates \[3\] must have the indices' shape \[2\] at axis 0/);
      const i = tg.tensor(Int32Array.from([1, 2]));
      for (const f of [tg.exp, tg.neg, (t: Tensor) => tg.sum(t), (t: Tensor) => tg.div(t, t), (t: Tensor) => tg.matmul(tg.reshape(t, [1, 2]), tg.reshape(t, [2, 1]))]) {
        expect(() => f(i)).toThrow(/: int32 operands are not supported .*cast first/);
      }
      expect(() => tg.tensor([1.5], undefined, 'int32')).toThrow(/tensor: value 1.5 at position 0 is not an int32 integer/);
      expect(() => tg.tensor([2 ** 31], undefined, 'int32')).toThrow(/not an int32 integer/);
      expect(() => tg.mul(i, 0.5)).toThrow(/mul: value 0.5 at position 0 is not an int32 integer/);
      expect(() => tg.pad(i, [1], [0], [0], 0.5)).toThrow(/pad: the padding value of an int32 tensor must be an int32 integer, got 0.5/);
      expect(() => tg.normal(tg.key(0), [2], 'int32')).toThrow(/random: samples are floats; int32/);
    });
  });
});

describe('memory', () => {
  it('take, scatterAdd, argmax and oneHot leave only their result alive (outside tidy too)', () => {
    const x = tg.tensor([[1, 5], [7, 2], [0, 3]], undefined, 'float64');
    const idx = tg.tensor(Int32Array.from([1, 0]));
    const before = tg.liveTensorCount();
    const storages = tg.getBackend().liveCount();
    const outs = [tg.take(x, [2, 0, 1], 0), tg.take(x, idx, 1), tg.scatterAdd(x, [1, 1, 0], 0, 2), tg.argmax(x, 1), tg.oneHot(idx, 3)];
    expect(tg.liveTensorCount()).toBe(before + outs.length);
    // A refused index allocates nothing.
    expect(() => tg.take(x, [3], 0)).toThrow(/out of range/);
    expect(tg.getBackend().liveCount()).toBe(storages + outs.length);
    tg.dispose([outs, x, idx]);
  });
});
