/**
 * CIFAR-10 in the standard binary format: each record is 3073 bytes, one label byte (0..9) then
 * the 32x32 red plane, green plane and blue plane (1024 bytes each, row-major). Parsing takes bytes
 * (`Uint8Array` / `ArrayBuffer`), so this file is browser-safe; the Node folder reader
 * (`readCifar10Dir`, `loadCifar10Dir`) lives in data/node.ts. Images come out NHWC (`[N, 32, 32, 3]`), the layout the engine uses.
 */
import {
  Rng,
  balancedSplit,
  channelStats,
  checkClasses,
  checkCount,
  checkSeed,
  checkTarget,
  defaultTarget,
  encodeTargets,
  flatten,
  gatherRows,
  standardizeChannels,
  type ChannelStats,
  type Dataset,
  type TargetEncoding,
} from './split.ts';

export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;
export type Cifar10ClassName = (typeof CIFAR10_CLASSES)[number];

export const CIFAR10_SIZE = 32;
export const CIFAR10_CHANNELS = 3;
export const CIFAR10_IMAGE_BYTES = CIFAR10_SIZE * CIFAR10_SIZE * CIFAR10_CHANNELS; // 3072
export const CIFAR10_RECORD_BYTES = 1 + CIFAR10_IMAGE_BYTES; // 3073

/** Parsed records: `images` is NHWC bytes `[count, 32, 32, 3]`. */
export interface Cifar10Raw {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export type Bytes = Uint8Array | ArrayBuffer;

/**
 * Planar CHW -> interleaved HWC for one image: `dst[(y*w + x)*c + ch] = src[ch*h*w + y*w + x]`.
 *
 * @example chwToHwc(new Uint8Array([1, 2, 10, 20]), 0, out, 0, 1, 2, 2) // out = [1, 10, 2, 20]
 */
export function chwToHwc(
  src: ArrayLike<number>,
  srcOffset: number,
  dst: { [i: number]: number },
  dstOffset: number,
  h: number,
  w: number,
  c: number,
): void {
  const plane = h * w;
  for (let ch = 0; ch < c; ch++) {
    const from = srcOffset + ch * plane;
    for (let p = 0; p < plane; p++) dst[dstOffset + p * c + ch] = src[from + p];
  }
}

/**
 * Interleaved HWC -> planar CHW for one image (inverse of {@link chwToHwc}).
 *
 * @example hwcToChw(new Uint8Array([1, 10, 2, 20]), 0, out, 0, 1, 2, 2) // out = [1, 2, 10, 20]
 */
export function hwcToChw(
  src: ArrayLike<number>,
  srcOffset: number,
  dst: { [i: number]: number },
  dstOffset: number,
  h: number,
  w: number,
  c: number,
): void {
  const plane = h * w;
  for (let ch = 0; ch < c; ch++) {
    const to = dstOffset + ch * plane;
    for (let p = 0; p < plane; p++) dst[to + p] = src[srcOffset + p * c + ch];
  }
}

function asBytes(bytes: Bytes, caller: string, source: string): Uint8Array {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new TypeError(`${caller}: ${source} must be a Uint8Array or ArrayBuffer`);
}

/**
 * Parses CIFAR-10 binary records into NHWC bytes. `source` (e.g. a file name) is named in errors:
 * empty input, a length that is not a multiple of 3073, or a label byte above 9.
 *
 * @example
 * const raw = parseCifar10(await (await fetch('test_batch.bin')).arrayBuffer(), 'test_batch.bin');
 * raw.images.length === raw.count * 3072
 */
export function parseCifar10(bytes: Bytes, source = 'input'): Cifar10Raw {
  const data = asBytes(bytes, 'parseCifar10', source);
  if (data.length === 0) throw new RangeError(`parseCifar10: ${source} is empty (0 bytes)`);
  if (data.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new RangeError(
      `parseCifar10: ${source} has ${data.length} bytes, not a multiple of the ${CIFAR10_RECORD_BYTES}-byte ` +
        `record (${Math.floor(data.length / CIFAR10_RECORD_BYTES)} records + ${data.length % CIFAR10_RECORD_BYTES} bytes)`,
    );
  }
  const count = data.length / CIFAR10_RECORD_BYTES;
  const labels = new Uint8Array(count);
  const images = new Uint8Array(count * CIFAR10_IMAGE_BYTES);
  for (let i = 0; i < count; i++) {
    const at = i * CIFAR10_RECORD_BYTES;
    const label = data[at];
    if (label > 9) {
      throw new RangeError(
        `parseCifar10: ${source} record ${i} (byte offset ${at}) has label ${label}; labels must be 0..9`,
      );
    }
    labels[i] = label;
    chwToHwc(data, at + 1, images, i * CIFAR10_IMAGE_BYTES, CIFAR10_SIZE, CIFAR10_SIZE, CIFAR10_CHANNELS);
  }
  return { images, labels, count };
}

/**
 * Encodes NHWC byte images and labels as CIFAR-10 binary records (inverse of {@link parseCifar10});
 * handy for fixtures and for writing subsets.
 *
 * @example parseCifar10(encodeCifar10(raw.images, raw.labels)) // same images and labels as raw
 */
export function encodeCifar10(images: Uint8Array, labels: Uint8Array): Uint8Array {
  if (images.length !== labels.length * CIFAR10_IMAGE_BYTES) {
    throw new RangeError(
      `encodeCifar10: ${images.length} image bytes do not match ${labels.length} labels x ${CIFAR10_IMAGE_BYTES}`,
    );
  }
  const out = new Uint8Array(labels.length * CIFAR10_RECORD_BYTES);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] > 9) throw new RangeError(`encodeCifar10: label ${labels[i]} at index ${i}; labels must be 0..9`);
    const at = i * CIFAR10_RECORD_BYTES;
    out[at] = labels[i];
    hwcToChw(images, i * CIFAR10_IMAGE_BYTES, out, at + 1, CIFAR10_SIZE, CIFAR10_SIZE, CIFAR10_CHANNELS);
  }
  return out;
}

