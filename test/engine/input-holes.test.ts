/**
 * Hostile and unlucky inputs: every one is refused with an error naming the op (never silently
 * accepted, never a raw TypeError or RangeError), or, where NumPy defines a value (the sum of
 * nothing, -Infinity in logsumexp, relu at -Infinity), computed exactly as it does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { CpuBackend } from '../../kernels/cpu/backend.ts';
import * as ref from './reference.ts';

/** Runs `f` and returns the Error it throws, failing unless it is a plain Error (not TypeError/RangeError). */
function refusal(f: () => unknown): Error {
  try {
    tg.tidy(() => {
      f();
    });
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).constructor, (e as Error).message).toBe(Error);
    return e as Error;
  }
  throw new Error('expected a refusal, but the call succeeded');
}

const notASize = fc.oneof(
  fc.integer({ min: 0, max: 50 }).map((d) => d + 0.5),
  fc.integer({ min: -50, max: -1 }),
  fc.constantFrom(NaN, Infinity, -Infinity, -0.25, 1e-9),
);
const dim = fc.integer({ min: 1, max: 4 });

describe('sizes must be non-negative integers, checked in the engine', () => {
  it('broadcastTo, full/zeros/ones, reshape and eye refuse a bad dimension anywhere in the shape', () => {
    fc.assert(fc.property(fc.array(dim, { maxLength: 3 }), notASize, fc.nat(), (shape, bad, at) => {
      const dims = [...shape];
      dims.splice(at % (dims.length + 1), 0, bad);
      const x = tg.ones([1]);
      expect(refusal(() => tg.broadcastTo(x, dims)).message).toMatch(/^broadcastTo: invalid shape .*non-negative integers/);
      expect(refusal(() => tg.zeros(dims)).message).toMatch(/^full: invalid shape/);
      expect(refusal(() => tg.full(dims, 3)).message).toMatch(/^full: invalid shape/);
      expect(refusal(() => tg.tensor([1], dims)).message).toMatch(/^tensor: invalid shape/);
      expect(refusal(() => tg.eye(bad)).message).toMatch(/^eye: n must be a non-negative integer/);
      expect(refusal(() => tg.normal(tg.key(0), dims)).message).toMatch(/^normal: invalid shape/);
      if (bad !== -1) expect(refusal(() => tg.reshape(x, dims)).message).toMatch(/^reshape: /);
      x.dispose();
    }));
  });

  it('slice refuses fractional begin and end instead of rounding them', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 9 }), fc.integer({ min: 0, max: 8 }), fc.boolean(), (n, b, atEnd) => {
      const x = tg.zeros([n]);
      const begin = Math.min(b, n - 2);
      const bounds = atEnd ? [[begin], [begin + 1.5]] : [[begin + 0.5], [n]];
      expect(refusal(() => tg.slice(x, bounds[0], bounds[1])).message).toMatch(/^slice: begin and end must be integers/);
      x.dispose();
    }));
  });

  it('arange refuses a zero, infinite or NaN step and non-finite bounds; otherwise it has ceil((stop - start) / step) values', () => {
    expect(refusal(() => tg.arange(0, 10, 0)).message).toBe('arange: step must not be 0 (start 0, stop 10)');
    for (const bad of [NaN, Infinity, -Infinity]) {
      expect(refusal(() => tg.arange(0, 10, bad)).message).toMatch(/^arange: step must be finite/);
      expect(refusal(() => tg.arange(bad, 10)).message).toMatch(/^arange: start must be finite/);
      expect(refusal(() => tg.arange(0, bad)).message).toMatch(/^arange: stop must be finite/);
    }
    fc.assert(fc.property(fc.integer({ min: -20, max: 20 }), fc.integer({ min: -20, max: 20 }), fc.integer({ min: -5, max: 5 }).filter((s) => s !== 0), (start, stop, step) => {
      const t = tg.arange(start, stop, step, 'float64');
      const want: number[] = [];
      for (let v = start; step > 0 ? v < stop : v > stop; v += step) want.push(v);
      expect(Array.from(t.dataSync())).toEqual(want);
      t.dispose();
    }));
  });

  it('a tensor past the 32-bit element limit is refused at once, naming the op and the size', () => {
    const x = tg.ones([1]);
    const huge = [2 ** 16, 2 ** 16]; // 2^32 elements
    for (const [op, f] of [
      ['full', () => tg.zeros([2 ** 31])],
      ['full', () => tg.full(huge, 1)],
      ['tensor', () => tg.tensor(new Float32Array(1), [2 ** 31])],
      ['broadcastTo', () => tg.broadcastTo(x, huge)],
      ['matmul', () => tg.matmul(tg.ones([2 ** 16, 1]), tg.ones([1, 2 ** 16]))],
      ['normal', () => tg.normal(tg.key(0), [2 ** 31])],
    ] as const) {
      const started = performance.now();
      expect(refusal(f).message).toMatch(new RegExp(`^${op}: shape \\[[0-9,]+\\] has \\d+ elements, more than the 2147483647 a tensor can index`));
      // Refused before anything is allocated or filled.
      expect(performance.now() - started).toBeLessThan(1000);
    }
    x.dispose();
  });

  it('an allocation that fails names the op, the shape, the dtype and the bytes', () => {
    // A backend whose allocations fail, as V8's do past the memory limit.
    class Exhausted extends CpuBackend {
      override run(): never {
        throw new RangeError('Array buffer allocation failed');
      }
    }
    const backend = new Exhausted();
    const a = tg.tensor(new Float64Array(6), [2, 3], 'float64', backend);
    const b = tg.tensor(new Float64Array(12), [3, 4], 'float64', backend);
    expect(refusal(() => tg.matmul(a, b)).message).toBe('matmul: cannot allocate the output float64[2,4] (64 bytes): Array buffer allocation failed');
    expect(refusal(() => tg.exp(a)).message).toBe('exp: cannot allocate the output float64[2,3] (48 bytes): Array buffer allocation failed');
    tg.dispose([a, b]);
  });
});

