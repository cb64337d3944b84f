/**
 * GPU buffers recycled by size class and usage, and the reference-counted storage tensors hold.
 *
 * Why two free lists: a buffer released while the current (unsubmitted) command encoder still
 * reads it may be handed to another dispatch of the same encoder (commands run in order), but
 * NOT to queue.writeBuffer, which lands on the queue before that encoder is submitted and would
 * overwrite data the pending dispatches have yet to read. Such buffers wait in `pending` until
 * the next submit moves them to `ready`; uploads take only from `ready`.
 */

/** Immutable, shareable tensor storage: the buffer returns to the pool when the last holder releases it. */
export class GpuStorage {
  refs = 1;
  /**
   * [min, max] of an int32 tensor uploaded from the host (null otherwise): lets gather and
   * scatterAdd refuse out-of-range indices before dispatch without reading the GPU back.
   */
  hostRange: readonly [number, number] | null = null;
  /**
   * The submit (the backend's batch id) of the last commands writing this storage, and the oldest
   * submit not yet known to have succeeded that its values depend on: a failed submit in
   * [from, submit] means the values are garbage (kernels/webgpu/backend.ts).
   */
  submit = 0;
  from = 0;
  constructor(
    readonly buffer: GPUBuffer,
    /** Number of (4-byte f32 or i32) elements the tensor holds (the buffer may be larger: it has a size class). */
    readonly length: number,
    /** Buffer id, for bind-group cache keys. */
    readonly id: number,
  ) {}
}

/** Rounds a byte size up to its pool class: powers of two up to 1 MiB, then eighths of the next power. */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  const pow = 2 ** Math.ceil(Math.log2(b));
  if (pow <= 1 << 20) return pow;
  const step = pow / 8;
  return Math.ceil(b / step) * step;
}

export interface PoolStats {
  /** Buffers handed out and not yet returned. */
  live: number;
  liveBytes: number;
  /** Buffers waiting in the pool (ready or pending). */
  pooled: number;
  pooledBytes: number;
  /** Buffers ever created. */
  created: number;
}

export class BufferPool {
  private readonly ready = new Map<number, GPUBuffer[]>();
  private readonly pending = new Map<number, GPUBuffer[]>();
  private readonly ids = new WeakMap<GPUBuffer, number>();
  /** Buffers whose creation failed (out of memory): destroyed on release, never pooled. */
  private readonly invalid = new WeakSet<GPUBuffer>();
  private nextId = 1;
  private live = 0;
  private liveBytes = 0;
  private pooled = 0;
  private pooledBytes = 0;
  private created = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: GPUBufferUsageFlags,
    private readonly label: string,
    /** Pooled bytes beyond this are freed (destroyed) instead of kept. */
    private readonly maxPooledBytes: number,
    /** Called with a buffer's id just before it is destroyed (the bind-group cache drops its groups). */
    private readonly onDestroy: (id: number) => void = () => {},
    /**
     * Runs a buffer creation, to check asynchronously that the allocation succeeded; calls
     * `failed` if it did not.
     */
    private readonly onCreate: (scope: () => void, failed: () => void) => void = (scope) => scope(),
    /** The largest buffer the device allows (size classes are capped to it). */
    private readonly maxSize = Number.POSITIVE_INFINITY,
  ) {}

  private lastId(list: GPUBuffer[]): number {
    return this.ids.get(list[list.length - 1])!;
  }

  idOf(buffer: GPUBuffer): number {
    return this.ids.get(buffer)!;
  }

  /**
   * A buffer of at least `bytes`. `forWrite`: it will be written by queue.writeBuffer, so it
   * must not be one that unsubmitted commands still read.
   */
  acquire(bytes: number, forWrite: boolean): GPUBuffer {
    // Capped: a size class may round past the device's limit when the request itself fits.
    const size = Math.min(sizeClass(bytes), this.maxSize);
    const ready = this.ready.get(size);
    const pending = forWrite ? undefined : this.pending.get(size);
    // The lowest id first, from either list: allocation then depends only on WHICH buffers are
    // free, not on the order they were freed in, so a training step gets the same buffers as
    // the step before last and finds its bind groups cached.
    const useReady = !!ready?.length && !(pending?.length && this.lastId(pending) < this.lastId(ready));
    let buffer = useReady ? ready!.pop() : pending?.pop();
    if (buffer) {
      this.pooled--;
      this.pooledBytes -= size;
    } else {
      buffer = this.create(size);
    }
    this.live++;
    this.liveBytes += size;
    return buffer;
  }

  private create(size: number): GPUBuffer {
    let buffer!: GPUBuffer;
    this.onCreate(
      () => {
        buffer = this.device.createBuffer({ size, usage: this.usage, label: `${this.label} ${size}` });
      },
      () => this.invalid.add(buffer),
    );
    this.ids.set(buffer, this.nextId++);
    this.created++;
    return buffer;
  }

  /** Returns a buffer; it is reusable by dispatches at once and by writes after the next submit. */
  release(buffer: GPUBuffer): void {
    this.live--;
    this.liveBytes -= buffer.size;
    if (this.invalid.has(buffer)) {
      // Every command using it would fail: it must not be handed out again.
      this.onDestroy(this.idOf(buffer));
      buffer.destroy();
      return;
    }
    this.insert(this.pending, buffer);
    this.pooled++;
    this.pooledBytes += buffer.size;
  }

  /** Everything released before a submit is safe for writes after it; trims the pool to its budget. */
  submitted(): void {
    for (const list of this.pending.values()) for (const b of list) this.insert(this.ready, b);
    this.pending.clear();
    if (this.pooledBytes > this.maxPooledBytes) this.trim(this.maxPooledBytes / 2);
  }

  /** Destroys ready buffers, largest classes first, until at most `keepBytes` stay pooled. */
  trim(keepBytes = 0): void {
    const sizes = [...this.ready.keys()].sort((a, b) => b - a);
    for (const size of sizes) {
      const list = this.ready.get(size)!;
      while (list.length > 0 && this.pooledBytes > keepBytes) {
        const b = list.pop()!;
        this.onDestroy(this.idOf(b));
        b.destroy();
        this.pooled--;
        this.pooledBytes -= size;
      }
      if (list.length === 0) this.ready.delete(size);
    }
  }

  /** Keeps each list sorted by decreasing id, so pop() returns the lowest. */
  private insert(lists: Map<number, GPUBuffer[]>, buffer: GPUBuffer): void {
    let list = lists.get(buffer.size);
    if (!list) lists.set(buffer.size, (list = []));
    const id = this.ids.get(buffer)!;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ids.get(list[mid])! > id) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buffer);
  }

  stats(): PoolStats {
    return { live: this.live, liveBytes: this.liveBytes, pooled: this.pooled, pooledBytes: this.pooledBytes, created: this.created };
  }
}

