/**
 * The distributed runner on BullMQ (Redis): `runBullmq` queues one job per missing block of a
 * store (job id = store id + block index, so queuing twice adds nothing) and waits until every
 * block is in the store; `startBullmqWorker` is a worker process on any machine that sees the
 * store's folder (a shared file system), pulling block jobs.
 *
 * Failure handling is BullMQ's: a job that throws is retried (`attempts`, exponential backoff); a
 * worker that dies mid-block stops renewing its job's lock, and after `lockMs` the stalled-job
 * check (every `stalledMs`) puts the job back in the queue for another worker. A block is written
 * by rename, so a killed worker leaves no partial chunk behind, and a worker that finds a block
 * already verified in the store writes nothing (a block lands in the result once).
 *
 * bullmq and ioredis are optional peer dependencies, imported only here.
 */
import path from 'node:path';
import type { Job, Queue as QueueType, Worker as WorkerType } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { BlockThreads } from './block-threads.ts';
import { BlockProgress, progressOf, type ProgressOption, type RunSummary } from './run-summary.ts';
import { KernelStore } from './store.ts';

export const DEFAULT_QUEUE = 'tangentgrad-kernel';

export interface BlockJobData {
  /** Absolute path of the store (the same on every machine: a shared mount). */
  readonly store: string;
  readonly index: number;
}

export interface BlockJobResult {
  readonly written: boolean;
  readonly worker: string;
  readonly pid: number;
}

async function bullmq(): Promise<typeof import('bullmq')> {
  try {
    return await import('bullmq');
  } catch (e) {
    throw new Error(`the BullMQ runner needs the 'bullmq' package (npm install bullmq): ${(e as Error).message}`);
  }
}

/**
 * A Redis client for the URL. BullMQ gets a client, not options: it loads ioredis itself only
 * through require, which an ES-module process does not have. Each Queue, QueueEvents and Worker
 * gets its own (a QueueEvents' blocking reads must not share one).
 */
export async function redisClient(url: string): Promise<Redis> {
  const options = redisConnection(url);
  let mod: typeof import('ioredis');
  try {
    mod = await import('ioredis');
  } catch (e) {
    throw new Error(`the BullMQ runner needs the 'ioredis' package (npm install ioredis): ${(e as Error).message}`);
  }
  const IORedis = (mod as unknown as { default?: typeof mod.Redis }).default ?? mod.Redis;
  return new IORedis(options);
}

/** redis://[user:password@]host:port[/db] as ioredis options (BullMQ workers need maxRetriesPerRequest null). */
export function redisConnection(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`redis: '${url}' is not a URL (redis://host:port[/db])`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`redis: '${url}' must start with redis:// or rediss://`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new Error(`redis: database '${u.pathname.slice(1)}' in '${url}' is not a non-negative integer`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

export interface BullmqRunOptions {
  redis: string;
  queue?: string;
  /** Tries per block before its job fails for good (default 3). */
  attempts?: number;
  progress?: ProgressOption;
  /** How often the store is checked for blocks finished without an event seen (default 5000 ms). */
  pollMs?: number;
}

function jobId(store: KernelStore, index: number): string {
  return `${store.meta.id}-${index}`;
}

/**
 * Queues the missing blocks of the store at `root` and waits for all of them; rejects when a block's
 * job fails for good. Workers (`startBullmqWorker`, `tangentgrad kernel worker`) do the computing.
 */
export async function runBullmq(root: string, opts: BullmqRunOptions): Promise<RunSummary> {
  const { Queue, QueueEvents } = await bullmq();
  const abs = path.resolve(root);
  const store = KernelStore.open(abs);
  const attempts = opts.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) throw new Error(`runBullmq: attempts must be a positive integer, got ${attempts}`);
  const name = opts.queue ?? DEFAULT_QUEUE;
  const t0 = performance.now();
  const missing = store.missingBlocks();
  const pending = new Map(missing.map((i) => [jobId(store, i), i]));
  const progress = new BlockProgress(progressOf(opts.progress), store, missing.length, 'kernel blocks');
  const queueConnection = await redisClient(opts.redis);
  const eventsConnection = await redisClient(opts.redis);
  const queue: QueueType = new Queue(name, { connection: queueConnection });
  const events = new QueueEvents(name, { connection: eventsConnection });
  let timer: NodeJS.Timeout | undefined;
  try {
    await events.waitUntilReady();
    const result = new Promise<void>((resolve, reject) => {
      const settle = (id: string) => {
        const index = pending.get(id);
        if (index === undefined) return;
        pending.delete(id);
        progress.blockDone(index);
        if (pending.size === 0) resolve();
      };
      events.on('completed', ({ jobId: id }) => settle(id));
      events.on('failed', async ({ jobId: id, failedReason }) => {
        if (!pending.has(id)) return;
        const job = await queue.getJob(id);
        if (job && (await job.getState()) === 'failed') reject(new Error(`kernel block ${pending.get(id)} failed after ${job.attemptsMade} attempt(s): ${failedReason}`));
      });
      // The store is the ground truth: a completion whose event was missed (a reconnect) still counts.
      timer = setInterval(() => {
        for (const [id, index] of pending) if (store.blockIsDone(index)) settle(id);
      }, opts.pollMs ?? 5000);
      if (pending.size === 0) resolve();
    });
    // A finished (completed or failed) job with the same id would swallow the new one: remove it first.
    for (const [id] of pending) {
      const old = await queue.getJob(id);
      if (old) {
        const state = await old.getState();
        if (state === 'completed' || state === 'failed') await old.remove();
      }
    }
    await queue.addBulk([...pending].map(([id, index]) => ({
      name: 'block',
      data: { store: abs, index } satisfies BlockJobData,
      opts: { jobId: id, attempts, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } },
    })));
    await result;
  } finally {
    clearInterval(timer);
    progress.stop();
    await events.close();
    await queue.close();
    queueConnection.disconnect();
    eventsConnection.disconnect();
  }
  const left = store.missingBlocks();
  if (left.length) throw new Error(`runBullmq: the queue finished but blocks ${left.slice(0, 10).join(', ')}${left.length > 10 ? ', ...' : ''} are missing or fail their checksum in ${abs}`);
  // Every block missing at the start was computed during this run (by whichever worker; the poll
  // above may see a chunk land before its completion event, so events cannot do the counting).
  return { blocks: store.blockCount, computed: missing.length, skipped: store.blockCount - missing.length, entries: progress.entriesDone, seconds: (performance.now() - t0) / 1000 };
}