describe('nested arrays and values', () => {
  /** Nested arrays of `shape` holding 0, 1, 2, ... */
  const nested = (shape: number[], offset = 0): unknown =>
    shape.length === 0 ? offset : Array.from({ length: shape[0] }, (_, i) => nested(shape.slice(1), offset * shape[0] + i));
  const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 });

  it('well-formed nested arrays give their shape and their values in row-major order', () => {
    fc.assert(fc.property(shapeArb, (shape) => {
      const t = tg.tensor(nested(shape) as number[], undefined, 'float64');
      expect(t.shape).toEqual(shape);
      expect(Array.from(t.dataSync())).toEqual((nested(shape) as unknown[]).flat(Infinity));
      t.dispose();
    }));
  });

  it('ragged nested arrays are refused with the path of the offending row', () => {
    fc.assert(fc.property(shapeArb.filter((s) => s.length >= 2 && s[0] >= 2), fc.nat(), fc.constantFrom('shorter', 'longer', 'number'), (shape, pick, how) => {
      const values = nested(shape) as unknown[][];
      const row = 1 + (pick % (shape[0] - 1));
      if (how === 'shorter') values[row] = values[row].slice(0, -1);
      else if (how === 'longer') values[row] = [...values[row], values[row][0]];
      else values[row] = 7 as unknown as unknown[];
      const e = refusal(() => tg.tensor(values as unknown as number[]));
      expect(e.message).toMatch(new RegExp(`^tensor: ragged nested arrays: values\\[${row}\\] has .* where ${shape[1]} entries are due`));
    }));
  });

  it('entries that are not numbers are refused with their path', () => {
    const junk = fc.constantFrom<unknown>('a', '1', null, undefined, true, {});
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.nat(), junk, (n, at, bad) => {
      const values: unknown[] = Array.from({ length: n }, (_, i) => i);
      values[at % n] = bad;
      expect(refusal(() => tg.tensor(values as number[])).message).toMatch(new RegExp(`^tensor: values\\[${at % n}\\]`));
      // The same with an explicit shape (a flat list).
      expect(refusal(() => tg.tensor(values as number[], [n])).message).toMatch(/^tensor: values\[/);
    }));
    expect(refusal(() => tg.tensor(null as unknown as number)).message).toMatch(/^tensor: expected a number, nested arrays of numbers or a Float32Array\/Float64Array, got null/);
    expect(refusal(() => tg.tensor('abc' as unknown as number)).message).toMatch(/got string 'abc'/);
    expect(refusal(() => tg.tensor(new Uint8Array(2) as unknown as Float32Array)).message).toMatch(/^tensor: typed arrays must be Float32Array, Float64Array or Int32Array, got Uint8Array/);
    expect(refusal(() => tg.full([2], 'x' as unknown as number)).message).toBe("full: the fill value must be a number, got string 'x'");
  });
});

