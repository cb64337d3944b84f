/**
 * The operands of one Wasm kernel call, placed in the kernels' memory: an array that is resident
 * (kernels/wasm/heap.ts) is read or written where it is; any other is copied into a temporary
 * block before the call (inputs) or out of one after it (outputs). Temporaries are freed when the
 * call ends, whether it succeeds or throws.
 *
 * Every block is taken before anything is copied or any view is made: growing a non-shared memory
 * detaches its buffer, so views made before the last allocation could be dead.
 *
 * @example
 * const ops = new Operands(rt);
 * const aAt = ops.input(a, 0, n), outAt = ops.output(out, 0, n);
 * if (!ops.run(() => rt.runJobs('binary_f32', desc, jobs))) return null; // no room: JavaScript path
 */
import type { TypedArray } from '../../engine/dtype.ts';
import type { WasmRuntime } from './runtime.ts';

interface Placed {
  array: TypedArray;
  offset: number;
  length: number;
  /** A temporary block to copy through, or -1 when the array is used in place. */
  temp: number;
}

export class Operands {
  private readonly inputs: Placed[] = [];
  private readonly outputs: Placed[] = [];
  private readonly temps: number[] = [];
  private full = false;

  constructor(private readonly rt: WasmRuntime) {}

  /** The byte address the kernel reads `length` elements of `array` from `offset` at. */
  input(array: TypedArray, offset: number, length: number): number {
    return this.place(this.inputs, array, offset, length);
  }

  /** The byte address the kernel writes the `length` elements that belong at `array[offset ..]`. */
  output(array: TypedArray, offset: number, length: number): number {
    return this.place(this.outputs, array, offset, length);
  }

  /** A temporary area of `bytes` (a patch matrix, a table), freed after the call. */
  scratch(bytes: number): number {
    return this.block(bytes);
  }

  /**
   * Copies the inputs in, runs `kernel`, copies the outputs out and frees the temporaries.
   * Returns false, having run nothing, when some block did not fit the memory.
   */
  run(kernel: () => void): boolean {
    try {
      if (this.full) return false;
      const buffer = this.rt.memory.buffer;
      for (const p of this.inputs) if (p.temp >= 0) viewOf(p.array, buffer, p.temp, p.length).set(p.array.subarray(p.offset, p.offset + p.length));
      kernel();
      const after = this.rt.memory.buffer;
      for (const p of this.outputs) if (p.temp >= 0) p.array.set(viewOf(p.array, after, p.temp, p.length), p.offset);
      return true;
    } finally {
      for (const at of this.temps) this.rt.heap.free(at);
      this.temps.length = 0;
    }
  }

  private place(list: Placed[], array: TypedArray, offset: number, length: number): number {
    if (this.rt.heap.owns(array)) {
      list.push({ array, offset, length, temp: -1 });
      return array.byteOffset + offset * array.BYTES_PER_ELEMENT;
    }
    const temp = this.block(length * array.BYTES_PER_ELEMENT);
    list.push({ array, offset, length, temp });
    return temp;
  }

  private block(bytes: number): number {
    if (this.full) return 0;
    const at = this.rt.heap.alloc(bytes);
    if (at < 0) {
      this.full = true;
      return 0;
    }
    this.temps.push(at);
    return at;
  }
}

/** A view of the same element type as `like` over `length` elements of `buffer` at byte `at`. */
function viewOf(like: TypedArray, buffer: ArrayBufferLike, at: number, length: number): TypedArray {
  const View = like.constructor as new (buffer: ArrayBufferLike, at: number, length: number) => TypedArray;
  return new View(buffer, at, length);
}
