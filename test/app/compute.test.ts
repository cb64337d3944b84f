/**
 * The app's computations in Node, on the CPU backend: URL settings, the data it ships and reads,
 * its networks, and the laws its views rest on (the linearized model trained step by step equals
 * the closed form; the GP at step 0 is the prior; an ensemble of wide networks matches the GP;
 * the fitted slope of an exact power law is its exponent).
 */
import { readFileSync } from 'node:fs';
import { gzipSync, gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tg from '../../index.ts';
import { readMnistPool } from '../../data/node.ts';
import { matrix } from '../../linalg/dense.ts';
import { cifarBatches, cifarPair, mnistPair, synthetic } from '../../app/compute/datasets.ts';
import { runGpView } from '../../app/compute/gp.ts';
import { decodeMnistSubset, encodeMnistSubset } from '../../app/compute/mnist-subset.ts';
import { buildNetwork } from '../../app/compute/network.ts';
import { DEFAULTS, parseSetting, queryFromSettings, settingsFromQuery, type AppSettings } from '../../app/compute/settings.ts';
import { heatmapOf, runAppStudy } from '../../app/compute/study.ts';
import { logLogSlope, runWidthSweep } from '../../app/compute/sweep.ts';

beforeAll(async () => {
  await tg.setBackend('cpu');
});

const settingsArb: fc.Arbitrary<AppSettings> = fc.record({
  data: fc.constantFrom('mnist', 'synth1d', 'synth2d', 'cifar2'),
  digitA: fc.integer({ min: 0, max: 4 }),
  digitB: fc.integer({ min: 5, max: 9 }),
  arch: fc.constantFrom('fc', 'resnet'),
  width: fc.integer({ min: 1, max: 8192 }),
  depth: fc.integer({ min: 1, max: 16 }),
  activation: fc.constantFrom('relu', 'erf', 'tanh'),
  sigmaW2: fc.double({ min: 1e-3, max: 10, noNaN: true }),
  sigmaB2: fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 1, noNaN: true })),
  parameterization: fc.constantFrom('ntk', 'standard'),
  lr: fc.oneof(fc.constant(null), fc.double({ min: 1e-6, max: 10, noNaN: true })),
  loss: fc.constantFrom('sum/2', 'mean/2'),
  steps: fc.integer({ min: 1, max: 100_000 }),
  seed: fc.integer({ min: 0, max: 0xffffffff }),
  trainSize: fc.integer({ min: 2, max: 2000 }),
  testSize: fc.integer({ min: 16, max: 2000 }),
  points: fc.integer({ min: 0, max: 16 }),
  sweep: fc.uniqueArray(fc.integer({ min: 1, max: 8192 }), { minLength: 2, maxLength: 12 }).map((w) => w.sort((a, b) => a - b)),
  ensemble: fc.integer({ min: 2, max: 256 }),
  backend: fc.constantFrom('auto', 'webgpu', 'cpu'),
}) as fc.Arbitrary<AppSettings>;

describe('settings in the URL', () => {
  it('round-trip: any valid settings come back from their query, and the defaults need none', () => {
    expect(queryFromSettings(DEFAULTS)).toBe('');
    fc.assert(fc.property(settingsArb, (s) => {
      expect(settingsFromQuery(queryFromSettings(s))).toEqual(s);
    }));
  });

  it('errors name the setting and the offending value', () => {
    expect(() => settingsFromQuery('?width=0')).toThrow("settings: width must be an integer in [1, 8192], got '0'");
    expect(() => settingsFromQuery('?act=gelu')).toThrow("settings: activation must be one of relu, erf, tanh, got 'gelu'");
    expect(() => settingsFromQuery('?sweep=64')).toThrow("settings: sweep needs 2 to 12 widths, got '64'");
    expect(() => settingsFromQuery('?a=3&b=3')).toThrow('settings: the MNIST pair needs two different digits, got 3 and 3');
    expect(() => settingsFromQuery('?data=synth1d&arch=cnn')).toThrow('settings: a CNN needs image data (MNIST or CIFAR-10), not the 1-D synthetic regression');
    expect(() => settingsFromQuery('?widht=3')).toThrow("settings: unknown URL parameter 'widht'");
    expect(() => parseSetting('sigmaW2', '-1')).toThrow("settings: sigmaW2 must be a positive number, got '-1'");
    expect(parseSetting('lr', 'auto')).toBeNull();
  });
});

