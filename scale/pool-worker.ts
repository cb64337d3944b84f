/**
 * One thread of the local pool (scale/local-runner.ts): opens the store, then computes the block
 * indices the main thread sends, one at a time, answering each with { index, written }. The CPU
 * backend runs single-threaded here: the pool's threads are the parallelism.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { configureCpu } from '../kernels/cpu/config.ts';
import { BlockComputer } from './compute-block.ts';
import { KernelStore } from './store.ts';

export type PoolRequest = { type: 'block'; index: number } | { type: 'stop' };
export type PoolReply = { type: 'ready' } | { type: 'done'; index: number; written: boolean } | { type: 'error'; index: number; message: string };

const port = parentPort!;
await configureCpu({ threads: 1 });
const computer = new BlockComputer(KernelStore.open((workerData as { root: string }).root));
port.on('message', (msg: PoolRequest) => {
  if (msg.type === 'stop') {
    port.close();
    return;
  }
  try {
    const r = computer.run(msg.index);
    port.postMessage({ type: 'done', index: msg.index, written: r.written } satisfies PoolReply);
  } catch (e) {
    port.postMessage({ type: 'error', index: msg.index, message: (e as Error).message } satisfies PoolReply);
  }
});
port.postMessage({ type: 'ready' } satisfies PoolReply);