/**
 * Concatenates parsed batches (e.g. data_batch_1..5) in order.
 *
 * @example concatCifar10([parseCifar10(b1, 'data_batch_1.bin'), parseCifar10(b2, 'data_batch_2.bin')])
 */
export function concatCifar10(parts: readonly Cifar10Raw[]): Cifar10Raw {
  const count = parts.reduce((n, p) => n + p.count, 0);
  const images = new Uint8Array(count * CIFAR10_IMAGE_BYTES);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * CIFAR10_IMAGE_BYTES);
    labels.set(p.labels, at);
    at += p.count;
  }
  return { images, labels, count };
}

export interface Cifar10Options {
  /** Training examples, balanced over `classes`, drawn from the train records. */
  trainSize: number;
  /** Test examples, balanced over `classes`, drawn from the test records. */
  testSize: number;
  /** Class ids or names, in target order. Default: all ten. The paper's binary task: `['airplane', 'horse']`. */
  classes?: (number | Cifar10ClassName)[];
  /** Seed of the subset draw; the same seed always gives the same subsets. Default 0. */
  seed?: number;
  /** Default: `'pm1'` for two classes (`classes[0]` -> -1, `classes[1]` -> +1), else `'onehot'`. */
  target?: TargetEncoding;
  /**
   * Per-channel standardization with the mean/std of the selected TRAIN subset, applied to
   * train and test alike. Default false: pixels are bytes / 255, in [0, 1].
   */
  standardize?: boolean;
  /** Return `x` as `[N, 3072]` (NHWC order) instead of `[N, 32, 32, 3]`. Default false. */
  flatten?: boolean;
}

export interface Cifar10Split {
  train: Dataset;
  test: Dataset;
  classes: number[];
  target: TargetEncoding;
  /** The train statistics (of pixels in [0,1]) used for standardization, when `standardize` is set. */
  stats?: ChannelStats;
}

function resolveClass(c: unknown, caller: string): unknown {
  if (typeof c !== 'string') return c;
  const id = (CIFAR10_CLASSES as readonly string[]).indexOf(c);
  if (id < 0) throw new RangeError(`${caller}: unknown class '${c}' (expected one of ${CIFAR10_CLASSES.join(', ')})`);
  return id;
}