describe('data', () => {
  it('the shipped MNIST subset decodes to the first images of each digit of the mnist package, quantized to bytes', async () => {
    const pool = await readMnistPool();
    const shipped = decodeMnistSubset(gunzipSync(readFileSync(new URL('../../app/public/mnist-subset.bin.gz', import.meta.url))));
    const perDigit = shipped.count / 10;
    expect(perDigit).toBeGreaterThanOrEqual(200);
    const small = decodeMnistSubset(encodeMnistSubset(pool, 3));
    for (let d = 0; d < 10; d++) {
      const first = [...pool.labels].indexOf(d);
      for (const sub of [shipped, small]) {
        const at = [...sub.labels].indexOf(d);
        for (let p = 0; p < 784; p++) expect(Math.abs(sub.images[at * 784 + p] - pool.images[first * 784 + p])).toBeLessThanOrEqual(1 / 510 + 1e-7);
      }
    }
    expect(() => decodeMnistSubset(new Uint8Array(20))).toThrow('decodeMnistSubset: not an MNIST subset file');
    expect(() => decodeMnistSubset(encodeMnistSubset(pool, 2).subarray(0, 100))).toThrow('decodeMnistSubset: 100 bytes, expected');
  });

  it('an MNIST pair is balanced, +-1, and standardized with the train statistics', () => {
    const pool = decodeMnistSubset(gunzipSync(readFileSync(new URL('../../app/public/mnist-subset.bin.gz', import.meta.url))));
    const d = mnistPair(pool, { digitA: 3, digitB: 8, trainSize: 20, testSize: 10, seed: 5, arch: 'fc' });
    expect([...d.yTrain].filter((y) => y === 1).length).toBe(10);
    expect(new Set(d.yTrain)).toEqual(new Set([-1, 1]));
    const mean = d.xTrain.reduce((s, v) => s + v, 0) / d.xTrain.length;
    const variance = d.xTrain.reduce((s, v) => s + (v - mean) ** 2, 0) / d.xTrain.length;
    expect(Math.abs(mean)).toBeLessThan(1e-5);
    expect(Math.abs(variance - 1)).toBeLessThan(1e-4);
    expect(d.inputShape).toEqual([784]);
    expect(mnistPair(pool, { digitA: 3, digitB: 8, trainSize: 20, testSize: 10, seed: 5, arch: 'cnn' }).inputShape).toEqual([28, 28, 1]);
  });

  /** A ustar archive of `files` (what `tar` writes for regular files), for the CIFAR-10 release's layout. */
  function tar(files: { name: string; bytes: Uint8Array }[]): Uint8Array {
    const blocks: Uint8Array[] = [];
    for (const f of files) {
      const header = new Uint8Array(512);
      const put = (s: string, at: number) => header.set(new TextEncoder().encode(s), at);
      put(f.name, 0);
      put('0000644\0', 100);
      put('0000000\0', 108);
      put('0000000\0', 116);
      put(f.bytes.length.toString(8).padStart(11, '0') + '\0', 124);
      put('00000000000\0', 136);
      put('        ', 148);
      put('0', 156);
      put('ustar\0' + '00', 257);
      const sum = header.reduce((s, b) => s + b, 0);
      put(sum.toString(8).padStart(6, '0') + '\0 ', 148);
      blocks.push(header, f.bytes, new Uint8Array((512 - (f.bytes.length % 512)) % 512));
    }
    blocks.push(new Uint8Array(1024));
    const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of blocks) {
      out.set(b, at);
      at += b.length;
    }
    return out;
  }

  it('CIFAR-10 airplane vs horse from loose batches or the release archive (.tar.gz) gives the same data', async () => {
    const names = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
    const loose = names.map((name) => ({ name, bytes: new Uint8Array(readFileSync(new URL(`../fixtures/cifar10/${name}`, import.meta.url))) }));
    const archive = gzipSync(tar(loose.map((f) => ({ name: `cifar-10-batches-bin/${f.name}`, bytes: f.bytes }))));
    const s = { trainSize: 40, testSize: 10, seed: 2, arch: 'fc' as const };
    const a = await cifarPair(loose, s);
    const b = await cifarPair([{ name: 'cifar-10-binary.tar.gz', bytes: archive }], s);
    expect(b.xTrain).toEqual(a.xTrain);
    expect(b.yTest).toEqual(a.yTest);
    expect(a.inputShape).toEqual([3072]);
    expect(new Set(a.yTrain)).toEqual(new Set([-1, 1]));
    await expect(cifarBatches(loose.slice(0, 5))).rejects.toThrow('CIFAR-10: no test_batch.bin among the chosen files');
    await expect(cifarBatches([loose[5]])).rejects.toThrow('CIFAR-10: no training batch among the chosen files (test_batch.bin)');
  });

  it('the synthetic regressions are seeded draws in [-2, 2]^d with the documented targets', () => {
    const d1 = synthetic(1, { trainSize: 50, testSize: 7, seed: 1 });
    expect(d1.xTrain.every((v) => v >= -2 && v <= 2)).toBe(true);
    d1.xTrain.forEach((x, i) => expect(d1.yTrain[i]).toBeCloseTo(Math.sin(2 * x), 6));
    const d2 = synthetic(2, { trainSize: 5, testSize: 3, seed: 1 });
    expect(d2.xTrain.length).toBe(10);
    expect(d2.yTrain[1]).toBeCloseTo(Math.sin(2 * d2.xTrain[2]) * Math.cos(d2.xTrain[3]), 6);
    expect(synthetic(1, { trainSize: 50, testSize: 7, seed: 1 }).xTrain).toEqual(d1.xTrain);
    expect(synthetic(1, { trainSize: 50, testSize: 7, seed: 2 }).xTrain).not.toEqual(d1.xTrain);
  });
});

