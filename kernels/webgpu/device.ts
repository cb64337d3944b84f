/**
 * WebGPU device acquisition for the three hosts we run on: Node (Dawn via the
 * `webgpu` npm package), Deno (wgpu, `navigator.gpu`) and browsers.
 *
 * One device is shared per process (acquireDevice caches it); releaseDevice()
 * destroys it. Device loss is recorded and reported through deviceError() and the
 * onError callback, so a caller gets an error with a message instead of a readback
 * that never settles; the next acquireDevice() starts over. Uncaptured errors
 * (validation, out of memory outside any error scope) go to onError and
 * lastUncapturedError(): they belong to one call, not to the device, which stays usable.
 *
 * @example
 *   const { device, adapterInfo, host } = await acquireDevice();
 *   // ... create buffers, pipelines, dispatch ...
 *   await releaseDevice();
 */
import { detectHost, type Host } from '../host.ts';

export type WebGpuHost = Host;

export interface AcquiredDevice {
  device: GPUDevice;
  /** Human-readable adapter description, e.g. "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) [mesa software] (fallback)". */
  adapterInfo: string;
  host: WebGpuHost;
  /**
   * Smallest subgroup size of the adapter when the device was created with the 'subgroups'
   * feature (requested whenever the adapter offers it), else undefined.
   */
  subgroupMinSize?: number;
}

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** 'compatibility' is needed for Dawn's OpenGL ES backend. */
  featureLevel?: 'core' | 'compatibility';
  /** Node only: toggles for Dawn's create(), e.g. ['backend=opengles']. */
  dawnFlags?: string[];
  /** Called once per device loss / uncaptured error, besides recording it (deviceError(), lastUncapturedError()). */
  onError?: (error: Error) => void;
}

/** What to tell a user whose machine has no WebGPU adapter. */
export const PROVISION_HINT =
  'On a GPU-less Debian 12 machine, provision a software adapter: run `npm run provision:webgpu`, ' +
  'then `source .cache/webgpu/env.sh` (it sets VK_ICD_FILENAMES) and run again.';

/**
 * The limits our kernels care about. A device gets the spec defaults (e.g. 256
 * invocations per workgroup, 16 KiB workgroup memory) unless requiredLimits asks
 * for more, even when the adapter offers more.
 */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
] as const;

let current: Promise<AcquiredDevice> | null = null;
let currentDevice: GPUDevice | null = null;
// Dawn instances (create() results), one per flag set, held for the life of the
// process. Measured with webgpu 0.6.2 on lavapipe: once one is garbage-collected
// the process dies (segfault, or "futex"/mutex aborts at exit), and a device used
// while its instance is collectable aborts too. Holding it is safe: Node still
// exits normally, with or without releaseDevice().
const dawnInstances = new Map<string, Promise<GPU>>();
let lastError: Error | null = null;
let lastUncaptured: Error | null = null;
// Bumped by releaseDevice(), so an acquisition still in flight knows it was released.
let generation = 0;

/** The loss of the current device (which then cannot run anything), or null. */
export function deviceError(): Error | null {
  return lastError;
}

/**
 * The latest validation / out-of-memory error raised outside any error scope on the current
 * device, or null. Diagnostic only: such an error spoils the call that caused it, not the device.
 */
export function lastUncapturedError(): Error | null {
  return lastUncaptured;
}

/** Throws if the device was lost; call before submitting work. */
export function throwIfDeviceError(): void {
  if (lastError) throw lastError;
}

function nativeGpu(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? undefined;
}

function dawnGpu(flags: string[]): Promise<GPU> {
  const key = flags.join(',');
  let gpu = dawnInstances.get(key);
  if (!gpu) {
    gpu = loadDawn(flags);
    dawnInstances.set(key, gpu);
    gpu.catch(() => dawnInstances.delete(key)); // a failed load may succeed after `npm install`
  }
  return gpu;
}

/**
 * The Node-only modules, imported through variable specifiers: bundlers (esbuild, Vite, webpack)
 * leave such imports alone instead of trying to resolve Dawn's native addon or Node builtins for
 * a browser build. Only Node ever reaches these lines (acquire() checks the host first).
 */
