/**
 * TensorFlow.js 4.22 as a peer, on tfjs-backend-cpu (plain JS) and tfjs-backend-wasm (XNNPACK,
 * SIMD, one thread in Node). Loaded lazily so a suite that does not need it does not pay for it.
 *
 * Node gotchas (shared/WEBGPU.md): the tfjs-core bundle Node resolves registers no gradients,
 * so the combined `@tensorflow/tfjs` package is imported (it registers them); the wasm backend
 * needs setWasmPaths pointing at its dist/ folder; in Node it has no Conv2DBackpropFilter kernel.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TF from '@tensorflow/tfjs';

export type Tf = typeof TF;
export type TfBackend = 'tfjs-cpu' | 'tfjs-wasm';

let loaded: Promise<Tf> | undefined;

/** The tfjs namespace with both backends registered and initialized. */
export function loadTfjs(): Promise<Tf> {
  loaded ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-cpu');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + path.sep + 'dist' + path.sep);
    for (const b of ['cpu', 'wasm']) {
      if (!(await tf.setBackend(b))) throw new Error(`tfjs: backend '${b}' failed to initialize`);
      await tf.ready();
    }
    return tf;
  })();
  return loaded;
}

/** Switches tfjs to one of its backends; returns the namespace. */
export async function useTfjs(backend: TfBackend): Promise<Tf> {
  const tf = await loadTfjs();
  const name = backend === 'tfjs-cpu' ? 'cpu' : 'wasm';
  if (tf.getBackend() !== name) {
    await tf.setBackend(name);
    await tf.ready();
  }
  return tf;
}

export const TFJS_VERSION = '4.22.0';