export interface BullmqWorkerOptions {
  redis: string;
  queue?: string;
  /** Blocks computed at once by this process, each on its own thread (default 1). */
  concurrency?: number;
  /** A job's lock lasts this long without renewal before it counts as stalled (default 30000 ms). */
  lockMs?: number;
  /** How often stalled jobs are looked for (default 15000 ms). */
  stalledMs?: number;
  /** Times a job may stall before it fails (default 2). */
  maxStalled?: number;
  /** Name recorded on each job this worker processes (default host:pid). */
  name?: string;
  /** Close once the queue has been empty this long (default: never; run until close()). */
  idleExitMs?: number;
  /** Called when a block job starts, before it computes (logging, tests). */
  onBlockStart?: (data: BlockJobData, job: Job) => void | Promise<void>;
  /** Called when a block job finished. */
  onBlockDone?: (data: BlockJobData, result: BlockJobResult) => void;
}

export interface BullmqWorkerHandle {
  readonly worker: WorkerType;
  /** Resolves when the worker has closed (close() or idleExitMs). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** A worker pulling block jobs until closed. */
export async function startBullmqWorker(opts: BullmqWorkerOptions): Promise<BullmqWorkerHandle> {
  const { Worker } = await bullmq();
  const connection = await redisClient(opts.redis);
  const name = opts.name ?? `${(await import('node:os')).hostname()}:${process.pid}`;
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`kernel worker: concurrency must be a positive integer, got ${concurrency}`);
  const threads = new BlockThreads();
  const worker: WorkerType = new Worker<BlockJobData, BlockJobResult>(opts.queue ?? DEFAULT_QUEUE, async (job) => {
    const data = job.data;
    if (!data || typeof data.store !== 'string' || !Number.isInteger(data.index)) throw new Error(`kernel worker: job ${job.id} has no { store, index } data`);
    await opts.onBlockStart?.(data, job);
    const { written } = await threads.run(data.store, data.index);
    const result: BlockJobResult = { written, worker: name, pid: process.pid };
    opts.onBlockDone?.(data, result);
    return result;
  }, {
    connection, concurrency, name,
    lockDuration: opts.lockMs ?? 30_000,
    stalledInterval: opts.stalledMs ?? 15_000,
    maxStalledCount: opts.maxStalled ?? 2,
  });
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= (async () => {
    await worker.close();
    await threads.close();
    connection.disconnect();
    resolveClosed();
  })());
  if (opts.idleExitMs !== undefined) {
    let timer: NodeJS.Timeout | null = null;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => void close(), opts.idleExitMs);
    };
    worker.on('drained', arm);
    worker.on('active', () => timer && clearTimeout(timer));
    arm();
  }
  await worker.waitUntilReady();
  return { worker, closed, close };
}