const DAWN_PACKAGE = 'webgpu';
const NODE_FS = 'node:fs';
const NODE_OS = 'node:os';
const NODE_PATH = 'node:path';

type DawnModule = { create(flags: string[]): GPU; globals: Record<string, unknown> };

async function loadDawn(flags: string[]): Promise<GPU> {
  let mod: DawnModule;
  try {
    mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ DAWN_PACKAGE)) as DawnModule;
  } catch (e) {
    throw new Error(
      `WebGPU (node): cannot load the \`webgpu\` package (Dawn): ${(e as Error).message}. ` +
        'Install it with `npm install webgpu` (an optional dependency of tangentgrad).',
    );
  }
  await quietVulkanLoader();
  // GPUBufferUsage, GPUMapMode, ... are globals in browsers; Dawn hands them over here.
  Object.assign(globalThis, mod.globals);
  return mod.create(flags);
}

/**
 * Mesa's Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not set in the environment"
 * (twice per instance) when the variable is unset, as on CI machines and in containers; nothing
 * is wrong. Point it at a private empty folder (created 0700, removed at exit) before Dawn loads
 * the drivers. A variable the user set is left alone.
 */
async function quietVulkanLoader(): Promise<void> {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  if (!env || env.XDG_RUNTIME_DIR) return;
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ NODE_FS)) as typeof import('node:fs');
  const os = (await import(/* @vite-ignore */ /* webpackIgnore: true */ NODE_OS)) as typeof import('node:os');
  const path = (await import(/* @vite-ignore */ /* webpackIgnore: true */ NODE_PATH)) as typeof import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tangentgrad-xdg-'));
  env.XDG_RUNTIME_DIR = dir;
  (globalThis as unknown as { process: NodeJS.Process }).process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
}

function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info;
  // The description is the informative field where present (Dawn, wgpu); Chromium leaves it empty.
  const main =
    info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || 'unknown adapter';
  const extra = info.description ? [info.vendor, info.architecture].filter((s) => s && !main.includes(s)) : [];
  // Older implementations expose isFallbackAdapter on the adapter instead of its info.
  const fallback =
    info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return `${main}${extra.length ? ` [${extra.join(' ')}]` : ''}${fallback ? ' (fallback)' : ''}`;
}

function record(error: Error, onError?: (error: Error) => void): void {
  lastError ??= error;
  onError?.(error);
}

async function acquire(options: AcquireOptions): Promise<AcquiredDevice> {
  const gen = generation;
  const host = detectHost();
  const gpu = nativeGpu() ?? (host === 'node' ? await dawnGpu(options.dawnFlags ?? []) : undefined);
  if (!gpu) {
    throw new Error(`WebGPU (${host}): navigator.gpu is not available in this ${host}. ${PROVISION_HINT}`);
  }
  const adapterOptions: GPURequestAdapterOptions = {};
  if (options.powerPreference) adapterOptions.powerPreference = options.powerPreference;
  if (options.featureLevel) adapterOptions.featureLevel = options.featureLevel;
  const adapter = await gpu.requestAdapter(adapterOptions);
  if (!adapter) {
    throw new Error(`WebGPU (${host}): no adapter found. ${PROVISION_HINT}`);
  }

  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  // Subgroups make the matmul/conv kernels about 2x faster on lavapipe (kernels/wgsl/gemm-core.ts).
  const subgroups = adapter.features.has('subgroups');
  // 'subgroups' is missing from @webgpu/types' GPUFeatureName union; every host we run on knows it.
  const requiredFeatures = (subgroups ? ['subgroups'] : []) as unknown as GPUFeatureName[];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'tangentgrad' });
  if (gen !== generation) {
    device.destroy();
    throw new Error('WebGPU: releaseDevice() was called while the device was being acquired');
  }

  lastError = null;
  lastUncaptured = null;
  const { onError } = options;
  void device.lost.then((info) => {
    // releaseDevice() clears currentDevice before destroying it: that is no error.
    // Anything else, a driver loss or a stray device.destroy(), is reported.
    if (device !== currentDevice) return;
    record(new Error(`WebGPU device lost (${info.reason}): ${info.message}`), onError);
    current = null; // the next acquireDevice() starts over
    currentDevice = null;
  });
  device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
    if (device !== currentDevice) return;
    const kind =
      ev.error instanceof GPUOutOfMemoryError
        ? 'out of memory'
        : ev.error instanceof GPUValidationError
          ? 'validation error'
          : 'internal error';
    lastUncaptured = new Error(`WebGPU ${kind}: ${ev.error.message}`);
    onError?.(lastUncaptured);
  };
  currentDevice = device;
  const subgroupMinSize = subgroups ? adapter.info.subgroupMinSize : undefined;
  return { device, adapterInfo: describeAdapter(adapter), host, ...(subgroupMinSize ? { subgroupMinSize } : {}) };
}

