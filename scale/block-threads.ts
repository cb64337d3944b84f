/**
 * Block computation off the calling thread, one worker thread per concurrent block: used by the
 * BullMQ worker so its event loop stays free to renew job locks while a long block computes (a
 * block that blocked the loop past the lock duration would be declared stalled and run twice).
 */
import type { Worker } from 'node:worker_threads';
import { startPoolThread } from './local-runner.ts';
import type { PoolReply, PoolRequest } from './pool-worker.ts';

interface Slot {
  readonly thread: Worker;
  readonly ready: Promise<void>;
  busy: boolean;
}

export class BlockThreads {
  private readonly slots = new Map<string, Slot[]>();

  /** Computes block `index` of the store at `root` on an idle thread for that store (started on first use). */
  async run(root: string, index: number): Promise<{ written: boolean }> {
    const list = this.slots.get(root) ?? [];
    this.slots.set(root, list);
    let slot = list.find((s) => !s.busy);
    if (!slot) {
      const thread = startPoolThread(root);
      const ready = new Promise<void>((resolve, reject) => {
        const onMessage = (m: PoolReply) => {
          if (m.type !== 'ready') return;
          thread.off('message', onMessage);
          thread.off('error', reject);
          resolve();
        };
        thread.on('message', onMessage);
        thread.once('error', reject);
      });
      slot = { thread, ready, busy: false };
      list.push(slot);
    }
    slot.busy = true;
    const s = slot;
    try {
      await s.ready;
      return await new Promise<{ written: boolean }>((resolve, reject) => {
        const onMessage = (m: PoolReply) => {
          if (m.type === 'ready') return;
          cleanup();
          if (m.type === 'error') reject(new Error(m.message));
          else resolve({ written: m.written });
        };
        const onError = (e: Error) => {
          cleanup();
          list.splice(list.indexOf(s), 1);
          reject(e);
        };
        const cleanup = () => {
          s.thread.off('message', onMessage);
          s.thread.off('error', onError);
        };
        s.thread.on('message', onMessage);
        s.thread.on('error', onError);
        s.thread.postMessage({ type: 'block', index } satisfies PoolRequest);
      });
    } finally {
      s.busy = false;
    }
  }

  async close(): Promise<void> {
    const all = [...this.slots.values()].flat();
    this.slots.clear();
    await Promise.all(all.map((s) => s.thread.terminate()));
  }
}