describe('PRNG keys', () => {
  it('a malformed key is refused by every random function instead of wrapping to some other key', () => {
    const word = fc.integer({ min: 0, max: 0xffffffff });
    const badWord = fc.oneof(fc.constantFrom(-1, 0.5, 2 ** 32, NaN, Infinity), fc.constant(undefined), fc.constant('7'));
    const badKey = fc.oneof(
      fc.tuple(badWord, word).map(([k0, k1]) => ({ k0, k1 })),
      fc.tuple(word, badWord).map(([k0, k1]) => ({ k0, k1 })),
      fc.constantFrom<unknown>(null, undefined, 42, [1, 2], {}),
    );
    fc.assert(fc.property(badKey, (k) => {
      const key = k as tg.Key;
      for (const [op, f] of [
        ['normal', () => tg.normal(key, [2])],
        ['uniform', () => tg.uniform(key, [2])],
        ['split', () => tg.split(key)],
        ['foldIn', () => tg.foldIn(key, 1)],
        ['randomBits', () => tg.randomBits(key, 4)],
      ] as const) {
        expect(refusal(f).message).toMatch(new RegExp(`^${op}: invalid PRNG key .*integer words in \\[0, 2\\^32\\)`));
      }
    }));
    expect(refusal(() => tg.foldIn(tg.key(1), -1)).message).toBe('foldIn: data must be an integer in [0, 2^32), got -1');
  });
});

describe('infinities in composites', () => {
  const values = fc.array(fc.oneof(fc.double({ min: -30, max: 30, noNaN: true }), fc.constantFrom(-Infinity, Infinity)), { minLength: 1, maxLength: 8 });

  it('logsumexp equals log(sum(exp(x))) in float64, with infinities: all -Infinity gives -Infinity, any +Infinity gives +Infinity', () => {
    fc.assert(fc.property(values, (xs) => {
      const got = tg.tidy(() => tg.logsumexp(tg.tensor(xs, undefined, 'float64')).itemSync());
      const finite = xs.filter(Number.isFinite);
      const want = xs.includes(Infinity) ? Infinity
        : finite.length === 0 ? -Infinity
        : Math.max(...finite) + Math.log(finite.reduce((s, v) => s + Math.exp(v - Math.max(...finite)), 0));
      if (Number.isFinite(want)) expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-13 * (1 + Math.abs(want)));
      else expect(got).toBe(want);
    }));
    expect(tg.tidy(() => tg.logsumexp(tg.tensor([-Infinity, -Infinity])).itemSync())).toBe(-Infinity);
  });

  it('relu is max(x, 0) elementwise, at the infinities too, and propagates NaN', () => {
    fc.assert(fc.property(values, fc.boolean(), (xs, withNaN) => {
      const input = withNaN ? [...xs, NaN] : xs;
      const got = tg.tidy(() => Array.from(tg.relu(tg.tensor(input, undefined, 'float64')).dataSync()));
      expect(got).toEqual(input.map((v) => (Number.isNaN(v) ? NaN : v > 0 ? v : 0)));
    }));
  });

  it("relu's derivative is 1 above 0 and 0 at and below it (0 at -Infinity, not NaN)", () => {
    const x = tg.tensor([-Infinity, -1, 0, 2, Infinity], undefined, 'float64');
    const g = tg.grad((z: Tensor) => tg.sum(tg.relu(z)))(x) as Tensor;
    expect(Array.from(g.dataSync())).toEqual([0, 0, 0, 1, 1]);
    tg.dispose([x, g]);
  });
});

