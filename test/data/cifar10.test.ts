import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CIFAR10_CLASSES,
  CIFAR10_IMAGE_BYTES,
  CIFAR10_RECORD_BYTES,
  chwToHwc,
  encodeCifar10,
  hwcToChw,
  loadCifar10,
  parseCifar10,
  prepareCifar10,
} from '../../data/cifar10.ts';
import { loadCifar10Dir, readCifar10Dir, type Cifar10Dir } from '../../data/node.ts';
import { channelStats } from '../../data/split.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
// The committed fixture (scripts/make-cifar10-fixture.ts): real records in the original release's
// file names, 32 train and 10 test images per class, interleaved by class.
const CIFAR_DIR = path.resolve(repoRoot, 'test/fixtures/cifar10');
const TRAIN_PER_CLASS = 32;
const TEST_PER_CLASS = 10;

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const same = (a: Float32Array, b: Float32Array) => a.length === b.length && bytesOf(a).equals(bytesOf(b));

let real: Cifar10Dir;
let tmp: string;

beforeAll(async () => {
  real = await readCifar10Dir(CIFAR_DIR);
  tmp = await mkdtemp(path.join(tmpdir(), 'tangentgrad-cifar-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A record whose R, G, B planes are distinct known functions of the pixel index. */
function syntheticRecord(label: number): Uint8Array {
  const rec = new Uint8Array(CIFAR10_RECORD_BYTES);
  rec[0] = label;
  for (let p = 0; p < 1024; p++) {
    rec[1 + p] = p % 256; // R
    rec[1 + 1024 + p] = (p * 7 + 3) % 256; // G
    rec[1 + 2048 + p] = 255 - (p % 251); // B
  }
  return rec;
}

describe('layout: CHW planes -> NHWC', () => {
  it('a synthetic record lands at the right NHWC pixels', () => {
    const raw = parseCifar10(syntheticRecord(3), 'synthetic');
    expect(raw.count).toBe(1);
    expect(Array.from(raw.labels)).toEqual([3]);
    for (const [y, x] of [
      [0, 0],
      [0, 31],
      [1, 0],
      [17, 5],
      [31, 31],
    ]) {
      const p = y * 32 + x;
      const at = (y * 32 + x) * 3;
      expect(Array.from(raw.images.subarray(at, at + 3))).toEqual([p % 256, (p * 7 + 3) % 256, 255 - (p % 251)]);
    }
  });

  it('chwToHwc puts src[ch][y][x] at dst[y][x][ch], and hwcToChw inverts it', () => {
    const dims = fc.record({
      h: fc.integer({ min: 1, max: 6 }),
      w: fc.integer({ min: 1, max: 6 }),
      c: fc.integer({ min: 1, max: 4 }),
    });
    fc.assert(
      fc.property(
        dims.chain((d) =>
          fc.tuple(fc.constant(d), fc.uint8Array({ minLength: d.h * d.w * d.c, maxLength: d.h * d.w * d.c })),
        ),
        ([{ h, w, c }, src]) => {
          const dst = new Uint8Array(src.length);
          chwToHwc(src, 0, dst, 0, h, w, c);
          for (let ch = 0; ch < c; ch++)
            for (let y = 0; y < h; y++)
              for (let x = 0; x < w; x++) expect(dst[(y * w + x) * c + ch]).toBe(src[ch * h * w + y * w + x]);
          const back = new Uint8Array(src.length);
          hwcToChw(dst, 0, back, 0, h, w, c);
          expect(back).toEqual(src);
        },
      ),
    );
  });

  it('parseCifar10 ∘ encodeCifar10 is the identity on random images', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 0xffffffff }), (n, salt) => {
        // Cheap pseudo-random bytes (fc.uint8Array of 3072*n would be slow to shrink).
        const images = Uint8Array.from(
          { length: n * CIFAR10_IMAGE_BYTES },
          (_, i) => (Math.imul(i + salt, 2654435761) >>> 24) & 255,
        );
        const labels = Uint8Array.from({ length: n }, (_, i) => (salt + i) % 10);
        const raw = parseCifar10(encodeCifar10(images, labels).buffer as ArrayBuffer);
        expect(raw.count).toBe(n);
        expect(Buffer.from(raw.images).equals(Buffer.from(images))).toBe(true);
        expect(raw.labels).toEqual(labels);
      }),
      { numRuns: 30 },
    );
  });

  it('real data: NHWC pixel (y, x, c) equals file byte 1 + c*1024 + y*32 + x', () => {
    const bytes = readFileSync(path.join(CIFAR_DIR, 'test_batch.bin'));
    for (const i of [0, 1, 43, 99]) {
      const rec = i * CIFAR10_RECORD_BYTES;
      expect(real.test.labels[i]).toBe(bytes[rec]);
      for (const [y, x, c] of [
        [0, 0, 0],
        [5, 9, 1],
        [31, 30, 2],
        [16, 16, 0],
      ]) {
        expect(real.test.images[i * CIFAR10_IMAGE_BYTES + (y * 32 + x) * 3 + c]).toBe(
          bytes[rec + 1 + c * 1024 + y * 32 + x],
        );
      }
    }
  });
});

