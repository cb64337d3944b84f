/**
 * The app's MNIST subset file: the first `perDigit` images of each digit of the `mnist` package,
 * as bytes (scripts/make-mnist-subset.ts writes it, gzip-compressed).
 *
 * Layout (little-endian): magic "TGM1", uint32 perDigit, uint32 pixels (784), then for digit
 * 0..9 in turn perDigit images of `pixels` bytes each, value round(255 v).
 */
import { MNIST_NUM_CLASSES, MNIST_PIXELS, mnistPoolFromDigits, type MnistPool } from '../../data/mnist.ts';

const MAGIC = 'TGM1';
const HEADER = 12;

/** Encodes the first `perDigit` images of each digit of `pool`. */
export function encodeMnistSubset(pool: MnistPool, perDigit: number): Uint8Array {
  if (!Number.isInteger(perDigit) || perDigit < 1) throw new RangeError(`encodeMnistSubset: perDigit must be a positive integer, got ${perDigit}`);
  const out = new Uint8Array(HEADER + MNIST_NUM_CLASSES * perDigit * MNIST_PIXELS);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = MAGIC.charCodeAt(i);
  view.setUint32(4, perDigit, true);
  view.setUint32(8, MNIST_PIXELS, true);
  let at = HEADER;
  for (let d = 0; d < MNIST_NUM_CLASSES; d++) {
    let taken = 0;
    for (let i = 0; i < pool.count && taken < perDigit; i++) {
      if (pool.labels[i] !== d) continue;
      for (let p = 0; p < MNIST_PIXELS; p++) out[at++] = Math.round(255 * pool.images[i * MNIST_PIXELS + p]);
      taken++;
    }
    if (taken < perDigit) throw new RangeError(`encodeMnistSubset: digit ${d} has ${taken} images, fewer than perDigit = ${perDigit}`);
  }
  return out;
}

/** Parses the (decompressed) subset file into a pool for data/mnist.ts's splitMnist. */
export function decodeMnistSubset(bytes: Uint8Array): MnistPool {
  const fn = 'decodeMnistSubset';
  if (bytes.length < HEADER || String.fromCharCode(...bytes.subarray(0, 4)) !== MAGIC) {
    throw new Error(`${fn}: not an MNIST subset file (expected magic "${MAGIC}", ${bytes.length} bytes)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const perDigit = view.getUint32(4, true);
  const pixels = view.getUint32(8, true);
  if (pixels !== MNIST_PIXELS) throw new Error(`${fn}: ${pixels} pixels per image, expected ${MNIST_PIXELS}`);
  const expected = HEADER + MNIST_NUM_CLASSES * perDigit * pixels;
  if (bytes.length !== expected) throw new Error(`${fn}: ${bytes.length} bytes, expected ${expected} for ${perDigit} images per digit`);
  const digits = Array.from({ length: MNIST_NUM_CLASSES }, (_, d) => {
    const start = HEADER + d * perDigit * pixels;
    const values = new Float32Array(perDigit * pixels);
    for (let i = 0; i < values.length; i++) values[i] = bytes[start + i] / 255;
    return values;
  });
  return mnistPoolFromDigits(digits);
}
