/** Helpers to run our engine in a bench: choosing a backend, uploading shared inputs, timed calls. */
import * as tg from '../engine/index.ts';
import type { Backend, BackendName, Tensor } from '../engine/index.ts';
import { log } from './harness.ts';

/** Our backend by name, initialized; null (with a note on stderr) when it is not available here. */
export async function oursBackend(name: string): Promise<Backend | null> {
  try {
    return await tg.setBackend(name as BackendName);
  } catch (e) {
    log(`backend '${name}' is not available: ${(e as Error).message.split('\n')[0]}; its rows are skipped`);
    return null;
  }
}

/** A tensor of shared input data on `backend` (float32, or float64 for Float64Array data), kept alive across tidy scopes. */
export function upload(data: Float32Array | Float64Array, shape: readonly number[], backend: Backend): Tensor {
  return tg.keep(tg.tensor(data, shape, data instanceof Float64Array ? 'float64' : 'float32', backend));
}

/**
 * A timed call of ours: runs fn in a tidy scope, reads every result back (so queued GPU work is
 * included) and frees it; returns the values read.
 */
export function oursCall(fn: () => Tensor | Tensor[]): () => Promise<Float32Array[]> {
  return async () => {
    const outs = tg.tidy(() => {
      const r = fn();
      return Array.isArray(r) ? r : [r];
    });
    try {
      return (await Promise.all(outs.map((o) => o.data()))) as Float32Array[];
    } finally {
      tg.dispose(outs);
    }
  };
}
