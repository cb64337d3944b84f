/**
 * The WebGPU backend: float32 and int32 tensors in GPU buffers, primitives as WGSL compute dispatches.
 *
 * - run() only ENCODES: dispatches go into one compute pass of one command encoder, which is
 *   submitted every `dispatchesPerSubmit` dispatches, on every read, and when the caller's
 *   synchronous code yields (a queued microtask). Nothing waits on the GPU except read().
 * - Storage is immutable and reference counted (GpuStorage.refs): reshape, identity,
 *   stopGradient and cast (f32 -> f32) return the input's storage with one more reference, and
 *   the buffer goes back to the pool when the last tensor holding it is released.
 * - Buffers are pooled by size class (buffer-pool.ts); pipelines are cached by ShaderProgram.key
 *   and bind groups by (layout, buffers) (pipeline-cache.ts); plans (op + shapes + params ->
 *   programs) are cached too (plan.ts). In a training loop every step finds all three cached.
 * - Uniforms of all dispatches of a submit are packed into one arena buffer and selected with a
 *   dynamic offset, so no dispatch creates a buffer or calls writeBuffer of its own.
 * - Scalars (tg.mul(x, 0.5) uploads 0.5 as a size-1 tensor) are cached by value: a hit costs a
 *   map lookup, no upload.
 * - Errors: every submit runs inside validation and out-of-memory error scopes, pipelines are
 *   created inside scopes too, and device loss is watched (device.ts); the first failure is kept
 *   and makes read() reject (and later run()s throw) with a message naming the op, instead of a
 *   readback that returns garbage or never settles.
 */
import type { Backend, KernelInput } from '../../engine/backend.ts';
import type { DType, TypedArray } from '../../engine/dtype.ts';
import type { GatherParams, ScatterAddParams } from '../../engine/primitives/gather.ts';
import type { PrimitiveName } from '../../engine/primitives/index.ts';
import type { Key } from '../../engine/random.ts';
import { sizeOf, type Shape } from '../../engine/shape.ts';
import { randomProgram, type RandomKind } from '../wgsl/random.ts';
import type { ShaderProgram } from '../wgsl/program.ts';
import { BufferPool, GpuStorage } from './buffer-pool.ts';
import { acquireDevice, deviceError, untilLost, type AcquireOptions, type WebGpuHost } from './device.ts';
import { PipelineCache } from './pipeline-cache.ts';
import { aliases, OUT, planOp, type PlanContext } from './plan.ts';

export { GpuStorage } from './buffer-pool.ts';

export interface WebGpuBackendOptions {
  /** Dispatches encoded before a submit (reads always submit). Default 64. */
  dispatchesPerSubmit?: number;
  /** Bytes of free buffers the pool keeps before destroying some. Default 512 MiB. */
  maxPooledBytes?: number;
  /** Options for acquiring the device (WebGpuBackend.create only). */
  device?: AcquireOptions;
  /**
   * The adapter's smallest subgroup size, when the device has the 'subgroups' feature (create()
   * fills it in); the GEMM kernels use subgroups when it is at least 8.
   */
  subgroupMinSize?: number;
}

export interface WebGpuStats {
  dispatches: number;
  submits: number;
  readbacks: number;
  uploads: number;
  /** Scalar uploads answered from the scalar cache. */
  scalarHits: number;
  pipelines: number;
  bindGroupHits: number;
  bindGroupMisses: number;
  /** Tensor references to storage (what liveCount() returns). */
  liveStorages: number;
  /** Storage buffers in use (shared storage counts once; cached scalars count). */
  liveBuffers: number;
  liveBytes: number;
  pooledBuffers: number;
  pooledBytes: number;
  buffersCreated: number;
}

