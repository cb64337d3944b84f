/**
 * Cuts the small CIFAR-10 fixture in test/fixtures/cifar10 from a full copy in the binary format,
 * so tests need nothing outside the repository. Run once; the output is committed.
 *
 *   npx tsx scripts/make-cifar10-fixture.ts [SOURCE_DIR] (default ../shared/data/cifar10)
 *
 * How it is cut: the source's records are interleaved by class (labels 0,1,...,9,0,1,...), so a
 * prefix is class-balanced. The first 320 training records (32 per class) become
 * data_batch_1.bin..data_batch_5.bin, 64 consecutive records each (the original release's file
 * names, so the loader's multi-batch path is exercised); the first 100 test records (10 per class)
 * become test_batch.bin. Records are copied byte for byte; the script refuses a source whose
 * prefixes are not balanced.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CIFAR10_RECORD_BYTES } from '../data/cifar10.ts';

const TRAIN_PER_CLASS = 32;
const TEST_PER_CLASS = 10;
const BATCHES = 5;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const source = path.resolve(process.argv[2] ?? path.join(repoRoot, '../shared/data/cifar10'));
const out = path.join(repoRoot, 'test/fixtures/cifar10');

async function prefix(file: string, records: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(await readFile(path.join(source, file)));
  const cut = bytes.subarray(0, records * CIFAR10_RECORD_BYTES);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < records; i++) counts[cut[i * CIFAR10_RECORD_BYTES]]++;
  if (counts.some((c) => c !== records / 10)) throw new Error(`${file}: the first ${records} records are not class-balanced (${counts.join(',')})`);
  return cut;
}

const train = await prefix('train_batch.bin', TRAIN_PER_CLASS * 10);
const test = await prefix('test_batch.bin', TEST_PER_CLASS * 10);
await mkdir(out, { recursive: true });
const perBatch = train.length / BATCHES;
const files: [string, Uint8Array][] = [];
for (let b = 0; b < BATCHES; b++) files.push([`data_batch_${b + 1}.bin`, train.subarray(b * perBatch, (b + 1) * perBatch)]);
files.push(['test_batch.bin', test]);
for (const [name, bytes] of files) await writeFile(path.join(out, name), bytes);
const sums = files.map(([name, bytes]) => `- ${name} (${bytes.length / CIFAR10_RECORD_BYTES} records) sha256 ${createHash('sha256').update(bytes).digest('hex')}`);
await writeFile(
  path.join(out, 'README.md'),
  `# CIFAR-10 fixture (binary format)

Cut by \`scripts/make-cifar10-fixture.ts\` from a full copy of CIFAR-10 in the standard binary
layout (each record: one label byte, then the 1024 red, 1024 green and 1024 blue bytes of a 32x32
image). Train: the first ${TRAIN_PER_CLASS * 10} training records, ${TRAIN_PER_CLASS} of each class, in
${BATCHES} files of ${perBatch / CIFAR10_RECORD_BYTES}; test: the first ${TEST_PER_CLASS * 10} test records, ${TEST_PER_CLASS} of each class.
Records are interleaved by class (labels 0,1,...,9,0,1,...). Labels: 0 airplane, 1 automobile,
2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship, 9 truck.

The source's pixels were decoded from a public JPEG re-encoding of CIFAR-10, so they differ
slightly from the original binary release; the layout is the same.

${sums.join('\n')}
`,
);
console.log(`wrote ${files.length} files to ${out}`);
