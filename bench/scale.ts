/**
 * Suite `scale`: an analytic FC kernel (NNGP + NTK of Dense(512)-Relu-Dense(512)-Relu-Dense(1),
 * inputs of 32 features, float64) of N x N in blocks of 1000, written to a kernel store
 * (scale/), computed by 1, 2 and 4 local worker threads and by 2 BullMQ worker processes on a
 * redis-server started here on loopback. The peer is the same blocks computed in this process with
 * no store at all (BlockComputer.computeValues in a loop), timed right before each configuration:
 * its time over ours is the speedup, and
 * the note gives the throughput in kernel entries per second and, for one worker, the overhead per
 * block (store I/O, checksums, thread start) against the in-process loop.
 *
 * Size: N = 20000 (210 block tasks, 210M entries of each kernel); --quick N = 4000. The env var
 * SCALE_BENCH_N sets another N. One run per configuration (each is minutes at full size); the
 * check: the stores of every runner equal the first one bit for bit, and sampled entries equal the
 * model's kernel function on those rows.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { log, randn, selected, type BenchOptions, type Report, type Suite } from './harness.ts';
import { createKernelStore } from '../scale/create-store.ts';
import { runLocal } from '../scale/local-runner.ts';
import { runBullmq } from '../scale/bullmq-runner.ts';
import { BlockComputer } from '../scale/compute-block.ts';
import { KernelStore } from '../scale/store.ts';
import { formatRate } from '../scale/run-summary.ts';
import type { ModelSpec } from '../scale/model-spec.ts';

const SPEC: ModelSpec = [
  { layer: 'Dense', out: 512, W_std: Math.SQRT2, b_std: Math.sqrt(0.1) }, 'Relu',
  { layer: 'Dense', out: 512, W_std: Math.SQRT2, b_std: Math.sqrt(0.1) }, 'Relu',
  { layer: 'Dense', out: 1, W_std: Math.SQRT2, b_std: Math.sqrt(0.1) },
];
const FEATURES = 32;
const BLOCK = 1000;
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

function chunkDigest(root: string): string {
  const parts: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else parts.push(`${path.relative(root, p)}:${readFileSync(p).subarray(-4).toString('hex')}`);
    }
  };
  for (const k of ['nngp', 'ntk']) walk(path.join(root, k, 'c'));
  // The last 4 bytes of a chunk are its crc32c: equal digests mean equal chunks (up to CRC collisions).
  return parts.join(',');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function startKernelWorker(redis: string, queue: string, name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'kernel', 'worker', '--redis', redis, '--queue', queue, '--name', name], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('waiting for block jobs')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`kernel worker ${name} exited (${code}): ${err}`)));
  });
}

export const scaleSuite: Suite = {
  name: 'scale',
  description: 'analytic FC kernel store N x N (20000; --quick 4000) by 1/2/4 local worker threads and 2 BullMQ workers vs the same blocks in one process',
  async run(opts: BenchOptions, report: Report): Promise<void> {
    const N = Number(process.env.SCALE_BENCH_N ?? (opts.quick ? 4000 : 20000));
    if (!Number.isInteger(N) || N < 1) throw new Error(`SCALE_BENCH_N must be a positive integer, got ${process.env.SCALE_BENCH_N}`);
    const size = `${N}x${N} b${BLOCK}`;
    const work = mkdtempSync(path.join(tmpdir(), 'tg-bench-scale-'));
    const x = { shape: [N, FEATURES], data: Float64Array.from(randn(N * FEATURES, 7)) };
    let redis: ChildProcess | null = null;
    const workers: ChildProcess[] = [];
    try {
      const fresh = async (name: string) => {
        const root = path.join(work, `${name}.zarr`);
        await createKernelStore(root, { model: SPEC, x1: x, blockSize: BLOCK });
        return root;
      };
      // The peer: the same blocks in this process, no store.
      const peerRoot = await fresh('peer');
      const peerStore = KernelStore.open(peerRoot);
      const blocks = peerStore.blockCount;
      let entries = 0;
      for (let i = 0; i < blocks; i++) entries += peerStore.block(i).rows * peerStore.block(i).cols;
      log(`scale: ${size}, ${blocks} blocks, ${entries} entries per kernel`);
      const computer = new BlockComputer(peerStore);
      // The peer runs right before each configuration (not once for all): on a shared machine the
      // load drifts over minutes, and each ratio should compare runs under the same load.
      const peerRun = (): number => {
        const t = performance.now();
        for (let i = 0; i < blocks; i++) computer.computeValues(i);
        const ms = performance.now() - t;
        log(`scale: in-process blocks ${(ms / 1000).toFixed(1)} s`);
        return ms;
      };
      let t0 = 0;
      const peer = 'in-process blocks (no store)';

      let reference: string | null = null;
      const check = (root: string, what: string): boolean => {
        const digest = chunkDigest(root);
        reference ??= digest;
        if (digest !== reference) {
          report.fail(`${what}: the store differs from the first runner's`);
          return false;
        }
        return true;
      };
      // Spot check of the first store against the kernel function on a few rows.
      const spot = (root: string) => {
        const store = KernelStore.open(root);
        const b = store.block(Math.min(1, blocks - 1));
        const { values } = computer.computeValues(b.index);
        const chunk = store.readChunk('ntk', [b.row, b.col], BLOCK * BLOCK, 'float64')!;
        for (let r = 0; r < b.rows; r += 97) for (let c = 0; c < b.cols; c += 89) {
          if (!Object.is(chunk[r * BLOCK + c], values.get('ntk')![r * b.cols + c])) return false;
        }
        return true;
      };

      for (const w of [1, 2, 4]) {
        const caseName = `kernel store, ${w} local worker${w > 1 ? 's' : ''}`;
        if (!selected(opts, caseName)) continue;
        const root = await fresh(`local${w}`);
        const peerMs = peerRun();
        t0 = performance.now();
        await runLocal(root, { workers: w, progress: true });
        const ms = performance.now() - t0;
        const ok = check(root, caseName) && (w !== 1 || spot(root) || (report.fail(`${caseName}: sampled entries differ from the kernel function`), false));
        const note = `${formatRate(entries / (ms / 1000))} entries/s${w === 1 ? `; overhead ${((ms - peerMs) / blocks).toFixed(0)} ms/block vs in-process` : ''}`;
        report.add({ case: caseName, size, backend: 'cpu', threads: w }, ok ? ms : null, [[peer, peerMs, `${note}; peer ${formatRate(entries / (peerMs / 1000))} entries/s`]]);
        rmSync(root, { recursive: true, force: true });
      }

      const caseName = 'kernel store, 2 BullMQ workers';
      const redisBin = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
      if (selected(opts, caseName)) {
        if (!redisBin) {
          log('scale: redis-server not found: the BullMQ case is not measured');
          report.add({ case: caseName, size, backend: 'cpu', threads: 2 }, null, [[peer, null]]);
        } else {
          const port = await freePort();
          redis = spawn(redisBin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' });
          const url = `redis://127.0.0.1:${port}`;
          await new Promise((r) => setTimeout(r, 500));
          const queue = `bench-${process.pid}`;
          workers.push(...(await Promise.all(['b0', 'b1'].map((n) => startKernelWorker(url, queue, n)))));
          const root = await fresh('bullmq');
          const peerMs = peerRun();
          t0 = performance.now();
          await runBullmq(root, { redis: url, queue, progress: true, pollMs: 1000 });
          const ms = performance.now() - t0;
          const ok = check(root, caseName);
          report.add({ case: caseName, size, backend: 'cpu', threads: 2 }, ok ? ms : null, [[peer, peerMs, `${formatRate(entries / (ms / 1000))} entries/s; peer ${formatRate(entries / (peerMs / 1000))} entries/s`]]);
        }
      }
    } finally {
      for (const w of workers) w.kill('SIGTERM');
      redis?.kill('SIGTERM');
      rmSync(work, { recursive: true, force: true });
    }
  },
};
