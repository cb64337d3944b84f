/**
 * The BullMQ runner against a real redis-server (started here on a free loopback port, stopped
 * after) and three worker processes, one killed with SIGKILL in the middle of a block: its job
 * stalls, comes back, and is finished by another worker; the store equals the single-process one
 * bit for bit, every block is written exactly once. A block that keeps failing is retried and
 * then reported.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { createKernelStore } from '../../scale/create-store.ts';
import { runLocal } from '../../scale/local-runner.ts';
import { redisClient, runBullmq } from '../../scale/bullmq-runner.ts';
import { KernelStore } from '../../scale/store.ts';
import type { ModelSpec } from '../../scale/model-spec.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const inCI = ((v) => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false')(process.env.CI);
const redisBin = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
if (!redisBin) {
  if (inCI) throw new Error('redis-server is not installed (.ci/run installs the Debian package redis-server)');
  console.warn('SKIPPED: the BullMQ runner tests (redis-server is not installed; apt-get install redis-server)');
}

const SPEC: ModelSpec = [{ layer: 'Dense', out: 32, W_std: 1.4, b_std: 0.2 }, 'Relu', { layer: 'Dense', out: 1, W_std: 1.4, b_std: 0.2 }];

function data(n: number, d: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n * d }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function chunkBytes(root: string, kernel: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(root, p), readFileSync(p).toString('hex'));
    }
  };
  walk(path.join(root, kernel, 'c'));
  return out;
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

async function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port }, () => c.write('PING\r\n'));
    c.once('data', (d) => {
      c.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    c.once('error', () => resolve(false));
  });
}

interface WorkerProc {
  name: string;
  child: ChildProcess;
  lines: string[];
  onLine: ((line: string) => void) | null;
}

function startWorker(redis: string, queue: string, name: string, pauseMs: number): Promise<WorkerProc> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/scale/fixtures/bullmq-worker.ts', redis, queue, name, String(pauseMs)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const w: WorkerProc = { name, child, lines: [], onLine: null };
  let buf = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        w.lines.push(line);
        if (line === 'ready') resolve(w);
        w.onLine?.(line);
      }
    });
    child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code}) before it was ready: ${err}`)));
  });
}

describe.skipIf(!redisBin)('BullMQ runner on a real redis-server', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tg-bullmq-'));
  let redis: ChildProcess;
  let url = '';
  const workers: WorkerProc[] = [];

  beforeAll(async () => {
    const port = await freePort();
    redis = spawn(redisBin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' });
    url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 200 && !(await redisPing(port)); i++) await new Promise((r) => setTimeout(r, 50));
    if (!(await redisPing(port))) throw new Error(`redis-server did not answer on port ${port}`);
  });

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    redis?.kill('SIGTERM');
    await new Promise((r) => (redis?.exitCode !== null ? r(null) : redis.once('exit', r)));
    rmSync(work, { recursive: true, force: true });
  });

  it('three workers, one killed mid-block: the store equals the single-process one, each block written once', async () => {
    const queue = 'kernel-test';
    const x = { shape: [60, 5], data: data(60, 5, 1) };
    const root = path.join(work, 'dist.zarr');
    const ref = path.join(work, 'ref.zarr');
    await createKernelStore(root, { model: SPEC, x1: x, blockSize: 10 });
    await createKernelStore(ref, { model: SPEC, x1: x, blockSize: 10 });
    const store = KernelStore.open(root);
    const total = store.blockCount;
    workers.push(...(await Promise.all(['w0', 'w1', 'w2'].map((n) => startWorker(url, queue, n, 400)))));
    const [victim] = workers;
    let killedBlock = -1;
    victim.onLine = (line) => {
      const m = /^start (\d+)$/.exec(line);
      if (!m || killedBlock >= 0) return;
      killedBlock = Number(m[1]);
      // 100 ms into the job's 400 ms pause: the job is running and its block cannot have been
      // written yet, however fast the machine computes the block itself.
      setTimeout(() => victim.child.kill('SIGKILL'), 100);
    };
    const summary = await runBullmq(root, { redis: url, queue, progress: false, pollMs: 500 });
    expect(summary).toMatchObject({ blocks: total, computed: total, skipped: 0 });
    expect(killedBlock).toBeGreaterThanOrEqual(0);
    expect(victim.child.signalCode).toBe('SIGKILL');
    expect(victim.lines).not.toContain(`done ${killedBlock} true`);

    // Who wrote what: each block exactly once, the killed worker's block by a survivor.
    const writes = new Map<number, string[]>();
    for (const w of workers) {
      for (const line of w.lines) {
        const m = /^done (\d+) (true|false)$/.exec(line);
        if (m && m[2] === 'true') writes.set(Number(m[1]), [...(writes.get(Number(m[1])) ?? []), w.name]);
      }
    }
    expect([...writes.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
    for (const [, who] of writes) expect(who).toHaveLength(1);
    expect(writes.get(killedBlock)![0]).not.toBe('w0');

    // BullMQ's record: the killed worker's job stalled and was finished by another worker.
    const connection = await redisClient(url);
    const q = new Queue(queue, { connection });
    try {
      const job = (await q.getJob(`${store.meta.id}-${killedBlock}`))!;
      expect(await job.getState()).toBe('completed');
      expect(job.processedBy).not.toBe('w0');
      expect(job.stalledCounter + job.attemptsStarted).toBeGreaterThanOrEqual(2);
      expect(await q.getJobCountByTypes('completed')).toBe(total);
    } finally {
      await q.close();
      connection.disconnect();
    }

    await runLocal(ref, { workers: 0 });
    for (const k of ['nngp', 'ntk']) expect(chunkBytes(root, k)).toEqual(chunkBytes(ref, k));
    // Queuing a finished store again adds nothing and returns at once.
    expect(await runBullmq(root, { redis: url, queue, progress: false })).toMatchObject({ computed: 0, skipped: total });
  });

  it('a block that keeps failing is retried, then reported with its error', async () => {
    const queue = 'kernel-test';
    const root = path.join(work, 'broken.zarr');
    await createKernelStore(root, { model: SPEC, x1: { shape: [12, 5], data: data(12, 5, 2) }, blockSize: 12 });
    // Damage the input chunk: every attempt fails its checksum.
    const input = KernelStore.open(root).chunkPath('x1', [0, 0]);
    const bytes = readFileSync(input);
    bytes[3] ^= 0xff;
    writeFileSync(input, bytes);
    await expect(runBullmq(root, { redis: url, queue, attempts: 2, progress: false, pollMs: 500 })).rejects.toThrow(/kernel block 0 failed after 2 attempt\(s\):.*x1\/c\/0\/0.*crc32c/);
  });
});
