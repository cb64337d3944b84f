import { beforeAll, describe, expect, it } from 'vitest';
import { mnistPoolFromDigits, splitMnist, type MnistPool } from '../../data/mnist.ts';
import { loadMnist, readMnistPool } from '../../data/node.ts';

// The package's per-digit counts (src/digits/<d>.json), 10,000 in all.
const PACKAGE_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

let pool: MnistPool;
/** Image key -> label over the whole pool, to check where each selected image came from. */
let labelOf: Map<string, number>;

const key = (x: Float32Array, i: number) =>
  Buffer.from(x.buffer, x.byteOffset + i * 784 * 4, 784 * 4).toString('base64');

/** Exact element-wise equality; much faster than toEqual on large typed arrays. */
const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const same = (a: Float32Array, b: Float32Array) => a.length === b.length && bytesOf(a).equals(bytesOf(b));

beforeAll(async () => {
  pool = await readMnistPool();
  labelOf = new Map();
  for (let i = 0; i < pool.count; i++) labelOf.set(key(pool.images, i), pool.labels[i]);
});

describe('MNIST pool', () => {
  it('holds the package digits: 10,000 images of 784 pixels in [0, 1]', () => {
    expect(pool.count).toBe(10000);
    expect(pool.images.length).toBe(10000 * 784);
    const counts = new Array(10).fill(0);
    for (const l of pool.labels) counts[l]++;
    expect(counts).toEqual(PACKAGE_COUNTS);
    let min = Infinity;
    let max = -Infinity;
    for (const v of pool.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
  });

  it('is read once and cached', async () => {
    expect(await readMnistPool()).toBe(pool);
  });

  it('mnistPoolFromDigits validates its input', () => {
    expect(() => mnistPoolFromDigits([[0]])).toThrow(/expected 10 digit arrays, got 1/);
    const digits = Array.from({ length: 10 }, () => new Array(784).fill(0));
    digits[4] = new Array(783).fill(0);
    expect(() => mnistPoolFromDigits(digits)).toThrow(/digit 4 has 783 values/);
    digits[4] = new Array(784).fill(0);
    digits[2][5] = 1.5;
    expect(() => mnistPoolFromDigits(digits)).toThrow(/digit 2 value 5 is 1.5, outside \[0, 1\]/);
  });
});

describe('loadMnist', () => {
  it('binary 0 vs 1: NHWC shapes, balance, ±1 targets (first class -> -1)', async () => {
    const { train, test, target } = await loadMnist({ classes: [0, 1], trainSize: 200, testSize: 100, seed: 1 });
    expect(target).toBe('pm1');
    expect(train.xShape).toEqual([200, 28, 28, 1]);
    expect(train.x.length).toBe(200 * 784);
    expect(train.yShape).toEqual([200, 1]);
    expect(test.xShape).toEqual([100, 28, 28, 1]);
    expect(test.yShape).toEqual([100, 1]);
    for (const [ds, n] of [
      [train, 200],
      [test, 100],
    ] as const) {
      expect(ds.labels.filter((l) => l === 0).length).toBe(n / 2);
      expect(ds.labels.filter((l) => l === 1).length).toBe(n / 2);
      ds.labels.forEach((l, i) => expect(ds.y[i]).toBe(l === 0 ? -1 : 1));
      expect(ds.x.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
    // Classes are interleaved, not in blocks (minibatches should see both).
    expect(new Set(train.labels.subarray(0, 20)).size).toBe(2);
  });

  it('selected images are real images of their labelled class, and train ∩ test = ∅', async () => {
    const { train, test } = await loadMnist({ classes: [3, 8], trainSize: 400, testSize: 200, seed: 9 });
    const seen = new Set<string>();
    for (const ds of [train, test]) {
      for (let i = 0; i < ds.labels.length; i++) {
        const k = key(ds.x, i);
        expect(labelOf.get(k)).toBe(ds.labels[i]);
        expect(seen.has(k)).toBe(false);
        seen.add(k);
      }
    }
  });

  it('one-hot for several classes: rows sum to 1, column = position in classes', async () => {
    const classes = [7, 2, 9];
    const { train, target } = await loadMnist({ classes, trainSize: 31, testSize: 10, seed: 2 });
    expect(target).toBe('onehot');
    expect(train.yShape).toEqual([31, 3]);
    expect(train.classes).toEqual(classes);
    // 31 = 11 + 10 + 10: the first class listed takes the remainder.
    expect(classes.map((c) => train.labels.filter((l) => l === c).length)).toEqual([11, 10, 10]);
    for (let i = 0; i < 31; i++) {
      const row = Array.from(train.y.subarray(i * 3, i * 3 + 3));
      expect(row.reduce((a, b) => a + b, 0)).toBe(1);
      expect(row[classes.indexOf(train.labels[i])]).toBe(1);
    }
  });

  it('defaults to all ten digits with one-hot targets; flatten gives [N, 784]', async () => {
    const { train, test } = await loadMnist({ trainSize: 1000, testSize: 500, flatten: true });
    expect(train.xShape).toEqual([1000, 784]);
    expect(train.yShape).toEqual([1000, 10]);
    expect(test.xShape).toEqual([500, 784]);
    for (let c = 0; c < 10; c++) expect(train.labels.filter((l) => l === c).length).toBe(100);
  });

  it('the split is fixed by the seed and changes with it', async () => {
    const opts = { classes: [4, 9], trainSize: 100, testSize: 50 };
    const a = await loadMnist({ ...opts, seed: 5 });
    const b = await loadMnist({ ...opts, seed: 5 });
    const c = await loadMnist({ ...opts, seed: 6 });
    expect(same(b.train.x, a.train.x)).toBe(true);
    expect(same(b.test.x, a.test.x)).toBe(true);
    expect(same(b.train.y, a.train.y)).toBe(true);
    expect(Array.from(b.train.labels)).toEqual(Array.from(a.train.labels));
    expect(same(c.train.x, a.train.x)).toBe(false);
    expect(same(c.test.x, a.test.x)).toBe(false);
    // splitMnist on the pool is the same function as loadMnist.
    expect(same(splitMnist(pool, { ...opts, seed: 5 }).train.x, a.train.x)).toBe(true);
  });

  it('can take every example of a class, and no more', async () => {
    const { train, test } = await loadMnist({ classes: [5], trainSize: 800, testSize: 63, target: 'onehot' });
    expect(train.labels.length + test.labels.length).toBe(863);
    await expect(loadMnist({ classes: [5], trainSize: 800, testSize: 64 })).rejects.toThrow(
      'loadMnist: trainSize=800, testSize=64 needs 864 examples of class 5 (balanced over 1 classes) but only 863 are available',
    );
  });

  it('rejects bad options with messages naming the function and the value', async () => {
    const base = { trainSize: 10, testSize: 10 };
    await expect(loadMnist({ ...base, classes: [0, 10] })).rejects.toThrow('loadMnist: unknown class 10');
    await expect(loadMnist({ ...base, classes: [1, 1] })).rejects.toThrow('loadMnist: class 1 is listed twice');
    await expect(loadMnist({ ...base, trainSize: -1 })).rejects.toThrow(
      'loadMnist: trainSize must be a non-negative integer, got -1',
    );
    await expect(loadMnist({ ...base, testSize: 2.5 })).rejects.toThrow(
      'loadMnist: testSize must be a non-negative integer, got 2.5',
    );
    await expect(loadMnist({ ...base, seed: -3 })).rejects.toThrow(
      'loadMnist: seed must be an integer in [0, 2^32), got -3',
    );
    await expect(loadMnist({ ...base, classes: [0, 1, 2], target: 'pm1' })).rejects.toThrow(
      "loadMnist: target 'pm1' needs exactly 2 classes, got 3",
    );
    await expect(loadMnist({ ...base, target: 'ordinal' as never })).rejects.toThrow(
      `loadMnist: target must be 'pm1' or 'onehot', got "ordinal"`,
    );
    await expect(loadMnist({ ...base, trainsize: 5 } as never)).rejects.toThrow(
      "loadMnist: unknown option 'trainsize'",
    );
    await expect(loadMnist({ testSize: 1 } as never)).rejects.toThrow(
      'loadMnist: trainSize must be a non-negative integer, got undefined',
    );
    expect(() => splitMnist(pool, { ...base, classes: [-1] })).toThrow('splitMnist: unknown class -1');
  });
});
