import type { Backend } from './backend.ts';
import type { DType, TypedArray } from './dtype.ts';
import { track } from './memory.ts';
import type { Primitive } from './primitive.ts';
import { formatShape, sizeOf, type Shape } from './shape.ts';
import { isRecording, recordingStack } from './trace.ts';

/** How a tensor was computed: what reverse mode walks backwards and forward mode walks forwards. */
export interface GraphNode {
  readonly primitive: Primitive;
  readonly inputs: readonly Tensor[];
  readonly params: unknown;
}

let nextTensorId = 0;

/** The id the next tensor will get; ids grow with creation order, so sorting by id is a topological order. */
export function peekNextTensorId(): number {
  return nextTensorId;
}

let liveTensors = 0;

/** Number of tensors created and not yet disposed (all backends). */
export function liveTensorCount(): number {
  return liveTensors;
}

/**
 * An immutable n-dimensional array whose values live in a backend. Ops return at once (the
 * WebGPU backend only enqueues work); read values with `await t.data()`, or `t.dataSync()` on
 * the CPU backend.
 */
export class Tensor {
  readonly id: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  readonly backend: Backend;
  /** Set while some trace recorded this tensor's creation; dropped when no trace needs it. */
  node: GraphNode | null;
  kept = false;
  private storageRef: unknown;
  private ownsStorage: boolean;
  private pins = 0;
  private disposePending = false;
  private disposedFlag = false;

  constructor(backend: Backend, storage: unknown, shape: Shape, dtype: DType, node: GraphNode | null, ownsStorage = true) {
    this.id = nextTensorId++;
    this.backend = backend;
    this.storageRef = storage;
    this.ownsStorage = ownsStorage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this.node = null;
    liveTensors++;
    // Constants created while recording are leaves of the recorded graph: pin them too, so a
    // tidy cannot free them while a walk still reads them.
    if (isRecording()) {
      this.node = node;
      for (const trace of recordingStack()) {
        trace.pinned.push(this);
        this.pins++;
      }
    }
    track(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.disposedFlag;
  }

  /** The backend storage; throws if the tensor was disposed. */
  get storage(): unknown {
    if (this.disposedFlag) throw new Error(`tensor ${this.describe()} was used after dispose()`);
    return this.storageRef;
  }

  describe(): string {
    return `#${this.id} ${this.dtype}${formatShape(this.shape)}`;
  }

  /** Reads the values (asynchronously: on WebGPU this waits for the queued work). */
  async data(): Promise<TypedArray> {
    return this.backend.read(this.storage, this.shape, this.dtype);
  }

  /** Synchronous read; only on backends that hold host memory (the CPU backend). */
  dataSync(): TypedArray {
    const read = this.backend.readSync;
    if (!read) throw new Error(`dataSync: the ${this.backend.name} backend reads asynchronously; use await tensor.data()`);
    return read.call(this.backend, this.storage, this.shape, this.dtype);
  }

  /** Nested JS arrays of the values. */
  async array(): Promise<unknown> {
    return toNested(await this.data(), this.shape);
  }

  arraySync(): unknown {
    return toNested(this.dataSync(), this.shape);
  }

  /** The single value of a size-1 tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: tensor ${this.describe()} has ${this.size} elements, not 1`);
    return (await this.data())[0];
  }

  itemSync(): number {
    if (this.size !== 1) throw new Error(`item: tensor ${this.describe()} has ${this.size} elements, not 1`);
    return this.dataSync()[0];
  }

  /** Frees the storage now, or as soon as no active trace needs the tensor. Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    if (this.pins > 0) {
      this.disposePending = true;
      return;
    }
    this.disposedFlag = true;
    liveTensors--;
    if (this.ownsStorage) this.backend.release(this.storageRef);
    this.storageRef = null;
    this.node = null;
  }

  /** Called by a trace that adopts a tensor it did not create (see pinToRecordingTraces). */
  pin(): void {
    if (this.disposedFlag) throw new Error(`tensor ${this.describe()} was pinned after dispose()`);
    this.pins++;
  }

  /**
   * Cancels a dispose deferred while the tensor was pinned (a tidy inside a traced function, e.g.
   * a composite's own, freed it) and hands it to the current scope: for a traced graph's
   * dispose(keep), whose caller keeps values that the function itself treated as intermediates.
   * Returns whether a dispose was pending.
   */
  reclaim(): boolean {
    if (!this.disposePending) return false;
    this.disposePending = false;
    track(this);
    return true;
  }

  /** Called by a trace on release. */
  unpin(): void {
    this.pins--;
    if (this.pins > 0) return;
    this.node = null;
    if (this.disposePending) this.dispose();
  }

  toString(): string {
    return `Tensor(${this.describe()})`;
  }
}

function toNested(data: TypedArray, shape: readonly number[]): unknown {
  if (shape.length === 0) return data[0];
  const build = (offset: number, axis: number): unknown => {
    const n = shape[axis];
    if (axis === shape.length - 1) return Array.from(data.subarray(offset, offset + n));
    const step = sizeOf(shape.slice(axis + 1));
    return Array.from({ length: n }, (_, i) => build(offset + i * step, axis + 1));
  };
  return build(0, 0);
}

/** Keeps a tensor (or every tensor in a tree) alive across tidy scopes until disposed explicitly. */
export function keep<T>(x: T): T {
  const mark = (v: unknown): void => {
    if (v instanceof Tensor) v.kept = true;
    else if (Array.isArray(v)) v.forEach(mark);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(mark);
  };
  mark(x);
  return x;
}
