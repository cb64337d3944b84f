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
 * - Errors belong to the op that caused them, and the backend stays usable after one:
 *   - what can be checked before encoding is (sizes against maxStorageBufferBindingSize and
 *     maxBufferSize, workgroup counts against maxComputeWorkgroupsPerDimension): run() throws
 *     naming the op, its shapes, the size and the limit, and nothing is enqueued;
 *   - creations (pipelines, buffers, bind groups: cache misses only, so a steady training loop
 *     pushes no extra scopes) run inside error scopes that record the op and its shapes;
 *   - each submit runs inside one pair of scopes. A failed submit ran none of its commands, so
 *     every storage it wrote holds garbage: storages carry the range of submits their values
 *     depend on (GpuStorage.from .. submit), and a read or an op on one that depends on a failed
 *     submit fails with that submit's error (naming the op whose creation failed, when known),
 *     while storages that do not depend on it read fine;
 *   - device loss (device.ts) is the one failure for good: every call then throws, and
 *     setBackend('webgpu') builds a new backend on a new device.
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
import { acquireDevice, untilLost, type AcquireOptions, type WebGpuHost } from './device.ts';
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

  /** Set when the device is lost: the one failure that stops this backend for good. */
  private lost: Error | null = null;
  /** The batch being encoded: the id of the next submit (ids count from 1). */
  private batch = 1;
  /** Every submit with id <= verifiedThrough has been validated (succeeded, or is in failedSubmits). */
  private verifiedThrough = 0;
  /** Submits not yet validated, each with the promise that settles once it is. */
  private readonly pendingSubmits = new Map<number, Promise<void>>();
  private readonly settledEarly = new Set<number>();
  /** Submits the GPU rejected, with an error naming the cause. */
  private readonly failedSubmits = new Map<number, Error>();
  /** Per batch, the first failed creation (pipeline, buffer, bind group) with its op: the likely cause of a failed submit. */
  private readonly causes = new Map<number, string>();
  /** What is being run, for error messages: set by each entry point, formatted only on error. */
  private current: { op: string; inputs?: readonly { readonly shape: Shape }[]; outShape?: Shape } = { op: '' };
  /** The largest storage buffer one binding may hold (bytes), and the limit that sets it. */
  private readonly maxBinding: number;
  private readonly maxBindingLimit: string;
  private readonly maxGroups: number;
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
    const { maxStorageBufferBindingSize: binding, maxBufferSize: buffer, maxComputeWorkgroupsPerDimension: groups } = device.limits;
    // Whole buffers are bound, so a storage buffer must fit one binding (and be a multiple of 4 bytes).
    this.maxBinding = Math.floor(Math.min(binding, buffer) / 4) * 4;
    this.maxBindingLimit = binding <= buffer ? `maxStorageBufferBindingSize ${binding}` : `maxBufferSize ${buffer}`;
    this.maxGroups = groups;
    this.cache = new PipelineCache(device, (what, fn, failed) => this.scoped(what, fn, failed));
    this.storagePool = new BufferPool(
      device, STORAGE_USAGE, 'tangentgrad storage', maxPooled,
      (id) => this.cache.dropBuffer(id),
      (create, failed) => this.scoped('allocating a storage buffer', create, failed),
      this.maxBinding,
    );
    this.stagingPool = new BufferPool(
      device, STAGING_USAGE, 'tangentgrad staging', 64 * 2 ** 20, undefined,
      (create, failed) => this.scoped('allocating a readback buffer', create, failed),
      Math.floor(buffer / 4) * 4,
    );
    this.uniformAlign = device.limits.minUniformBufferOffsetAlignment;
    // Room for every dispatch of a submit with a 256-byte block each, twice over.
    const arenaBytes = Math.max(65536, this.dispatchesPerSubmit * 512);
    this.arena = device.createBuffer({ size: arenaBytes, usage: UNIFORM_USAGE, label: 'tangentgrad uniforms' });
    this.arenaWords = new Uint32Array(arenaBytes / 4);
    // Any loss, including releaseDevice(), which device.ts does not count as an error: this
    // backend cannot run on that device again.
    void device.lost.then((info) => {
      this.lost ??= new Error(`WebGPU device lost (${info.reason}): ${info.message}`);
    });
  }

  /**
   * The error that stopped this backend for good (its device was lost, including by
   * releaseDevice()), or null while it works; setBackend replaces a backend whose `failed` is set.
   * A failed op or submit does not set it: it spoils the tensors that depend on it, nothing else.
   */
  get failed(): Error | null {
    return this.lost;
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
    this.current = { op: 'upload', outShape: shape };
    this.checkFits(n, 'the tensor');
    this.live++;
    const int = dtype === 'int32';
    if (n === 1 && !int) return this.scalar(values[0]);
    this.counters.uploads++;
    const buffer = this.storagePool.acquire(n * 4, true);
    if (n > 0) {
      const data = int ? (values instanceof Int32Array ? values : Int32Array.from(values)) : values instanceof Float32Array ? values : Float32Array.from(values);
      this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, n * 4);
    }
    const storage = this.written(new GpuStorage(buffer, n, this.storagePool.idOf(buffer)));
    if (int) storage.hostRange = valueRange(values);
    return storage;
  }

  /** Marks a storage written by the current batch with no inputs (an upload, random numbers). */
  private written(storage: GpuStorage): GpuStorage {
    storage.submit = this.batch;
    storage.from = this.batch;
    return storage;
  }

  /** A shared, cached size-1 storage per float32 value: promoted constants cost no upload. */
  private scalar(value: number): GpuStorage {
    this.scalarValue[0] = value;
    const bits = this.scalarBits[0];
    const hit = this.scalars.get(bits);
    if (hit && this.taint(hit) === null) {
      hit.refs++;
      this.counters.scalarHits++;
      return hit;
    }
    if (hit) {
      // Its upload went down with a failed submit: upload it again.
      this.scalars.delete(bits);
      this.unref(hit);
    }
    this.counters.uploads++;
    const buffer = this.storagePool.acquire(4, true);
    this.device.queue.writeBuffer(buffer, 0, this.scalarValue);
    const storage = this.written(new GpuStorage(buffer, 1, this.storagePool.idOf(buffer)));
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
    this.current = { op, inputs, outShape };
    const from = this.checkInputs(inputs);
    const dtypes = [...inputs.map((x) => x.dtype), outDType];
    if (aliases(op, dtypes, outDType)) return this.alias(inputs[0].storage);
    if (op === 'gather') checkIndexRange(op, inputs[1].storage, inputs[0].shape[(params as GatherParams).axis], (params as GatherParams).axis, inputs[0].shape);
    if (op === 'scatterAdd') checkIndexRange(op, inputs[1].storage, (params as ScatterAddParams).size, (params as ScatterAddParams).axis, outShape);
    const n = sizeOf(outShape);
    this.checkFits(n, 'the output');
    // Planned before anything is allocated or encoded, so a refusal leaves nothing behind.
    const plan = n === 0 ? null : planOp(op, inputs.map((x) => x.shape), params, outShape, this.planContext, dtypes);
    if (plan) {
      for (const size of plan.temps) this.checkFits(size, 'a temporary');
      for (const step of plan.steps) this.checkGrid(step.program);
    }
    const out = this.allocate(n);
    out.from = from;
    out.submit = this.batch;
    if (plan === null) return out;
    let temps: GpuStorage[] = [];
    try {
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
    this.current = { op: kind, outShape: shape };
    const n = sizeOf(shape);
    this.checkFits(n, 'the output');
    const program = n > 0 ? randomProgram(kind, key.k0, key.k1, n, low, high) : null;
    if (program) this.checkGrid(program);
    const out = this.written(this.allocate(n));
    if (program) this.dispatch(kind, program, [], out);
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
    this.current = { op: label };
    const from = this.checkInputs(inputs.map((storage) => ({ storage, shape: [storage.length] })));
    this.checkFits(program.outputSize, 'the output');
    this.checkGrid(program);
    const out = this.allocate(program.outputSize);
    out.from = from;
    out.submit = this.batch;
    if (program.outputSize > 0) this.dispatch(label, program, inputs, out);
    return out;
  }

  async read(storage: GpuStorage, shape: Shape, dtype: DType): Promise<Float32Array | Int32Array> {
    this.checkDType('read', dtype);
    this.checkUsable('read');
    const known = this.taint(storage);
    if (known) throw new Error(`read [${shape.join(',')}]: ${known.message}`);
    const n = storage.length;
    if (n === 0) return dtype === 'int32' ? new Int32Array(0) : new Float32Array(0);
    const bytes = n * 4;
    this.current = { op: 'read', outShape: shape };
    const staging = this.stagingPool.acquire(bytes, false);
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(storage.buffer, 0, staging, 0, bytes);
    this.batchOps.push('read');
    const readBatch = this.batch;
    void this.flush();
    try {
      await untilLost(this.device, staging.mapAsync(MAP_READ, 0, bytes));
    } catch (e) {
      // mapAsync may reject (with an empty message in Dawn) before device.lost settles: give the
      // loss a moment to report its reason.
      const lost = await Promise.race([
        this.device.lost.then((info) => `WebGPU device lost (${info.reason}): ${info.message}`),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 100)),
      ]);
      await this.settledThrough(readBatch);
      const cause = this.lost?.message ?? lost ?? this.failedSubmits.get(readBatch)?.message ?? this.taint(storage)?.message ?? `${(e as Error).name}: ${(e as Error).message}`;
      throw new Error(`read [${shape.join(',')}]: the readback failed: ${cause}`);
    }
    // Every submit the values depend on is validated before they are trusted.
    await this.settledThrough(readBatch);
    const failed = this.lost ?? this.failedSubmits.get(readBatch) ?? this.taint(storage);
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
   * Submits everything encoded so far. Resolves, once the GPU has validated the submit, to its
   * error (or null). Reads call it; call it yourself to start queued work early.
   */
  flush(): Promise<Error | null> {
    if (!this.encoder) return this.lastSubmit;
    const id = this.batch++;
    const ops = summarize(this.batchOps);
    const encoder = this.encoder;
    this.encoder = null;
    this.batchDispatches = 0;
    this.batchOps = [];
    let scopes: Promise<[GPUError | null, GPUError | null]>;
    try {
      if (this.pass) {
        this.pass.end();
        this.pass = null;
      }
      // The arena upload is inside the scopes too: nothing the backend does raises an uncaptured error.
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      if (this.arenaUsed > 0) this.device.queue.writeBuffer(this.arena, 0, this.arenaWords, 0, this.arenaUsed / 4);
      this.device.queue.submit([encoder.finish()]);
      const validation = this.device.popErrorScope();
      const oom = this.device.popErrorScope();
      scopes = Promise.all([validation, oom]).then(([v, o]) => [v, o]);
    } catch (e) {
      scopes = Promise.reject(e);
    } finally {
      this.arenaUsed = 0;
      this.storagePool.submitted();
      this.stagingPool.submitted();
      this.counters.submits++;
    }
    const settled = scopes.then(
      ([v, o]) => {
        const e = o ?? v;
        if (e) this.failSubmit(id, ops, `WebGPU ${o ? 'out of memory' : 'validation error'}: ${e.message}`);
      },
      (e: Error) => this.failSubmit(id, ops, `${e.name}: ${e.message}`),
    ).finally(() => this.settle(id));
    this.pendingSubmits.set(id, settled);
    this.lastSubmit = settled.then(() => this.failedSubmits.get(id) ?? null);
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
    if (this.lost) throw new Error(`${op}: the WebGPU backend cannot run: ${this.lost.message}`);
  }

  /** The op being run and its shapes, e.g. "add [2,3], [3] -> [2,3]" (formatted on error only). */
  private describeCurrent(): string {
    const { op, inputs, outShape } = this.current;
    const ins = inputs ? ` ${inputs.map((x) => `[${x.shape.join(',')}]`).join(', ')}` : '';
    const out = outShape ? `${inputs ? ' ->' : ''} [${outShape.join(',')}]` : '';
    return `${op}${ins}${out}`;
  }

  /** Refuses, before anything is encoded, a buffer of `n` floats larger than one binding may be. */
  private checkFits(n: number, what: string): void {
    if (n * 4 <= this.maxBinding) return;
    throw new Error(
      `${this.describeCurrent()}: ${what} needs ${n * 4} bytes, more than this device allows in one storage buffer ` +
        `(${this.maxBindingLimit} bytes); split the work (e.g. over the batch) or use the cpu backend`,
    );
  }

  /** Refuses a dispatch with more workgroups in one dimension than the device allows. */
  private checkGrid(program: ShaderProgram): void {
    const [x, y, z] = program.dispatch;
    if (x <= this.maxGroups && y <= this.maxGroups && z <= this.maxGroups) return;
    throw new Error(
      `${this.describeCurrent()}: program '${program.key}' dispatches [${x},${y},${z}] workgroups, more than this device ` +
        `allows per dimension (maxComputeWorkgroupsPerDimension ${this.maxGroups})`,
    );
  }

  /**
   * Throws if an input's values depend on a failed submit; returns the oldest submit not yet
   * validated that the inputs depend on (this batch when none), the new output's `from`.
   */
  private checkInputs(inputs: readonly { readonly storage: GpuStorage; readonly shape: Shape }[]): number {
    let from = this.batch;
    for (let i = 0; i < inputs.length; i++) {
      const s = inputs[i].storage;
      if (s.submit <= this.verifiedThrough && this.failedSubmits.size === 0) continue;
      const e = this.taint(s);
      if (e) throw new Error(`${this.describeCurrent()}: input ${i} [${inputs[i].shape.join(',')}] holds no valid values: ${e.message}`);
      // Submits up to verifiedThrough succeeded (else taint() would have said so).
      if (s.submit > this.verifiedThrough) from = Math.min(from, Math.max(s.from, this.verifiedThrough + 1));
    }
    return from;
  }

  /** The error of a failed submit the storage's values depend on, or null. */
  private taint(s: GpuStorage): Error | null {
    if (this.failedSubmits.size === 0) return null;
    for (const [id, e] of this.failedSubmits) if (id >= s.from && id <= s.submit) return e;
    return null;
  }

  /** Waits until every submit up to `id` has been validated. */
  private async settledThrough(id: number): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const [k, p] of this.pendingSubmits) if (k <= id) waits.push(p);
    await Promise.all(waits);
  }

  private settle(id: number): void {
    this.pendingSubmits.delete(id);
    this.causes.delete(id);
    this.settledEarly.add(id);
    while (this.settledEarly.delete(this.verifiedThrough + 1)) this.verifiedThrough++;
  }

  /** Records a rejected submit: none of its commands ran, so what it wrote is garbage. */
  private failSubmit(id: number, ops: string, raw: string): void {
    const cause = this.causes.get(id);
    const text = cause ? `${cause} (so the submit of ${ops} was rejected: ${firstLine(raw)})` : `${raw} (in a submit of ${ops})`;
    this.failedSubmits.set(id, new Error(text));
  }

  /**
   * Runs `fn` in validation and out-of-memory scopes; a failure is recorded, with the op and its
   * shapes, as the likely cause should the current batch's submit fail, and `failed` is called.
   */
  private scoped(what: string, fn: () => void, failed?: () => void): void {
    const id = this.batch;
    const label = `${this.describeCurrent()}: ${what}`;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    try {
      fn();
    } finally {
      const validation = this.device.popErrorScope();
      const oom = this.device.popErrorScope();
      void Promise.all([validation, oom]).then(([v, o]) => {
        const e = o ?? v;
        if (!e) return;
        failed?.();
        const message = `${label}: WebGPU ${o ? 'out of memory' : 'validation error'}: ${e.message}`;
        // The batch may have been validated already (a failed creation never used): then it is
        // nobody's cause. Otherwise the first failure of the batch is the likeliest cause.
        if (id > this.verifiedThrough && !this.causes.has(id)) this.causes.set(id, message);
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
          // flush() records its own failures (for the reads and ops that depend on them).
          if (this.encoder) void this.flush();
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
    let offset = 0;
    let slot = 0;
    // A full arena is submitted before the pipeline is looked up, so a pipeline created here is
    // created in the batch that uses it (a failed creation is then the cause of that submit's failure).
    if (program.uniforms.length > 0) {
      // The whole aligned slot is bound, not just the block: wgpu (Deno) checks late binding
      // sizes against a stale pipeline when pipelines share a layout, and one size for all
      // blocks also means fewer bind-group variants.
      slot = Math.max(1, Math.ceil((program.uniforms.length * 4) / this.uniformAlign)) * this.uniformAlign;
      if (this.arenaUsed + slot > this.arena.size) this.flush();
    }
    const entry = this.cache.pipeline(program);
    if (entry.hasUniforms) {
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
    // Written by this batch (a multi-step op may span two: `from` was set before the first).
    out.submit = this.batch;
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

function firstLine(text: string): string {
  const line = text.split('\n')[0];
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
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
