/** The suite's datasets as float32 tensors (kept; the caller disposes), seeded per replicate. */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { loadCifar10Dir, loadMnist } from '../../data/node.ts';
import { moments } from '../study-common.ts';
import { loadData } from '../study.ts';

export interface BinaryData {
  xTrain: Tensor;
  yTrain: Float32Array;
  xTest: Tensor;
  yTest: Float32Array;
  dispose(): void;
}

function pack(x: Float32Array, shape: number[], xs: Float32Array, shapeTest: number[], yTrain: Float32Array, yTest: Float32Array): BinaryData {
  const xTrain = tg.keep(tg.tensor(x, shape));
  const xTest = tg.keep(tg.tensor(xs, shapeTest));
  return { xTrain, yTrain, xTest, yTest, dispose: () => tg.dispose([xTrain, xTest]) };
}

/** MNIST 4 vs 9 (the study's task): flattened, standardized, +-1. */
export async function mnistBinary(seed: number, trainSize: number, testSize: number): Promise<BinaryData> {
  const d = await loadData({ dataset: 'mnist', dataDir: '', trainSize, testSize, seed });
  return pack(d.xTrain, [trainSize, d.dim], d.xTest, [testSize, d.dim], d.yTrain, d.yTest);
}

/**
 * CIFAR-10 airplane vs horse, +-1, per-channel standardized: flattened ([N, 3072], imageSize
 * null) or as NHWC images average-pooled from 32x32 down to imageSize (a divisor of 32), which
 * keeps the CNN figures' convolutions affordable on a CPU at the small scale.
 */
export async function cifarBinary(dataDir: string, seed: number, trainSize: number, testSize: number, imageSize: number | null): Promise<BinaryData> {
  if (imageSize === null) {
    const d = await loadData({ dataset: 'cifar2', dataDir, trainSize, testSize, seed });
    return pack(d.xTrain, [trainSize, d.dim], d.xTest, [testSize, d.dim], d.yTrain, d.yTest);
  }
  if (!Number.isInteger(imageSize) || imageSize < 1 || 32 % imageSize !== 0) throw new Error(`cifarBinary: imageSize must divide 32, got ${imageSize}`);
  const { train, test } = await loadCifar10Dir(dataDir, { trainSize, testSize, classes: ['airplane', 'horse'], seed, target: 'pm1', standardize: true });
  const f = 32 / imageSize;
  const down = (x: Float32Array, n: number): Tensor =>
    tg.keep(tg.tidy(() => {
      const t = tg.tensor(x, [n, 32, 32, 3]);
      return f === 1 ? tg.mul(t, 1) : tg.avgPool(t, [f, f], [f, f], 'VALID');
    }));
  const xTrain = down(train.x, trainSize);
  const xTest = down(test.x, testSize);
  return { xTrain, yTrain: train.y, xTest, yTest: test.y, dispose: () => tg.dispose([xTrain, xTest]) };
}

/** MNIST, all ten digits, one-hot targets, standardized with the train pixels' mean and sd. */
export async function mnistTenClass(seed: number, trainSize: number, testSize: number): Promise<{ xTrain: Tensor; yTrain: Tensor; xTest: Tensor; yTest: Tensor; labelsTrain: Int32Array; labelsTest: Int32Array; dispose(): void }> {
  const { train, test } = await loadMnist({ trainSize, testSize, seed, target: 'onehot', flatten: true });
  const [mean, sd] = moments(train.x);
  for (const x of [train.x, test.x]) for (let i = 0; i < x.length; i++) x[i] = (x[i] - mean) / sd;
  const labels = (y: Float32Array, n: number) => Int32Array.from({ length: n }, (_, i) => y.subarray(i * 10, i * 10 + 10).indexOf(1));
  const t = {
    xTrain: tg.keep(tg.tensor(train.x, train.xShape)),
    yTrain: tg.keep(tg.tensor(train.y, train.yShape)),
    xTest: tg.keep(tg.tensor(test.x, test.xShape)),
    yTest: tg.keep(tg.tensor(test.y, test.yShape)),
  };
  return { ...t, labelsTrain: labels(train.y, trainSize), labelsTest: labels(test.y, testSize), dispose: () => tg.dispose(Object.values(t)) };
}