describe('the CIFAR-10 fixture', () => {
  it('reads data_batch_1..5 and test_batch: 320 train and 100 test records, balanced over the classes', () => {
    expect(real.trainFiles).toEqual([1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`));
    for (const [part, perClass] of [
      [real.train, TRAIN_PER_CLASS],
      [real.test, TEST_PER_CLASS],
    ] as const) {
      expect(part.count).toBe(10 * perClass);
      expect(part.images.length).toBe(10 * perClass * 3072);
      const counts = new Array(10).fill(0);
      for (const l of part.labels) counts[l]++;
      expect(counts).toEqual(new Array(10).fill(perClass));
    }
  });

  it("the paper's task, airplane vs horse: shapes, balance, ±1 (airplane -> -1), pixels in [0, 1]", () => {
    const { train, test, classes, target, stats } = prepareCifar10(real, {
      classes: ['airplane', 'horse'],
      trainSize: 64,
      testSize: 20,
      seed: 3,
    });
    expect(classes).toEqual([0, 7]);
    expect(target).toBe('pm1');
    expect(stats).toBeUndefined();
    expect(train.xShape).toEqual([64, 32, 32, 3]);
    expect(train.yShape).toEqual([64, 1]);
    expect(test.xShape).toEqual([20, 32, 32, 3]);
    expect(test.yShape).toEqual([20, 1]);
    for (const [ds, n] of [
      [train, 64],
      [test, 20],
    ] as const) {
      expect(ds.labels.filter((l) => l === 0).length).toBe(n / 2);
      expect(ds.labels.filter((l) => l === 7).length).toBe(n / 2);
      expect(ds.labels.every((l, i) => ds.y[i] === (l === 0 ? -1 : 1))).toBe(true);
      expect(ds.x.every((v) => v >= 0 && v <= 1 && Math.abs(v * 255 - Math.round(v * 255)) < 1e-3)).toBe(true);
    }
  });

  it('standardization: train channels have mean 0 / std 1, with train stats applied to test', () => {
    const opts = { classes: [0, 7], trainSize: 60, testSize: 20, seed: 11 };
    const plain = prepareCifar10(real, opts);
    const std = prepareCifar10(real, { ...opts, standardize: true });
    expect(std.stats).toBeDefined();
    const s = std.stats!;
    // The stats are those of the selected (unstandardized) train subset, not of test.
    const ref = channelStats(plain.train.x, 3);
    for (let c = 0; c < 3; c++) {
      expect(s.mean[c]).toBeCloseTo(ref.mean[c], 10);
      expect(s.std[c]).toBeCloseTo(ref.std[c], 10);
    }
    const after = channelStats(std.train.x, 3);
    for (let c = 0; c < 3; c++) {
      expect(Math.abs(after.mean[c])).toBeLessThan(1e-5);
      expect(after.std[c]).toBeCloseTo(1, 4);
    }
    // Test uses the train stats: (x - mean_train) / std_train, so its own stats are only near 0 / 1.
    for (let i = 0; i < std.test.x.length; i += 97) {
      const c = i % 3;
      expect(std.test.x[i]).toBeCloseTo((plain.test.x[i] - s.mean[c]) / s.std[c], 4);
    }
    const testStats = channelStats(std.test.x, 3);
    expect(testStats.mean.some((m) => Math.abs(m) > 1e-4)).toBe(true);
  });

  it('all ten classes as one-hot: rows sum to 1, balanced; flatten gives [N, 3072]', () => {
    const { train, test, target } = prepareCifar10(real, {
      trainSize: 300,
      testSize: 100,
      flatten: true,
      standardize: true,
    });
    expect(target).toBe('onehot');
    expect(train.xShape).toEqual([300, 3072]);
    expect(test.xShape).toEqual([100, 3072]);
    expect(train.yShape).toEqual([300, 10]);
    for (const ds of [train, test]) {
      for (let i = 0; i < ds.labels.length; i++) {
        const row = ds.y.subarray(i * 10, i * 10 + 10);
        expect(row.reduce((a, b) => a + b, 0)).toBe(1);
        expect(row[ds.labels[i]]).toBe(1);
      }
      const counts = new Array(10).fill(0);
      for (const l of ds.labels) counts[l]++;
      expect(counts).toEqual(new Array(10).fill(ds.labels.length / 10));
    }
  });

  it('subsets are fixed by the seed and change with it', () => {
    const opts = { classes: ['cat', 'dog'] as ('cat' | 'dog')[], trainSize: 40, testSize: 10 };
    const a = prepareCifar10(real, { ...opts, seed: 1 });
    const b = prepareCifar10(real, { ...opts, seed: 1 });
    const c = prepareCifar10(real, { ...opts, seed: 2 });
    expect(same(a.train.x, b.train.x) && same(a.test.x, b.test.x)).toBe(true);
    expect(Array.from(a.train.labels)).toEqual(Array.from(b.train.labels));
    expect(same(a.train.x, c.train.x)).toBe(false);
    expect(same(a.test.x, c.test.x)).toBe(false);
  });

  it('loadCifar10Dir and loadCifar10 (bytes, as in the browser) agree with prepareCifar10', async () => {
    const opts = { classes: [0, 7], trainSize: 50, testSize: 16, seed: 4, standardize: true };
    const ref = prepareCifar10(real, opts);
    const fromDir = await loadCifar10Dir(CIFAR_DIR, opts);
    const trainBatches = [1, 2, 3, 4, 5].map((i) => new Uint8Array(readFileSync(path.join(CIFAR_DIR, `data_batch_${i}.bin`))));
    const testBytes = readFileSync(path.join(CIFAR_DIR, 'test_batch.bin'));
    const ab = testBytes.buffer.slice(testBytes.byteOffset, testBytes.byteOffset + testBytes.byteLength) as ArrayBuffer;
    const fromBytes = loadCifar10({ train: trainBatches, test: ab }, opts);
    for (const got of [fromDir, fromBytes]) {
      expect(same(got.train.x, ref.train.x) && same(got.test.x, ref.test.x)).toBe(true);
      expect(same(got.train.y, ref.train.y)).toBe(true);
    }
  });

  it('exports the class names in label order', () => {
    expect(CIFAR10_CLASSES).toEqual([
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
    ]);
  });
});

describe('original file names and malformed input', () => {
  const rec = (label: number) => syntheticRecord(label);
  const records = (...labels: number[]) => {
    const out = new Uint8Array(labels.length * CIFAR10_RECORD_BYTES);
    labels.forEach((l, i) => out.set(rec(l), i * CIFAR10_RECORD_BYTES));
    return out;
  };

  it('reads data_batch_1..5.bin (those present, in order) when train_batch.bin is absent', async () => {
    const dir = path.join(tmp, 'original');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    await writeFile(path.join(dir, 'data_batch_1.bin'), records(0, 1));
    await writeFile(path.join(dir, 'data_batch_2.bin'), records(2, 3, 4));
    await writeFile(path.join(dir, 'test_batch.bin'), records(5));
    const got = await readCifar10Dir(dir);
    expect(got.trainFiles).toEqual(['data_batch_1.bin', 'data_batch_2.bin']);
    expect(Array.from(got.train.labels)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(got.test.labels)).toEqual([5]);
    expect(got.train.images.length).toBe(5 * 3072);
  });

  it('byte length not a multiple of 3073: names the source and the size', () => {
    const bad = new Uint8Array(2 * CIFAR10_RECORD_BYTES + 5);
    expect(() => parseCifar10(bad, 'foo.bin')).toThrow(
      'parseCifar10: foo.bin has 6151 bytes, not a multiple of the 3073-byte record (2 records + 5 bytes)',
    );
    expect(() => parseCifar10(new Uint8Array(0), 'empty.bin')).toThrow('parseCifar10: empty.bin is empty (0 bytes)');
  });

  it('label above 9: names the source, the record and the label', () => {
    const bytes = records(1, 2, 3);
    bytes[2 * CIFAR10_RECORD_BYTES] = 10;
    expect(() => parseCifar10(bytes, 'bar.bin')).toThrow(
      'parseCifar10: bar.bin record 2 (byte offset 6146) has label 10; labels must be 0..9',
    );
    expect(() => loadCifar10({ train: bytes, test: records(1) }, { trainSize: 1, testSize: 1 })).toThrow(
      'parseCifar10: train record 2',
    );
  });

  it('missing folder, missing files and malformed files name the path', async () => {
    await expect(readCifar10Dir(path.join(tmp, 'nope'))).rejects.toThrow(
      `readCifar10Dir: folder not found: ${path.join(tmp, 'nope')}`,
    );

    const onlyTest = path.join(tmp, 'only-test');
    await mkdir(onlyTest, { recursive: true });
    await writeFile(path.join(onlyTest, 'test_batch.bin'), records(0));
    await expect(readCifar10Dir(onlyTest)).rejects.toThrow(
      /readCifar10Dir: no training file in .*only-test \(expected train_batch\.bin or data_batch_1\.\.5\.bin\)/,
    );

    const noTest = path.join(tmp, 'no-test');
    await mkdir(noTest, { recursive: true });
    await writeFile(path.join(noTest, 'train_batch.bin'), records(0));
    await expect(loadCifar10Dir(noTest, { trainSize: 1, testSize: 0 })).rejects.toThrow(
      `readCifar10Dir: missing file ${path.join(noTest, 'test_batch.bin')}`,
    );

    const truncated = path.join(tmp, 'truncated');
    await mkdir(truncated, { recursive: true });
    await writeFile(path.join(truncated, 'train_batch.bin'), records(0, 1).subarray(0, 5000));
    await writeFile(path.join(truncated, 'test_batch.bin'), records(0));
    await expect(readCifar10Dir(truncated)).rejects.toThrow(
      `parseCifar10: ${path.join(truncated, 'train_batch.bin')} has 5000 bytes, not a multiple of the 3073-byte record`,
    );

    const aFile = path.join(tmp, 'a-file');
    await writeFile(aFile, 'x');
    await expect(readCifar10Dir(aFile)).rejects.toThrow(`readCifar10Dir: ${aFile} is not a folder`);
  });

  it('rejects bad options, naming the function and the value', () => {
    const base = { trainSize: 10, testSize: 10 };
    expect(() => prepareCifar10(real, { ...base, classes: ['airplane', 'horsey' as never] })).toThrow(
      "prepareCifar10: unknown class 'horsey' (expected one of airplane, automobile",
    );
    expect(() => prepareCifar10(real, { ...base, classes: [0, 10] })).toThrow(
      'prepareCifar10: unknown class 10 (expected an integer 0..9)',
    );
    expect(() => prepareCifar10(real, { ...base, classes: ['horse', 7] })).toThrow(
      'prepareCifar10: class 7 is listed twice',
    );
    expect(() => prepareCifar10(real, { classes: [0, 7], trainSize: 66, testSize: 10 })).toThrow(
      'prepareCifar10: trainSize=66 needs 33 examples of class 0 (balanced over 2 classes) but only 32 are available',
    );
    expect(() => prepareCifar10(real, { classes: [0, 7], trainSize: 10, testSize: 21 })).toThrow(
      'prepareCifar10: testSize=21 needs 11 examples of class 0',
    );
    expect(() => prepareCifar10(real, { ...base, classes: [0, 1, 2], target: 'pm1' })).toThrow(
      "prepareCifar10: target 'pm1' needs exactly 2 classes, got 3",
    );
    expect(() => prepareCifar10(real, { trainSize: 0, testSize: 10, standardize: true })).toThrow(
      'prepareCifar10: standardize needs trainSize > 0',
    );
    expect(() => prepareCifar10(real, { ...base, normalize: true } as never)).toThrow(
      "prepareCifar10: unknown option 'normalize'",
    );
    expect(() => loadCifar10({ train: records(0), test: records(0) }, { ...base, seed: 0.5 })).toThrow(
      'loadCifar10: seed must be an integer in [0, 2^32), got 0.5',
    );
  });
});