describe('networks and views', () => {
  it('every architecture maps a batch to one output per input (dense and image inputs)', () => {
    const cases: [AppSettings['arch'], number[]][] = [['fc', [5]], ['fc', [8, 8, 2]], ['cnn', [8, 8, 2]], ['resnet', [5]], ['resnet', [8, 8, 2]]];
    for (const [arch, shape] of cases) {
      for (const activation of ['relu', 'erf', 'tanh'] as const) {
        const net = buildNetwork({ ...DEFAULTS, arch, activation, width: 6, depth: 3 }, shape.length === 1 ? 2 : 4);
        const { params } = net.init(tg.key(1), [-1, ...shape]);
        const y = tg.tidy(() => net.apply(params, tg.normal(tg.key(2), [3, ...shape])) as tg.Tensor);
        expect(y.shape, `${arch} ${activation} on [${shape}]`).toEqual([3, 1]);
        expect([...y.dataSync()].every(Number.isFinite)).toBe(true);
      }
    }
    expect(() => buildNetwork({ ...DEFAULTS, arch: 'cnn' }, 2)).toThrow('buildNetwork: a CNN needs image inputs (rank 4, NHWC), got rank 2');
  });

  it('the heatmap is the kernel reordered by target when it fits, and keeps the mean when block-averaged', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1000 }), (size, k, seed) => {
      const n = size * k;
      const values = Float64Array.from({ length: n * n }, (_, i) => Math.sin(i * 12.9898 + seed) * 43758.5453 % 1);
      const y = Float64Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 3) - 1);
      const h = heatmapOf(matrix(n, n, values), y, size);
      expect(h.size).toBe(size);
      const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
      expect(mean(h.values)).toBeCloseTo(mean(values), 10);
      expect([...h.labels]).toEqual([...h.labels].sort((a, b) => a - b));
      if (k === 1) {
        const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => y[a] - y[b] || a - b);
        order.forEach((r, i) => order.forEach((c, j) => expect(h.values[i * n + j]).toBe(values[r * n + c])));
      }
    }));
  });

  it('the fitted log-log slope of an exact power law is its exponent', () => {
    fc.assert(fc.property(fc.double({ min: -2, max: 2, noNaN: true }), fc.double({ min: 0.01, max: 100, noNaN: true }), fc.uniqueArray(fc.integer({ min: 1, max: 4096 }), { minLength: 2, maxLength: 8 }), (p, c, widths) => {
      expect(logLogSlope(widths, widths.map((w) => c * w ** p))).toBeCloseTo(p, 8);
    }));
    expect(logLogSlope([8], [1])).toBeNull();
  });

  it('the study on a residual network: the linearized model trained step by step equals the closed form, the NTK view starts at zero change', async () => {
    const s: AppSettings = { ...DEFAULTS, data: 'synth1d', arch: 'resnet', width: 24, depth: 2, activation: 'erf', trainSize: 12, testSize: 6, steps: 30, points: 2 };
    const views: number[] = [];
    const report = await runAppStudy(s, synthetic(1, s), 'cpu', 'test', { live() {}, ntk: (v) => views.push(v.step), progress() {} });
    expect(report.linearizedVsClosedFormMaxDiff).toBeLessThan(1e-4);
    expect(views[0]).toBe(0);
    expect(views[views.length - 1]).toBe(30);
    expect(report.ntk.change.values[0]).toBe(0);
    expect(report.ntk.heatmap.size).toBe(12);
    expect(report.ntk.spectrum0[0]).toBeCloseTo(report.lambdaMax, 4);
    expect(report.lr).toBeCloseTo(report.maxStableLearningRate / 2, 12);
    // The loss of gradient descent on f_lin at eta = 1/lambda_max never increases.
    const lin = report.trainLoss.linearized;
    for (let i = 1; i < lin.length; i++) expect(lin[i]).toBeLessThanOrEqual(lin[i - 1] * (1 + 1e-5));
  });

  it('a float32 NTK of 1-D inputs (low rank: round-off shows as small negative eigenvalues) is accepted', async () => {
    const s: AppSettings = { ...DEFAULTS, data: 'synth1d', width: 16, depth: 1, trainSize: 8, testSize: 4, steps: 5, points: 2 };
    const report = await runAppStudy(s, synthetic(1, s), 'cpu', 'test', { live() {}, ntk() {}, progress() {} });
    expect(report.lambdaMin).toBeGreaterThanOrEqual(0);
    expect(report.linearizedVsClosedFormMaxDiff).toBeLessThan(1e-4);
  });

  it('the width sweep reports each width and the slopes fitted to its points', async () => {
    const s: AppSettings = { ...DEFAULTS, data: 'synth2d', width: 16, depth: 1, trainSize: 10, testSize: 6, steps: 20, sweep: [16, 64, 256] };
    const seen: number[] = [];
    const r = await runWidthSweep(s, synthetic(2, s), (p) => seen.push(p.points.length), () => {});
    expect(seen).toEqual([1, 2, 3]);
    expect(r.points.map((p) => p.width)).toEqual([16, 64, 256]);
    expect(r.rmseSlope).toBeCloseTo(logLogSlope([16, 64, 256], r.points.map((p) => p.rmse))!, 12);
    // Wider networks stay closer to their linearization (the paper's claim, here at 16x the width).
    expect(r.points[2].rmse).toBeLessThan(r.points[0].rmse);
    expect(r.points[2].ntkChange).toBeLessThan(r.points[0].ntkChange);
  });

  it('the GP view: the prior has mean 0, and an ensemble of wide networks matches the GP within its sampling error', async () => {
    const s: AppSettings = { ...DEFAULTS, data: 'synth1d', width: 256, depth: 1, activation: 'erf', sigmaW2: 1.5, sigmaB2: 0.05, trainSize: 6, steps: 40, ensemble: 40 };
    const counts: number[] = [];
    const v = await runGpView(s, 'cpu', (u) => counts.push(u.ensemble.count), () => {});
    expect(counts).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(Math.max(...v.prior.mean.map(Math.abs))).toBe(0);
    expect(Math.min(...v.prior.sd)).toBeGreaterThan(0);
    // Ensemble mean vs GP mean in units of the standard error, with a finite-width allowance.
    const z = v.ensemble.mean.map((m, i) => Math.abs(m - v.gp.mean[i]) / (v.gp.sd[i] / Math.sqrt(40) + 0.02));
    expect(Math.max(...z)).toBeLessThan(4.5);
    const ratio = v.ensemble.sd.map((sd, i) => sd / v.gp.sd[i]).filter((_, i) => v.gp.sd[i] > 0.05);
    expect(Math.min(...ratio)).toBeGreaterThan(0.5);
    expect(Math.max(...ratio)).toBeLessThan(1.6);
  });
});