/**
 * Returns the process-wide WebGPU device, creating it on first call.
 * Throws with provisioning instructions when the machine has no adapter.
 *
 * @example
 *   const { device } = await acquireDevice();
 */
export function acquireDevice(options: AcquireOptions = {}): Promise<AcquiredDevice> {
  if (!current) {
    const pending = acquire(options);
    current = pending;
    // A failed acquisition must not be cached: provisioning may fix it for the next call.
    pending.catch(() => {
      if (current === pending) current = null;
    });
  }
  return current;
}

/** Destroys the shared device and drops our references to it; the next acquireDevice() makes a new one. */
export async function releaseDevice(): Promise<void> {
  const pending = current;
  generation++;
  current = null;
  currentDevice = null;
  lastError = null;
  lastUncaptured = null;
  if (pending) {
    try {
      (await pending).device.destroy();
    } catch {
      // Acquisition failed: nothing to destroy.
    }
  }
}

/**
 * Whether a WebGPU adapter can be obtained here. Does not keep a device around.
 *
 * @example
 *   if (await webgpuAvailable()) useWebGpuBackend();
 */
export async function webgpuAvailable(): Promise<boolean> {
  if (currentDevice) return true;
  try {
    const host = detectHost();
    const gpu = nativeGpu() ?? (host === 'node' ? await dawnGpu([]) : undefined);
    return !!gpu && (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` inside validation and out-of-memory error scopes and throws the first
 * error with `label` in front, e.g. for buffer allocation and pipeline creation.
 *
 * @example
 *   const buf = await captureErrors(device, 'matmul: output buffer', () => device.createBuffer(desc));
 */
export async function captureErrors<T>(device: GPUDevice, label: string, fn: () => T): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T;
  try {
    result = fn();
  } finally {
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    const err = oom ?? validation;
    if (err) {
      throw new Error(`${label}: WebGPU ${oom ? 'out of memory' : 'validation error'}: ${err.message}`);
    }
  }
  return result;
}

/** Rejecters of the waits untilLost() guards, per device; one lost handler serves them all. */
const waiters = new WeakMap<GPUDevice, Set<(error: Error) => void>>();

/**
 * Races `promise` (a mapAsync, onSubmittedWorkDone, ...) against device loss, so a
 * lost device rejects the wait instead of leaving it pending forever.
 *
 * @example
 *   await untilLost(device, staging.mapAsync(GPUMapMode.READ));
 */
export function untilLost<T>(device: GPUDevice, promise: Promise<T>): Promise<T> {
  let set = waiters.get(device);
  if (!set) {
    const pending = new Set<(error: Error) => void>();
    set = pending;
    waiters.set(device, pending);
    // One reaction on device.lost, not one per wait: readbacks in a training loop
    // would otherwise pile closures onto a promise that never settles.
    void device.lost.then((info) => {
      const error = new Error(`WebGPU device lost (${info.reason}) while waiting: ${info.message}`);
      for (const reject of pending) reject(error);
      pending.clear();
    });
  }
  const pending = set;
  return new Promise<T>((resolve, reject) => {
    pending.add(reject);
    promise.then(
      (value) => {
        pending.delete(reject);
        resolve(value);
      },
      (error: unknown) => {
        pending.delete(reject);
        reject(error);
      },
    );
  });
}