const STORAGE_USAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST (globals differ per host; values are the spec's)
const STAGING_USAGE = 0x01 | 0x08; // MAP_READ | COPY_DST
const UNIFORM_USAGE = 0x40 | 0x08; // UNIFORM | COPY_DST
const MAP_READ = 0x1;
const SCALAR_CACHE_SIZE = 1024;

export class WebGpuBackend implements Backend<GpuStorage> {
  readonly name = 'webgpu' as const;
  readonly device: GPUDevice;
  /** e.g. "llvmpipe: Mesa 25.0.7 ... (fallback)". */
  readonly adapterInfo: string;
  readonly host: WebGpuHost | 'external';

  private readonly storagePool: BufferPool;
  private readonly stagingPool: BufferPool;
  private readonly cache: PipelineCache;
  private readonly planContext: PlanContext;
  private readonly scalars = new Map<number, GpuStorage>();
  private readonly scalarBits = new Uint32Array(1);
  private readonly scalarValue = new Float32Array(this.scalarBits.buffer);

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private passPipeline: GPUComputePipeline | null = null;
  private flushQueued = false;
  private batchDispatches = 0;
  /** Ops encoded since the last submit, for error messages. */
  private batchOps: string[] = [];
  private readonly dispatchesPerSubmit: number;

  private readonly uniformAlign: number;
  private readonly arena: GPUBuffer;
  private readonly arenaWords: Uint32Array<ArrayBuffer>;
  private arenaUsed = 0;

  private failure: Error | null = null;
  private lastSubmit: Promise<Error | null> = Promise.resolve(null);
  private live = 0;
  private readonly counters = { dispatches: 0, submits: 0, readbacks: 0, uploads: 0, scalarHits: 0 };

  /**
   * Acquires the process-wide device (Node: Dawn, Deno and browsers: navigator.gpu) and builds
   * a backend on it; throws with provisioning instructions when there is no adapter.
   * @example const backend = await WebGpuBackend.create();
   */
  static async create(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    const { device, adapterInfo, host, subgroupMinSize } = await acquireDevice(options.device);
    return new WebGpuBackend(device, adapterInfo, host, { ...options, subgroupMinSize });
  }

  constructor(device: GPUDevice, adapterInfo = 'unknown adapter', host: WebGpuHost | 'external' = 'external', options: WebGpuBackendOptions = {}) {
    this.device = device;
    this.adapterInfo = adapterInfo;
    this.host = host;
    this.dispatchesPerSubmit = options.dispatchesPerSubmit ?? 64;
    const subgroups = device.features.has('subgroups') && (options.subgroupMinSize ?? 0) >= 8;
    this.planContext = { subgroups };
    const maxPooled = options.maxPooledBytes ?? 512 * 2 ** 20;
    this.cache = new PipelineCache(device, (what, fn) => this.scoped(what, fn));
    this.storagePool = new BufferPool(
      device, STORAGE_USAGE, 'tangentgrad storage', maxPooled,
      (id) => this.cache.dropBuffer(id),
      (create) => this.scoped('allocating a storage buffer', create),
    );
    this.stagingPool = new BufferPool(device, STAGING_USAGE, 'tangentgrad staging', 64 * 2 ** 20, undefined, (create) => this.scoped('allocating a readback buffer', create));
    this.uniformAlign = device.limits.minUniformBufferOffsetAlignment;
    // Room for every dispatch of a submit with a 256-byte block each, twice over.
    const arenaBytes = Math.max(65536, this.dispatchesPerSubmit * 512);
    this.arena = device.createBuffer({ size: arenaBytes, usage: UNIFORM_USAGE, label: 'tangentgrad uniforms' });
    this.arenaWords = new Uint32Array(arenaBytes / 4);
    // Any loss, including releaseDevice(), which device.ts does not count as an error: this
    // backend cannot run on that device again.
    void device.lost.then((info) => this.fail(new Error(`WebGPU device lost (${info.reason}): ${info.message}`)));
  }

  /**
   * The error that stopped this backend (device loss, including releaseDevice(), or a failed
   * kernel), or null while it works. A registry could re-create a backend whose `failed` is set.
   */
  get failed(): Error | null {
    return this.failure ?? deviceError();
  }

  /** Whether the GEMM kernels use subgroups on this device. */
  get subgroups(): boolean {
    return this.planContext.subgroups;
  }

  supportsDType(dtype: DType): boolean {
    return dtype === 'float32' || dtype === 'int32';
  }

  upload(values: TypedArray, shape: Shape, dtype: DType): GpuStorage {
    this.checkDType('upload', dtype);
    this.checkUsable('upload');
    const n = values.length;
    if (n !== sizeOf(shape)) throw new Error(`upload: ${n} values do not fill shape [${shape.join(',')}]`);
    this.live++;
    const int = dtype === 'int32';
    if (n === 1 && !int) return this.scalar(values[0]);
    this.counters.uploads++;
    const buffer = this.storagePool.acquire(n * 4, true);
    if (n > 0) {
      const data = int ? (values instanceof Int32Array ? values : Int32Array.from(values)) : values instanceof Float32Array ? values : Float32Array.from(values);
      this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, n * 4);
    }
    const storage = new GpuStorage(buffer, n, this.storagePool.idOf(buffer));
    if (int) storage.hostRange = valueRange(values);
    return storage;
  }

  /** A shared, cached size-1 storage per float32 value: promoted constants cost no upload. */
  private scalar(value: number): GpuStorage {
    this.scalarValue[0] = value;
    const bits = this.scalarBits[0];
    const hit = this.scalars.get(bits);
    if (hit) {
      hit.refs++;
      this.counters.scalarHits++;
      return hit;
    }
    this.counters.uploads++;
    const buffer = this.storagePool.acquire(4, true);
    this.device.queue.writeBuffer(buffer, 0, this.scalarValue);
    const storage = new GpuStorage(buffer, 1, this.storagePool.idOf(buffer));
    storage.refs = 2; // the tensor's and the cache's
    this.scalars.set(bits, storage);
    if (this.scalars.size > SCALAR_CACHE_SIZE) {
      const [oldBits, old] = this.scalars.entries().next().value as [number, GpuStorage];
      this.scalars.delete(oldBits);
      this.unref(old);
    }
    return storage;
  }

  run(op: PrimitiveName, inputs: readonly KernelInput<GpuStorage>[], params: unknown, outShape: Shape, outDType: DType): GpuStorage {
    this.checkDType(op, outDType);
    this.checkUsable(op);
    const dtypes = [...inputs.map((x) => x.dtype), outDType];
    if (aliases(op, dtypes, outDType)) return this.alias(inputs[0].storage);
    if (op === 'gather') checkIndexRange(op, inputs[1].storage, inputs[0].shape[(params as GatherParams).axis], (params as GatherParams).axis, inputs[0].shape);
    if (op === 'scatterAdd') checkIndexRange(op, inputs[1].storage, (params as ScatterAddParams).size, (params as ScatterAddParams).axis, outShape);
    const n = sizeOf(outShape);
    const out = this.allocate(n);
    if (n === 0) return out;
    let temps: GpuStorage[] = [];
    try {
      const plan = planOp(op, inputs.map((x) => x.shape), params, outShape, this.planContext, dtypes);
      temps = plan.temps.map((size) => this.allocate(size));
      const resolve = (ref: number): GpuStorage => (ref >= 0 ? inputs[ref].storage : ref === OUT ? out : temps[-2 - ref]);
      for (const step of plan.steps) this.dispatch(op, step.program, step.inputs.map(resolve), resolve(step.output));
    } catch (e) {
      this.release(out);
      throw e;
    } finally {
      // Later dispatches may reuse temporaries at once: commands run in order.
      for (const t of temps) this.release(t);
    }
    return out;
  }

  /** One more reference to the same storage (zero-copy). */
  alias(storage: GpuStorage): GpuStorage {
    storage.refs++;
    this.live++;
    return storage;
  }

  /**
   * Random samples generated on the GPU, bit-identical to engine/random.ts for uniforms on
   * [0, 1) (see kernels/wgsl/random.ts for normals). Returns new storage owned by the caller.
   * @example const s = backend.randomStorage('normal', tg.key(0), [3, 4]); new Tensor(backend, s, [3, 4], 'float32', null)
   */
  randomStorage(kind: RandomKind, key: Key, shape: Shape, low = 0, high = 1): GpuStorage {
    this.checkUsable(kind);
    const n = sizeOf(shape);
    const out = this.allocate(n);
    if (n > 0) this.dispatch(kind, randomProgram(kind, key.k0, key.k1, n, low, high), [], out);
    return out;
  }

  /**
   * The engine hook proposed for engine/random.ts (normal/uniform would call it before falling
   * back to host generation + upload): samples generated on the GPU. Returns undefined where the
   * GPU could not match the CPU bit for bit (uniforms on a range other than [0, 1): the CPU
   * rounds a float64 affine map), so the engine keeps its exactness promise for uniforms;
   * normals agree with the float64 values to 6e-7 (measured over 1e6 samples).
   */
  random(kind: RandomKind, key: Key, shape: Shape, dtype: DType, low = 0, high = 1): GpuStorage | undefined {
    if (dtype !== 'float32') throw new Error(`${kind}: random samples on the webgpu backend are float32, got ${dtype}`);
    if (kind === 'uniform' && !(low === 0 && high === 1)) return undefined;
    return this.randomStorage(kind, key, shape);
  }

  /**
   * Enqueues one generated program on storages (for kernel tests and custom kernels); returns
   * new storage of program.outputSize elements, owned by the caller. `label` names the op in errors.
   * @example const out = backend.runProgram('my-op', program, [a.storage as GpuStorage]);
   */
  runProgram(label: string, program: ShaderProgram, inputs: readonly GpuStorage[]): GpuStorage {
    this.checkUsable(label);
    if (inputs.length !== program.inputs) throw new Error(`${label}: the program takes ${program.inputs} inputs, got ${inputs.length}`);
    const out = this.allocate(program.outputSize);
    if (program.outputSize > 0) this.dispatch(label, program, inputs, out);
    return out;
  }

  async read(storage: GpuStorage, shape: Shape, dtype: DType): Promise<Float32Array | Int32Array> {
    this.checkDType('read', dtype);
    this.checkUsable('read');
    const n = storage.length;
    if (n === 0) return dtype === 'int32' ? new Int32Array(0) : new Float32Array(0);
    const bytes = n * 4;
    const staging = this.stagingPool.acquire(bytes, false);
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(storage.buffer, 0, staging, 0, bytes);
    this.batchOps.push('read');
    const submitted = this.flush();
    try {
      await untilLost(this.device, staging.mapAsync(MAP_READ, 0, bytes));
    } catch (e) {
      // mapAsync may reject (with an empty message in Dawn) before device.lost settles: give the
      // loss a moment to report its reason.
      const lost = await Promise.race([
        this.device.lost.then((info) => `WebGPU device lost (${info.reason}): ${info.message}`),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 100)),
      ]);
      const cause = this.failure?.message ?? deviceError()?.message ?? lost ?? `${(e as Error).name}: ${(e as Error).message}`;
      throw new Error(`read [${shape.join(',')}]: the readback failed: ${cause}`);
    }
    const failed = (await submitted) ?? deviceError();
    if (failed) {
      staging.unmap();
      this.stagingPool.release(staging);
      throw new Error(`read [${shape.join(',')}]: ${failed.message}`);
    }
    const bits = staging.getMappedRange(0, bytes).slice(0);
    const out = dtype === 'int32' ? new Int32Array(bits) : new Float32Array(bits);
    staging.unmap();
    this.stagingPool.release(staging);
    this.counters.readbacks++;
    return out;
  }

  release(storage: GpuStorage): void {
    this.live--;
    this.unref(storage);
  }

  liveCount(): number {
    return this.live;
  }

  stats(): WebGpuStats {
    const pool = this.storagePool.stats();
    return {
      ...this.counters,
      ...this.cache.stats(),
      liveStorages: this.live,
      liveBuffers: pool.live,
      liveBytes: pool.liveBytes,
      pooledBuffers: pool.pooled,
      pooledBytes: pool.pooledBytes,
      buffersCreated: pool.created,
    };
  }

  /**
   * Submits everything encoded so far. Resolves, once the GPU has validated the submit, to the
   * backend's first failure (or null). Reads call it; call it yourself to start queued work early.
   */
  flush(): Promise<Error | null> {
    if (!this.encoder) return this.lastSubmit;
    this.endPass();
    if (this.arenaUsed > 0) this.device.queue.writeBuffer(this.arena, 0, this.arenaWords, 0, this.arenaUsed / 4);
    const ops = summarize(this.batchOps);
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.device.queue.submit([this.encoder.finish()]);
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.encoder = null;
    this.arenaUsed = 0;
    this.batchDispatches = 0;
    this.batchOps = [];
    this.storagePool.submitted();
    this.stagingPool.submitted();
    this.counters.submits++;
    this.lastSubmit = Promise.all([validation, oom]).then(
      ([v, o]) => {
        const e = o ?? v;
        if (e) this.fail(new Error(`WebGPU ${o ? 'out of memory' : 'validation error'} in a submit of ${ops}: ${e.message}`));
        return this.failure;
      },
      (e: Error) => {
        this.fail(new Error(`WebGPU: a submit of ${ops} failed: ${e.message}`));
        return this.failure;
      },
    );
    return this.lastSubmit;
  }

  /** Destroys pooled buffers that no tensor uses (the pool refills on demand). */
  trim(): void {
    this.flush();
    this.storagePool.trim();
    this.stagingPool.trim();
  }

  // ------------------------------------------------------------------ internals

  private checkDType(op: string, dtype: DType): void {
    if (!this.supportsDType(dtype)) throw new Error(`${op}: the webgpu backend supports float32 and int32, got ${dtype} (use the cpu backend for float64)`);
  }

  private checkUsable(op: string): void {
    const e = this.failure ?? deviceError();
    if (e) throw new Error(`${op}: the WebGPU backend cannot run: ${e.message}`);
  }

  private fail(e: Error): void {
    this.failure ??= e;
  }

  /** Runs `fn` in validation and out-of-memory scopes; a failure is recorded with `what`. */
  private scoped(what: string, fn: () => void): void {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    try {
      fn();
    } finally {
      const validation = this.device.popErrorScope();
      const oom = this.device.popErrorScope();
      void Promise.all([validation, oom]).then(([v, o]) => {
        const e = o ?? v;
        if (e) this.fail(new Error(`${what}: WebGPU ${o ? 'out of memory' : 'validation error'}: ${e.message}`));
      }, () => {});
    }
  }

  private allocate(n: number): GpuStorage {
    const buffer = this.storagePool.acquire(n * 4, false);
    this.live++;
    return new GpuStorage(buffer, n, this.storagePool.idOf(buffer));
  }

  private unref(storage: GpuStorage): void {
    if (--storage.refs === 0) this.storagePool.release(storage.buffer);
    else if (storage.refs < 0) throw new Error('release: storage released more often than it was referenced');
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.encoder = this.device.createCommandEncoder({ label: 'tangentgrad' });
      // Submit once the caller's synchronous code yields (awaits anything): the GPU starts on
      // the work while JS waits, without a submit per op. Long synchronous loops still submit
      // every dispatchesPerSubmit dispatches.
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => {
          this.flushQueued = false;
          // Nobody awaits this submit: a throw here would be an uncaught exception, so keep it
          // as the backend's failure for the next run() or read() to report.
          try {
            if (this.encoder) this.flush();
          } catch (e) {
            this.fail(e as Error);
          }
        });
      }
    }
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private dispatch(op: string, program: ShaderProgram, inputs: readonly GpuStorage[], out: GpuStorage): void {
    const entry = this.cache.pipeline(op, program);
    let offset = 0;
    let slot = 0;
    if (entry.hasUniforms) {
      // The whole aligned slot is bound, not just the block: wgpu (Deno) checks late binding
      // sizes against a stale pipeline when pipelines share a layout, and one size for all
      // blocks also means fewer bind-group variants.
      slot = Math.max(1, Math.ceil((program.uniforms.length * 4) / this.uniformAlign)) * this.uniformAlign;
      if (this.arenaUsed + slot > this.arena.size) this.flush();
      offset = this.arenaUsed;
      this.arenaWords.set(program.uniforms, offset / 4);
      this.arenaUsed += slot;
    }
    const group = this.cache.bindGroup(entry, inputs, out, this.arena, slot);
    if (!this.pass) {
      this.pass = this.commandEncoder().beginComputePass();
      this.passPipeline = null;
    }
    if (this.passPipeline !== entry.pipeline) {
      this.pass.setPipeline(entry.pipeline);
      this.passPipeline = entry.pipeline;
    }
    if (entry.hasUniforms) this.pass.setBindGroup(0, group, [offset]);
    else this.pass.setBindGroup(0, group);
    const [x, y, z] = program.dispatch;
    this.pass.dispatchWorkgroups(x, y, z);
    this.counters.dispatches++;
    this.batchOps.push(op);
    if (++this.batchDispatches >= this.dispatchesPerSubmit) this.flush();
  }
}

