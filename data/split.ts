/**
 * Shared dataset plumbing for MNIST and CIFAR-10: a seeded counter-based PRNG,
 * balanced class-stratified splits, target encodings, row gathering, per-channel
 * standardization and flattening. Everything works on plain typed arrays so the
 * engine can wrap the results as tensors later; nothing here depends on Node.
 */

/** One split of a dataset as plain arrays. `x` is row-major with shape `xShape`. */
export interface Dataset {
  /** Inputs: NHWC images (`[N, H, W, C]`) or flattened rows (`[N, D]`). */
  x: Float32Array;
  xShape: number[];
  /** Targets: `[N, 1]` for `'pm1'`, `[N, K]` for `'onehot'` (column j is `classes[j]`). */
  y: Float32Array;
  yShape: number[];
  /** Original class id (e.g. 0..9) of each example, not its position in `classes`. */
  labels: Uint8Array;
  /** The selected classes, in the order that defines the target columns / signs. */
  classes: number[];
}

/**
 * Target encodings.
 * - `'pm1'`: binary regression to ±1; needs exactly two classes. `classes[0]` maps to -1 and
 *   `classes[1]` to +1.
 * - `'onehot'`: `[N, K]` rows with a single 1 in column `classes.indexOf(label)`.
 */
export type TargetEncoding = 'pm1' | 'onehot';

// ---------------------------------------------------------------------------
// PRNG

/** 32-bit finalizer (lowbias32): good avalanche for a counter-based hash. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Counter-based hash: the `counter`-th 32-bit output of the stream for `seed`
 * (splitmix-style: a seed-dependent offset plus a Weyl sequence, then a mixer).
 * Stateless, so a given (seed, counter) gives the same value on every platform.
 *
 * @example hash32(0, 0) === hash32(0, 0) // always; hash32(0, 1) differs
 */
export function hash32(seed: number, counter: number): number {
  return mix32((mix32(seed ^ 0x6a09e667) + Math.imul(counter, 0x9e3779b9)) >>> 0);
}

/** Throws unless `seed` is an integer in [0, 2^32). */
export function checkSeed(seed: unknown, caller: string): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`${caller}: seed must be an integer in [0, 2^32), got ${String(seed)}`);
  }
  return seed;
}

/** A deterministic random stream: `hash32(seed, 0), hash32(seed, 1), ...`. */
export class Rng {
  readonly seed: number;
  private counter = 0;

  constructor(seed: number) {
    this.seed = checkSeed(seed, 'Rng');
  }

  /** Next uniform 32-bit unsigned integer. */
  nextUint32(): number {
    return hash32(this.seed, this.counter++);
  }

  /** Uniform integer in [0, n), without modulo bias (rejection sampling). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
      throw new RangeError(`Rng.nextInt: n must be an integer in [1, 2^32], got ${n}`);
    }
    // Largest multiple of n that fits in 2^32: values at or above it would bias small results.
    const limit = 0x100000000 - (0x100000000 % n);
    let v = this.nextUint32();
    while (v >= limit) v = this.nextUint32();
    return v % n;
  }
}

/**
 * Fisher–Yates shuffle in place, driven by `rng`. Returns the same array.
 *
 * @example shuffleInPlace([1, 2, 3, 4], new Rng(7)) // a fixed permutation of 1..4 for seed 7
 */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(array: T, rng: Rng): T {
  for (let i = array.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const t = array[i];
    array[i] = array[j];
    array[j] = t;
  }
  return array;
}

/**
 * A seeded random permutation of 0..n-1.
 *
 * @example permutation(5, 42) // e.g. Uint32Array [3, 0, 4, 1, 2], the same for every call with seed 42
 */
export function permutation(n: number, seed: number | Rng): Uint32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`permutation: n must be a non-negative integer, got ${n}`);
  const rng = typeof seed === 'number' ? new Rng(seed) : seed;
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return shuffleInPlace(p, rng);
}

// ---------------------------------------------------------------------------
// Validation helpers