describe('inputs that are not tensors', () => {
  it('every op names itself instead of failing with a TypeError', () => {
    const x = tg.ones([2, 2]);
    const calls: [string, (v: never) => unknown][] = [
      ['exp', (v) => tg.exp(v)], ['neg', (v) => tg.neg(v)], ['add', (v) => tg.add(v, x)], ['mul', (v) => tg.mul(x, v)],
      ['where', (v) => tg.where(v, x, x)], ['cast', (v) => tg.cast(v, 'float64')],
      ['sum', (v) => tg.sum(v)], ['max', (v) => tg.max(v)], ['min', (v) => tg.min(v)], ['mean', (v) => tg.mean(v)],
      ['reshape', (v) => tg.reshape(v, [4])], ['transpose', (v) => tg.transpose(v)], ['broadcastTo', (v) => tg.broadcastTo(v, [2])],
      ['slice', (v) => tg.slice(v, [0])], ['pad', (v) => tg.pad(v, [0], [1])], ['concat', (v) => tg.concat([x, v])],
      ['stack', (v) => tg.stack([v])], ['reverse', (v) => tg.reverse(v, 0)], ['expandDims', (v) => tg.expandDims(v, 0)],
      ['squeeze', (v) => tg.squeeze(v)], ['matmul', (v) => tg.matmul(v, x)], ['matmul', (v) => tg.matmul(x, v)],
      ['conv2d', (v) => tg.conv2d(v, x)], ['relu', (v) => tg.relu(v)], ['sigmoid', (v) => tg.sigmoid(v)],
      ['logsumexp', (v) => tg.logsumexp(v)], ['softmax', (v) => tg.softmax(v)], ['logSoftmax', (v) => tg.logSoftmax(v)],
      ['mse', (v) => tg.mse(v, x)], ['softmaxCrossEntropy', (v) => tg.softmaxCrossEntropy(x, v)],
      ['avgPool', (v) => tg.avgPool(v, [2, 2])], ['globalAvgPool', (v) => tg.globalAvgPool(v)],
    ];
    for (const bad of [null, undefined, 'x', [1, 2]]) {
      for (const [op, f] of calls) {
        if (typeof bad === 'string' && ['add', 'mul'].includes(op)) continue; // numbers and strings: covered below
        expect(refusal(() => f(bad as never)).message, `${op}(${String(bad)})`).toMatch(new RegExp(`^${op}: .*(must be a tensor|a tensor or a number|non-empty array).*got`));
      }
    }
    expect(refusal(() => tg.add(x, 'x' as never)).message).toBe("add: expected a tensor or a number, got string 'x'");
    x.dispose();
  });
});

describe('empty axes follow NumPy', () => {
  /** A shape with at least one zero dimension, and some axes of it. */
  const emptyCase = fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 })
    .filter((s) => s.includes(0))
    .chain((s) => fc.tuple(fc.constant(s), fc.subarray(s.map((_, i) => i)), fc.boolean()));

  it('the sum over an empty axis is 0; the max over one is refused naming the op; over non-empty axes both give empty results', () => {
    fc.assert(fc.property(emptyCase, ([shape, axes, keepdims]) => {
      const x = tg.zeros(shape, 'float64');
      const want = ref.reduce({ shape, data: new Float64Array(0) }, axes.length ? axes : shape.map((_, i) => i), keepdims, (a, b) => a + b, 0);
      const s = tg.sum(x, axes.length ? axes : undefined, keepdims);
      expect(s.shape).toEqual(want.shape);
      expect(Array.from(s.dataSync())).toEqual(Array.from(want.data));
      const reducesEmpty = (axes.length ? axes : shape.map((_, i) => i)).some((a) => shape[a] === 0);
      if (reducesEmpty) {
        expect(refusal(() => tg.max(x, axes.length ? axes : undefined)).message).toMatch(/^max: cannot reduce the empty axis \d+ of \[[0-9,]+\] \(the max of no values is undefined\)/);
      } else {
        const m = tg.max(x, axes, keepdims);
        expect(m.shape).toEqual(want.shape);
        expect(m.size).toBe(0);
        m.dispose();
      }
      tg.dispose([x, s]);
    }));
  });

  it('matmul with a zero dimension gives zeros of the right shape, and its gradients too', () => {
    fc.assert(fc.property(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })).filter((d) => d.includes(0)), ([m, k, n]) => {
      tg.tidy(() => {
        const a = tg.ones([m, k], 'float64');
        const b = tg.ones([k, n], 'float64');
        const out = tg.matmul(a, b);
        expect(out.shape).toEqual([m, n]);
        expect(Array.from(out.dataSync())).toEqual(new Array(m * n).fill(0));
        const [ga, gb] = tg.grad((p: Tensor, q: Tensor) => tg.sum(tg.matmul(p, q)), { argnums: [0, 1] })(a, b) as Tensor[];
        expect(ga.shape).toEqual([m, k]);
        expect(gb.shape).toEqual([k, n]);
        expect(Array.from(ga.dataSync())).toEqual(new Array(m * k).fill(n));
        expect(Array.from(gb.dataSync())).toEqual(new Array(k * n).fill(m));
      });
    }));
  });
});
