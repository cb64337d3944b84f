/**
 * The app's data, as plain arrays ready for tensors: an MNIST pair from the shipped subset, the
 * synthetic 1-D and 2-D regressions (also the GP view's data), and CIFAR-10 airplane vs horse
 * from files the user picks (the standard binary batches, or the release's .tar / .tar.gz).
 * Preprocessing equals the CLI study's (cli/study.ts): +-1 targets, MNIST standardized with the
 * train pixels' mean and std, CIFAR-10 per channel.
 */
import * as tg from '../../engine/index.ts';
import { uniformValues } from '../../engine/random.ts';
import { loadCifar10 } from '../../data/cifar10.ts';
import { splitMnist, type MnistPool } from '../../data/mnist.ts';
import { readTar } from '../../data/tar.ts';
import { moments } from '../../cli/study-common.ts';
import type { AppSettings } from './settings.ts';

export interface StudyData {
  xTrain: Float32Array;
  yTrain: Float32Array;
  xTest: Float32Array;
  yTest: Float32Array;
  /** Shape of one input: [D] or [H, W, C]. */
  inputShape: number[];
  /** What the data is, in words. */
  description: string;
}

/** A named file's bytes (what the page hands the worker for CIFAR-10). */
export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

/** MNIST digitA (-1) vs digitB (+1): the subset's balanced split, standardized as the CLI does. */
export function mnistPair(pool: MnistPool, s: Pick<AppSettings, 'digitA' | 'digitB' | 'trainSize' | 'testSize' | 'seed' | 'arch'>): StudyData {
  const flat = s.arch === 'fc';
  const { train, test } = splitMnist(pool, { trainSize: s.trainSize, testSize: s.testSize, classes: [s.digitA, s.digitB], seed: s.seed, target: 'pm1', flatten: true });
  // Raw pixels share a large positive offset that makes one NTK eigenvalue dominate (cli/study.ts).
  const [mean, std] = moments(train.x);
  for (const x of [train.x, test.x]) for (let i = 0; i < x.length; i++) x[i] = (x[i] - mean) / std;
  return {
    xTrain: train.x, yTrain: train.y, xTest: test.x, yTest: test.y,
    inputShape: flat ? [784] : [28, 28, 1],
    description: `MNIST ${s.digitA} (-1) vs ${s.digitB} (+1), |D| = ${s.trainSize}, ${s.testSize} test images (from the shipped subset of ${pool.count / 10} per digit)`,
  };
}

/** The target of the synthetic regressions: smooth, with both signs, O(1). */
export function syntheticTarget(x: ArrayLike<number>, dim: number, i: number): number {
  return dim === 1 ? Math.sin(2 * x[i]) : Math.sin(2 * x[2 * i]) * Math.cos(x[2 * i + 1]);
}

/**
 * Synthetic regression in `dim` = 1 or 2: inputs uniform in [-2, 2]^dim (seeded Threefry draws),
 * targets `syntheticTarget`.
 */
export function synthetic(dim: 1 | 2, s: Pick<AppSettings, 'trainSize' | 'testSize' | 'seed'>): StudyData {
  const draw = (salt: number, n: number) => {
    // Host draws: no backend involved, the same on WebGPU and on the CPU.
    const u = uniformValues(tg.foldIn(tg.key(s.seed), salt), n * dim);
    return Float32Array.from(u, (v) => 4 * v - 2);
  };
  const xTrain = draw(11, s.trainSize);
  const xTest = draw(12, s.testSize);
  const target = (x: Float32Array, n: number) => Float32Array.from({ length: n }, (_, i) => syntheticTarget(x, dim, i));
  return {
    xTrain, yTrain: target(xTrain, s.trainSize), xTest, yTest: target(xTest, s.testSize),
    inputShape: [dim],
    description: dim === 1
      ? `1-D regression y = sin(2x), x uniform in [-2, 2], |D| = ${s.trainSize}`
      : `2-D regression y = sin(2 x1) cos(x2), x uniform in [-2, 2]^2, |D| = ${s.trainSize}`,
  };
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Whether bytes start with the gzip magic number. */
function isGzip(b: Uint8Array): boolean {
  return b.length > 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/**
 * The CIFAR-10 binary batches among user-picked files: data_batch_1..5.bin (or train_batch.bin)
 * and test_batch.bin, given as loose files or inside the release's cifar-10-binary.tar(.gz).
 */
export async function cifarBatches(files: NamedBytes[]): Promise<{ train: Uint8Array[]; test: Uint8Array }> {
  const found = new Map<string, Uint8Array>();
  for (const f of files) {
    const base = f.name.split('/').pop()!;
    if (/\.tar(\.gz)?$|\.tgz$/.test(base) || isGzip(f.bytes)) {
      const tar = readTar(isGzip(f.bytes) ? await gunzip(f.bytes) : f.bytes);
      for (const e of tar.files) found.set(e.name.split('/').pop()!, e.data);
    } else {
      found.set(base, f.bytes);
    }
  }
  const trainNames = found.has('train_batch.bin') ? ['train_batch.bin'] : [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).filter((n) => found.has(n));
  const names = files.map((f) => f.name).join(', ') || 'none';
  if (trainNames.length === 0) throw new Error(`CIFAR-10: no training batch among the chosen files (${names}); pick data_batch_1.bin..data_batch_5.bin and test_batch.bin, or cifar-10-binary.tar.gz`);
  if (!found.has('test_batch.bin')) throw new Error(`CIFAR-10: no test_batch.bin among the chosen files (${names})`);
  return { train: trainNames.map((n) => found.get(n)!), test: found.get('test_batch.bin')! };
}

/** CIFAR-10 airplane (-1) vs horse (+1), per-channel standardized, as `--dataset cifar2`. */
export async function cifarPair(files: NamedBytes[], s: Pick<AppSettings, 'trainSize' | 'testSize' | 'seed' | 'arch'>): Promise<StudyData> {
  const { train, test } = loadCifar10(await cifarBatches(files), {
    trainSize: s.trainSize, testSize: s.testSize, classes: ['airplane', 'horse'], seed: s.seed, target: 'pm1', standardize: true, flatten: true,
  });
  return {
    xTrain: train.x, yTrain: train.y, xTest: test.x, yTest: test.y,
    inputShape: s.arch === 'fc' ? [3072] : [32, 32, 3],
    description: `CIFAR-10 airplane (-1) vs horse (+1), |D| = ${s.trainSize}, ${s.testSize} test images, per-channel standardized`,
  };
}
