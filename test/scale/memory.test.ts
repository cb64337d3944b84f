/**
 * Memory of a store run follows the block size, not the kernel's size: the live memory (JS heap +
 * array buffers after a collection, sampled after every block) of a run at n and at 2n with the
 * 4n with the same blocks grows by far less than the kernel matrices do (16x; at 2n the 7.7 MB
 * matrix growth was too close to the heap's own collection-to-collection noise of ~1-2 MB). Reading back strip by strip
 * grows with the strip (B x n), also far below the whole matrix. Measured in child processes
 * (test/scale/fixtures/memory-probe.ts, --expose-gc).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'tg-scale-mem-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Probe {
  baseline: number;
  runGrowth: number;
  readGrowth: number;
  blockBytes: number;
  stripBytes: number;
  matrixBytes: number;
}

function probe(n: number, B: number): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/scale/fixtures/memory-probe.ts', work, String(n), String(B)], { cwd: repoRoot });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Probe) : reject(new Error(`memory probe n=${n} failed (${code}): ${err}`))));
  });
}

it('live memory during a run does not grow with the kernel, only with the block', async () => {
  const B = 80;
  const [small, large] = await Promise.all([probe(400, B), probe(1600, B)]);
  console.info(`live memory growth, blocks of ${B}: run ${(small.runGrowth / 1e6).toFixed(2)} MB (n=400) vs ${(large.runGrowth / 1e6).toFixed(2)} MB (n=1600); read-back ${(small.readGrowth / 1e6).toFixed(2)} vs ${(large.readGrowth / 1e6).toFixed(2)} MB; matrices ${(small.matrixBytes / 1e6).toFixed(2)} vs ${(large.matrixBytes / 1e6).toFixed(2)} MB`);
  // The matrices grow by 38 MB from n = 400 to 1600; a run holding them would grow as much.
  const matrixGrowth = large.matrixBytes - small.matrixBytes;
  expect(large.runGrowth - small.runGrowth).toBeLessThan(matrixGrowth / 4);
  // Reading back holds one strip of one kernel: its growth stays below half of one kernel's growth.
  expect(large.readGrowth - small.readGrowth).toBeLessThan(matrixGrowth / 2 / 2);
  // And in absolute terms the run at n = 1600 stays below a third of the whole result.
  expect(large.runGrowth).toBeLessThan(large.matrixBytes / 3);
});