/** Throws unless `v` is a non-negative integer; `what` names the option in the message. */
export function checkCount(v: unknown, what: string, caller: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new RangeError(`${caller}: ${what} must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

/**
 * Validates a class list: integers in [0, numClasses), no duplicates, at least one.
 *
 * @example checkClasses([0, 7], 10, 'loadCifar10') // -> [0, 7]
 */
export function checkClasses(classes: readonly unknown[], numClasses: number, caller: string): number[] {
  if (!Array.isArray(classes) || classes.length === 0) {
    throw new RangeError(`${caller}: classes must be a non-empty array, got ${JSON.stringify(classes)}`);
  }
  const seen = new Set<number>();
  for (const c of classes) {
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new RangeError(`${caller}: unknown class ${JSON.stringify(c)} (expected an integer 0..${numClasses - 1})`);
    }
    if (seen.has(c)) throw new RangeError(`${caller}: class ${c} is listed twice in classes`);
    seen.add(c);
  }
  return classes as number[];
}

/** Throws unless the encoding is known and compatible with the number of classes. */
export function checkTarget(target: unknown, numSelected: number, caller: string): TargetEncoding {
  if (target !== 'pm1' && target !== 'onehot') {
    throw new RangeError(`${caller}: target must be 'pm1' or 'onehot', got ${JSON.stringify(target)}`);
  }
  if (target === 'pm1' && numSelected !== 2) {
    throw new RangeError(`${caller}: target 'pm1' needs exactly 2 classes, got ${numSelected}`);
  }
  return target;
}

/** Default encoding: ±1 regression for a binary task (as in the paper), one-hot otherwise. */
export function defaultTarget(numSelected: number): TargetEncoding {
  return numSelected === 2 ? 'pm1' : 'onehot';
}

// ---------------------------------------------------------------------------
// Balanced splits

/**
 * How many examples of each class a balanced subset of `size` takes: `floor(size / k)` each,
 * and the first `size % k` classes (in list order) take one more.
 *
 * @example balancedCounts(7, 3) // -> [3, 2, 2]
 */
export function balancedCounts(size: number, numClasses: number): number[] {
  const base = Math.floor(size / numClasses);
  const extra = size % numClasses;
  return Array.from({ length: numClasses }, (_, i) => base + (i < extra ? 1 : 0));
}

/**
 * Draws disjoint, class-balanced index subsets from one pool of labelled examples.
 * For each class (in `classes` order) its indices are shuffled with `rng`, and consecutive
 * runs of that shuffled list go to part 0, part 1, ...; so parts never share an example.
 * Each part is then shuffled so classes are interleaved (minibatches see every class).
 * Throws, naming `caller`, the class and the counts, when a class has too few examples.
 *
 * @example
 * // 100 train and 20 test indices, 50/10 of each of digits 3 and 8, disjoint:
 * const [train, test] = balancedSplit(labels, [3, 8], [100, 20], new Rng(0), 'loadMnist');
 */
export function balancedSplit(
  labels: Uint8Array,
  classes: readonly number[],
  sizes: readonly number[],
  rng: Rng,
  caller: string,
  sizeNames: readonly string[] = sizes.map((_, i) => `sizes[${i}]`),
): Uint32Array[] {
  const k = classes.length;
  const perPart = sizes.map((s) => balancedCounts(s, k));
  const byClass = new Map<number, number[]>();
  for (const c of classes) byClass.set(c, []);
  for (let i = 0; i < labels.length; i++) byClass.get(labels[i])?.push(i);

  const parts = sizes.map((s) => new Uint32Array(s));
  const filled = sizes.map(() => 0);
  classes.forEach((c, ci) => {
    const pool = byClass.get(c)!;
    const need = perPart.reduce((acc, counts) => acc + counts[ci], 0);
    if (need > pool.length) {
      const what = sizes.map((s, i) => `${sizeNames[i]}=${s}`).join(', ');
      throw new RangeError(
        `${caller}: ${what} needs ${need} examples of class ${c} (balanced over ${k} classes) ` +
          `but only ${pool.length} are available`,
      );
    }
    shuffleInPlace(pool, rng);
    let at = 0;
    perPart.forEach((counts, p) => {
      for (let j = 0; j < counts[ci]; j++) parts[p][filled[p]++] = pool[at++];
    });
  });
  for (const part of parts) shuffleInPlace(part, rng);
  return parts;
}

// ---------------------------------------------------------------------------
// Gathering, targets, standardization, flatten

/**
 * Copies rows `indices` of a row-major `[N, rowSize]` array into a new Float32Array,
 * scaling each value by `scale` (e.g. 1/255 for bytes).
 *
 * @example gatherRows(new Uint8Array([1, 2, 3, 4]), 2, [1], 1) // -> Float32Array [3, 4]
 */
export function gatherRows(
  src: ArrayLike<number>,
  rowSize: number,
  indices: ArrayLike<number>,
  scale = 1,
): Float32Array {
  const out = new Float32Array(indices.length * rowSize);
  for (let r = 0; r < indices.length; r++) {
    const from = indices[r] * rowSize;
    const to = r * rowSize;
    for (let j = 0; j < rowSize; j++) out[to + j] = src[from + j] * scale;
  }
  return out;
}

/**
 * Encodes labels as targets (see {@link TargetEncoding}). Every label must be in `classes`.
 *
 * @example encodeTargets(new Uint8Array([0, 7, 7]), [0, 7], 'pm1') // -> { y: [-1, 1, 1], yShape: [3, 1] }
 * @example encodeTargets(new Uint8Array([2, 5]), [5, 2], 'onehot') // -> { y: [0,1, 1,0], yShape: [2, 2] }
 */
export function encodeTargets(
  labels: Uint8Array,
  classes: readonly number[],
  target: TargetEncoding,
): { y: Float32Array; yShape: number[] } {
  checkTarget(target, classes.length, 'encodeTargets');
  const column = new Map<number, number>();
  classes.forEach((c, i) => column.set(c, i));
  const n = labels.length;
  const width = target === 'pm1' ? 1 : classes.length;
  const y = new Float32Array(n * width);
  for (let i = 0; i < n; i++) {
    const col = column.get(labels[i]);
    if (col === undefined) {
      throw new RangeError(
        `encodeTargets: label ${labels[i]} at index ${i} is not in classes ${JSON.stringify(classes)}`,
      );
    }
    if (target === 'pm1') y[i] = col === 0 ? -1 : 1;
    else y[i * width + col] = 1;
  }
  return { y, yShape: [n, width] };
}

/** Per-channel mean and (population) standard deviation of channel-last data. */
export interface ChannelStats {
  mean: number[];
  std: number[];
}

/**
 * Per-channel mean and population std of channel-last data (`[..., C]`, e.g. NHWC),
 * accumulated in float64.
 *
 * @example channelStats(new Float32Array([0, 10, 2, 30]), 2) // -> { mean: [1, 20], std: [1, 10] }
 */
export function channelStats(x: ArrayLike<number>, channels: number): ChannelStats {
  if (x.length % channels !== 0) {
    throw new RangeError(`channelStats: length ${x.length} is not a multiple of ${channels} channels`);
  }
  const count = x.length / channels;
  const sum = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) sum[i % channels] += x[i];
  const mean = Array.from(sum, (s) => (count > 0 ? s / count : 0));
  // Two-pass variance: no catastrophic cancellation for values far from 0.
  const sq = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - mean[i % channels];
    sq[i % channels] += d * d;
  }
  const std = Array.from(sq, (s) => (count > 0 ? Math.sqrt(s / count) : 0));
  return { mean, std };
}

/**
 * Standardizes channel-last data in place: `(x - mean[c]) / std[c]`. A channel with std 0 is only
 * centered (dividing by 0 would give NaN/Inf). Use the TRAIN statistics for both train and test.
 *
 * @example
 * const stats = channelStats(train.x, 3);
 * standardizeChannels(train.x, stats); standardizeChannels(test.x, stats);
 */
export function standardizeChannels(x: Float32Array, stats: ChannelStats): Float32Array {
  const channels = stats.mean.length;
  if (x.length % channels !== 0) {
    throw new RangeError(`standardizeChannels: length ${x.length} is not a multiple of ${channels} channels`);
  }
  const inv = stats.std.map((s) => (s > 0 ? 1 / s : 1));
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    x[i] = (x[i] - stats.mean[c]) * inv[c];
  }
  return x;
}

/**
 * The same dataset with `x` viewed as `[N, D]` rows (D = product of the other dims).
 * No copy: NHWC is already contiguous per example, so the buffer is shared.
 *
 * @example flatten(mnistTrain).xShape // [N, 28, 28, 1] -> [N, 784]
 */
export function flatten<T extends Dataset>(ds: T): T {
  const n = ds.xShape[0];
  const d = ds.xShape.slice(1).reduce((a, b) => a * b, 1);
  return { ...ds, xShape: [n, d] };
}