function valueRange(values: TypedArray): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * Refuses indices outside [0, length) when the host knows them (they were uploaded from it).
 * Indices computed on the device are not checked (that would need a readback): there gather
 * reads NaN and scatterAdd drops the term (kernels/wgsl/indexing.ts).
 */
function checkIndexRange(op: string, indices: GpuStorage, length: number, axis: number, shape: Shape): void {
  const range = indices.hostRange;
  if (range === null || indices.length === 0) return;
  const [lo, hi] = range;
  if (lo < 0 || hi >= length) {
    throw new Error(`${op}: index ${lo < 0 ? lo : hi} is out of range [0, ${length}) for axis ${axis} of [${shape.join(',')}]`);
  }
}

/** "add x3, matmul, read": op names with repeat counts, for error messages. */
function summarize(ops: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const op of ops) counts.set(op, (counts.get(op) ?? 0) + 1);
  return [...counts].map(([op, c]) => (c > 1 ? `${op} x${c}` : op)).join(', ') || 'nothing';
}

/**
 * The factory engine/index.ts registers (loaded by dynamic import, so CPU-only users never load
 * WebGPU code).
 */
export function createWebGpuBackend(options?: WebGpuBackendOptions): Promise<WebGpuBackend> {
  return WebGpuBackend.create(options);
}
