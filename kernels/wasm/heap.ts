/**
 * The kernels' memory above the per-thread scratch, as a heap of blocks: the CPU backend's large
 * float arrays live here ("resident" arrays, typed-array views of the shared memory), so the Wasm
 * kernels read their operands and write their outputs in place instead of copying each operand in
 * and each result out; a kernel's temporary areas (operands that are not resident, patch
 * matrices, tap tables) are blocks too, freed when the call ends.
 *
 * Blocks are 64-byte aligned, and each has at least 16 bytes after the bytes asked for, so a SIMD
 * loop may read or write a whole last vector without touching the next block. Sizes are rounded
 * to classes (64-byte steps up to 4 KiB, then eighths of a power of two: at most 12.5% waste), and
 * a freed block goes on its class's free list for the next request of that class: training loops
 * and kernel sweeps ask for the same sizes step after step. New blocks come from the top, growing
 * the memory. When the memory cannot grow (its 2 GiB maximum), neighbouring free blocks are merged
 * and the smallest that holds the request is split; only when none does, `alloc` returns -1 and
 * the caller falls back to an ordinary array: slower (copied), never wrong. Memory is never given
 * back to the system (a WebAssembly memory cannot shrink); freed blocks are reused.
 *
 * Only a shared memory can hold resident arrays: growing a non-shared memory detaches its buffer
 * and every view of it (views of a SharedArrayBuffer stay valid as it grows). A non-shared heap
 * serves temporaries only, and their views are made after the call's last allocation.
 *
 * A resident array is counted once for each tensor that holds it (the CPU backend shares storage
 * between tensors for identity-like primitives) and freed when the last releases it; one that is
 * dropped without a release (a tensor never disposed) is freed when it is garbage collected.
 */
import type { DType, TypedArray } from '../../engine/dtype.ts';
import type { KernelMemory } from './runtime.ts';

const PAGE = 65536;
const ALIGN = 64;
/** Bytes past the end of every block's request: one whole 128-bit vector. */
const TAIL = 16;

/** The size class of a request of `bytes` (with its tail): the block's size. */
export function blockSize(bytes: number): number {
  const need = Math.max(ALIGN, Math.ceil((bytes + TAIL) / ALIGN) * ALIGN);
  if (need <= 4096) return need;
  const step = 2 ** (Math.floor(Math.log2(need)) - 3);
  return Math.ceil(need / step) * step;
}

interface Block {
  size: number;
  /** Holders of a resident array (0 for a temporary). */
  refs: number;
}

/** Which heap a resident array belongs to, by its buffer (one heap per memory; every buffer the memory has had). */
const heapOfBuffer = new WeakMap<ArrayBufferLike, WasmHeap>();

export class WasmHeap {
  private top: number;
  /** The highest top so far: memory above it was never handed out (it is zero). */
  private highWater: number;
  private readonly freeLists = new Map<number, number[]>();
  private readonly blocks = new Map<number, Block>();
  private readonly finalizer = new FinalizationRegistry<number>((at) => this.free(at));
  private inUse = 0;

  /**
   * @param base first byte of the heap (a multiple of 64)
   * @param resident whether arrays may live here beyond one call (a shared memory)
   */
  constructor(private readonly memory: KernelMemory, base: number, readonly resident: boolean, private readonly maxBytes: number) {
    this.top = base;
    this.highWater = base;
    this.noteBuffer();
  }

  /** A block of at least `bytes` (plus the tail), or -1 when the memory cannot grow that far. */
  alloc(bytes: number): number {
    return this.take(bytes).at;
  }

  /** A block and whether it is fresh memory (never handed out, so zero) rather than a reused one. */
  private take(bytes: number): { at: number; fresh: boolean } {
    const size = blockSize(bytes);
    const reused = this.freeLists.get(size)?.pop();
    if (reused !== undefined) return this.use(reused, size, false);
    if (this.fitsAtTop(size)) return this.fromTop(size);
    // The memory is at its maximum: merge neighbouring free blocks (those at the top lower it),
    // then take the smallest free block that holds the request, splitting off the rest.
    this.coalesce();
    if (this.fitsAtTop(size)) return this.fromTop(size);
    const at = this.bestFit(size);
    return at < 0 ? { at: -1, fresh: false } : this.use(at, size, false);
  }

  private use(at: number, size: number, fresh: boolean): { at: number; fresh: boolean } {
    this.blocks.set(at, { size, refs: 0 });
    this.inUse += size;
    return { at, fresh };
  }

