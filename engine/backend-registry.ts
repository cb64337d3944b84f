import type { Backend, BackendName } from './backend.ts';

type Factory = () => Promise<Backend>;

const factories = new Map<BackendName, Factory>();
const instances = new Map<BackendName, Backend>();
let current: Backend | null = null;

/** Backends register a factory; the WebGPU one is only instantiated (and its device acquired) on demand. */
export function registerBackend(name: BackendName, factory: Factory, instance?: Backend): void {
  factories.set(name, factory);
  if (instance) instances.set(name, instance);
}

/** The backend new tensors are created on. */
export function getBackend(): Backend {
  if (current === null) {
    const cpu = instances.get('cpu');
    if (!cpu) throw new Error('getBackend: no backend is registered (import tangentgrad, not engine files directly)');
    current = cpu;
  }
  return current;
}

/** An instantiated backend by name, if it was initialized. */
export function backendInstance(name: BackendName): Backend | undefined {
  return instances.get(name);
}

/**
 * Chooses the backend for new tensors. `await setBackend('webgpu')` acquires the GPU device and
 * throws a clear error when there is no adapter.
 */
export async function setBackend(name: BackendName): Promise<Backend> {
  let backend = instances.get(name);
  // A backend that failed for good (e.g. its GPU device was lost) is replaced by a fresh one.
  if (backend && (backend as { failed?: unknown }).failed) backend = undefined;
  if (!backend) {
    const factory = factories.get(name);
    if (!factory) throw new Error(`setBackend: unknown backend '${name}' (known: ${[...factories.keys()].join(', ')})`);
    backend = await factory();
    instances.set(name, backend);
  }
  current = backend;
  return backend;
}

/** Synchronous switch to an already-initialized backend. */
export function useBackend(name: BackendName): Backend {
  const backend = instances.get(name);
  if (!backend) throw new Error(`useBackend: backend '${name}' is not initialized; call await setBackend('${name}') first`);
  current = backend;
  return backend;
}

/**
 * Picks WebGPU when an adapter is found, else the CPU, and says which (and why) in `reason`.
 */
export async function initBackend(prefer?: BackendName): Promise<{ backend: Backend; reason: string }> {
  if (prefer) return { backend: await setBackend(prefer), reason: `requested '${prefer}'` };
  if (factories.has('webgpu')) {
    try {
      const backend = await setBackend('webgpu');
      return { backend, reason: 'a WebGPU adapter was found' };
    } catch (e) {
      const backend = await setBackend('cpu');
      return { backend, reason: `no usable WebGPU adapter (${(e as Error).message.split('\n')[0]}); using the CPU` };
    }
  }
  return { backend: await setBackend('cpu'), reason: 'the WebGPU backend is not registered; using the CPU' };
}
