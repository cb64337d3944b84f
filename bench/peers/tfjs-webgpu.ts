/**
 * TensorFlow.js 4.22 on @tensorflow/tfjs-backend-webgpu as a peer, in Node on Dawn (the `webgpu`
 * package), on the same adapter as our WebGPU backend.
 *
 * tfjs-backend-webgpu registers itself at import time, and only when `navigator.gpu` exists, so
 * Node needs `globalThis.navigator = { gpu, userAgent: 'node' }` first (userAgent: tfjs-core reads
 * it to guess a mobile device). installNodeGpu() provides it with ONE Dawn instance and must run
 * before our backend acquires its device: kernels/webgpu/device.ts prefers `navigator.gpu` when
 * present, so ours and tfjs then share that instance (two devices on one adapter) instead of each
 * creating its own. The instance is held by the global for the life of the process, which
 * device.ts documents as required with webgpu 0.6.2 (a collected instance crashes the process).
 *
 * Known wrong answers (shared/WEBGPU.md): tfjs-webgpu's split-K matmul shader, picked for
 * [16,K]x[K,16]-like products with a large K, returns wrong values on lavapipe and SwiftShader;
 * every result of this peer must be checked.
 */
import { log } from '../harness.ts';
import { loadTfjs, type Tf } from './tfjs.ts';

let installed: Promise<boolean> | undefined;

/**
 * Makes `navigator.gpu` available in Node (Dawn), once. True when a navigator.gpu is there
 * afterwards (also in Deno or a browser, where nothing is changed).
 */
export function installNodeGpu(): Promise<boolean> {
  installed ??= (async () => {
    const g = globalThis as { navigator?: { gpu?: unknown; userAgent?: string } };
    if (g.navigator?.gpu) return true;
    if (g.navigator !== undefined) {
      // Node >= 21 has a navigator of its own without gpu: add the property next to what is there.
      const mod = await import('webgpu');
      Object.assign(globalThis, mod.globals);
      Object.defineProperty(g.navigator, 'gpu', { value: mod.create([]), configurable: true });
      return true;
    }
    try {
      const mod = await import('webgpu');
      Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, ... as in a browser
      g.navigator = { gpu: mod.create([]), userAgent: 'node' };
      return true;
    } catch (e) {
      log(`tfjs-webgpu: cannot load the \`webgpu\` package (Dawn): ${(e as Error).message.split('\n')[0]}`);
      return false;
    }
  })();
  return installed;
}

let loaded: Promise<Tf> | undefined;

/** The tfjs namespace with the webgpu backend registered and initialized (throws without an adapter). */
export function loadTfjsWebgpu(): Promise<Tf> {
  loaded ??= (async () => {
    if (!(await installNodeGpu())) throw new Error('tfjs-webgpu: navigator.gpu is not available');
    const tf = await loadTfjs();
    await import('@tensorflow/tfjs-backend-webgpu');
    if (tf.findBackendFactory('webgpu') === null) throw new Error('tfjs-webgpu: the backend did not register (navigator.gpu missing at import?)');
    if (!(await tf.setBackend('webgpu'))) throw new Error("tfjs-webgpu: backend 'webgpu' failed to initialize (no adapter? see shared/WEBGPU.md)");
    await tf.ready();
    return tf;
  })();
  loaded.catch(() => (loaded = undefined));
  return loaded;
}

/** Switches tfjs to its webgpu backend; returns the namespace. */
export async function useTfjsWebgpu(): Promise<Tf> {
  const tf = await loadTfjsWebgpu();
  if (tf.getBackend() !== 'webgpu') {
    await tf.setBackend('webgpu');
    await tf.ready();
  }
  return tf;
}