/** Validates options; errors name `caller` (shared with data/node.ts). */
export function resolveCifar10Options(options: Cifar10Options, caller: string) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${caller}: options must be an object with trainSize and testSize`);
  }
  const known = new Set(['trainSize', 'testSize', 'classes', 'seed', 'target', 'standardize', 'flatten']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new RangeError(`${caller}: unknown option '${key}'`);
  }
  const given = options.classes ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  if (!Array.isArray(given)) throw new RangeError(`${caller}: classes must be an array, got ${JSON.stringify(given)}`);
  const classes = checkClasses(
    given.map((c) => resolveClass(c, caller)),
    10,
    caller,
  );
  const trainSize = checkCount(options.trainSize, 'trainSize', caller);
  const testSize = checkCount(options.testSize, 'testSize', caller);
  const seed = checkSeed(options.seed ?? 0, caller);
  const target = checkTarget(options.target ?? defaultTarget(classes.length), classes.length, caller);
  return {
    classes,
    trainSize,
    testSize,
    seed,
    target,
    standardize: options.standardize === true,
    flatten: options.flatten === true,
  };
}

/** {@link prepareCifar10} with errors naming `caller` (data/node.ts's `loadCifar10Dir` uses it). */
export function prepareCifar10As(
  raw: { train: Cifar10Raw; test: Cifar10Raw },
  options: Cifar10Options,
  caller: string,
): Cifar10Split {
  const o = resolveCifar10Options(options, caller);
  // One stream for both draws: train first, then test, so the seed fixes both.
  const rng = new Rng(o.seed);
  const [trainIdx] = balancedSplit(raw.train.labels, o.classes, [o.trainSize], rng, caller, ['trainSize']);
  const [testIdx] = balancedSplit(raw.test.labels, o.classes, [o.testSize], rng, caller, ['testSize']);
  const make = (src: Cifar10Raw, idx: Uint32Array): Dataset => {
    const labels = new Uint8Array(idx.length);
    for (let i = 0; i < idx.length; i++) labels[i] = src.labels[idx[i]];
    const { y, yShape } = encodeTargets(labels, o.classes, o.target);
    return {
      x: gatherRows(src.images, CIFAR10_IMAGE_BYTES, idx, 1 / 255),
      xShape: [idx.length, CIFAR10_SIZE, CIFAR10_SIZE, CIFAR10_CHANNELS],
      y,
      yShape,
      labels,
      classes: [...o.classes],
    };
  };
  let train = make(raw.train, trainIdx);
  let test = make(raw.test, testIdx);
  let stats: ChannelStats | undefined;
  if (o.standardize) {
    if (o.trainSize === 0) throw new RangeError(`${caller}: standardize needs trainSize > 0 (stats come from train)`);
    // Train statistics only: using test pixels would leak test information into the inputs.
    stats = channelStats(train.x, CIFAR10_CHANNELS);
    standardizeChannels(train.x, stats);
    standardizeChannels(test.x, stats);
  }
  if (o.flatten) {
    train = flatten(train);
    test = flatten(test);
  }
  return { train, test, classes: o.classes, target: o.target, ...(stats ? { stats } : {}) };
}

/**
 * Selects balanced train/test subsets from parsed records and encodes them.
 *
 * @example
 * const { train } = prepareCifar10({ train: rawTrain, test: rawTest },
 *   { classes: ['airplane', 'horse'], trainSize: 1000, testSize: 500, standardize: true });
 * // train.xShape = [1000, 32, 32, 3]; airplane -> -1, horse -> +1
 */
export function prepareCifar10(raw: { train: Cifar10Raw; test: Cifar10Raw }, options: Cifar10Options): Cifar10Split {
  return prepareCifar10As(raw, options, 'prepareCifar10');
}

/**
 * Parses train/test bytes (one buffer or several batches each) and prepares the subsets.
 * Works in the browser.
 *
 * @example
 * const split = loadCifar10({ train: trainBytes, test: testBytes }, { classes: [0, 7], trainSize: 100, testSize: 100 });
 */
export function loadCifar10(
  bytes: { train: Bytes | Bytes[]; test: Bytes | Bytes[] },
  options: Cifar10Options,
): Cifar10Split {
  resolveCifar10Options(options, 'loadCifar10');
  const parse = (b: Bytes | Bytes[], name: string) =>
    Array.isArray(b) ? concatCifar10(b.map((part, i) => parseCifar10(part, `${name}[${i}]`))) : parseCifar10(b, name);
  return prepareCifar10As({ train: parse(bytes.train, 'train'), test: parse(bytes.test, 'test') }, options, 'loadCifar10');
}