  private fitsAtTop(size: number): boolean {
    return this.top + size <= this.memory.buffer.byteLength || this.grow(this.top + size);
  }

  private fromTop(size: number): { at: number; fresh: boolean } {
    const at = this.top;
    this.top += size;
    const fresh = at >= this.highWater;
    this.highWater = Math.max(this.highWater, this.top);
    return this.use(at, size, fresh);
  }

  /** Merges adjacent free blocks into one each; a run that ends at the top gives its bytes back to it. */
  private coalesce(): void {
    const free: [number, number][] = [];
    for (const [size, list] of this.freeLists) for (const at of list) free.push([at, size]);
    free.sort((a, b) => a[0] - b[0]);
    this.freeLists.clear();
    const runs: [number, number][] = [];
    for (const [at, size] of free) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[0] + last[1] === at) last[1] += size;
      else runs.push([at, size]);
    }
    const last = runs[runs.length - 1];
    if (last !== undefined && last[0] + last[1] === this.top) {
      this.top = last[0];
      runs.pop();
    }
    for (const [at, size] of runs) this.pushFree(at, size);
  }

  /** The smallest free block of at least `size` bytes, split to `size` (the rest stays free); -1 if none. */
  private bestFit(size: number): number {
    let best = -1;
    for (const [have, list] of this.freeLists) if (have >= size && list.length > 0 && (best < 0 || have < best)) best = have;
    if (best < 0) return -1;
    const at = this.freeLists.get(best)!.pop()!;
    if (best > size) this.pushFree(at + size, best - size);
    return at;
  }

  private pushFree(at: number, size: number): void {
    let list = this.freeLists.get(size);
    if (list === undefined) this.freeLists.set(size, (list = []));
    list.push(at);
  }

  /** Returns a block (a temporary, or a resident array's when its last holder lets go). */
  free(at: number): void {
    const block = this.blocks.get(at);
    if (block === undefined) throw new Error(`cpu memory: no block at ${at} to free (freed twice?)`);
    this.blocks.delete(at);
    this.inUse -= block.size;
    this.pushFree(at, block.size);
  }

  /**
   * A resident array of `size` elements (float32 or float64), held once, zeroed unless `zero` is
   * false (for a kernel that writes every element); null when this heap holds no resident arrays
   * or the memory is full.
   */
  allocArray(dtype: DType, size: number, zero = true): TypedArray | null {
    if (!this.resident || (dtype !== 'float32' && dtype !== 'float64')) return null;
    const E = dtype === 'float64' ? 8 : 4;
    const { at, fresh } = this.take(size * E);
    if (at < 0) return null;
    const array = dtype === 'float64' ? new Float64Array(this.memory.buffer, at, size) : new Float32Array(this.memory.buffer, at, size);
    // Memory from the top was never written (zero); a reused block holds an earlier array's values.
    if (zero && !fresh) array.fill(0);
    this.blocks.get(at)!.refs = 1;
    this.finalizer.register(array, at, array);
    return array;
  }

  /** Counts one more holder of a resident array of this heap. */
  retain(array: TypedArray): void {
    const block = this.blocks.get(array.byteOffset);
    if (block !== undefined && block.refs > 0) block.refs++;
  }

  /** Drops one holder; the last frees the block. */
  release(array: TypedArray): void {
    const block = this.blocks.get(array.byteOffset);
    if (block === undefined || block.refs === 0) return;
    if (--block.refs === 0) {
      this.finalizer.unregister(array);
      this.free(array.byteOffset);
    }
  }

  /** Bytes in blocks now, and bytes the heap has taken from the memory. */
  stats(): { inUseBytes: number; reservedBytes: number; blocks: number } {
    return { inUseBytes: this.inUse, reservedBytes: this.top, blocks: this.blocks.size };
  }

  /** Whether `array` is a view of this heap's memory (so a kernel can read it in place). */
  owns(array: TypedArray): boolean {
    return heapOfBuffer.get(array.buffer) === this;
  }

  private grow(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    const pages = Math.ceil((bytes - have) / PAGE);
    if (have + pages * PAGE > this.maxBytes) return false;
    try {
      this.memory.grow(pages);
    } catch {
      return false;
    }
    this.noteBuffer();
    return true;
  }

  private noteBuffer(): void {
    heapOfBuffer.set(this.memory.buffer, this);
  }
}

/** The heap a resident array lives in, or undefined for an ordinary array. */
export function heapOf(array: TypedArray): WasmHeap | undefined {
  return heapOfBuffer.get(array.buffer);
}
