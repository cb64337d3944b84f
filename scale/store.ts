/**
 * The kernel store: one Zarr v3 group on a (shared) file system holding everything a worker on
 * any machine needs, so a block task is just (store path, block index):
 *
 *   store.zarr/zarr.json      group; attributes.tangentgrad = KernelStoreMeta (model spec, seed,
 *                             dtype, block size, versions, ...)
 *   store.zarr/x1/, x2/       the inputs, float64 [N, ...sample shape], one chunk per row block
 *   store.zarr/params/        empirical kernels: the parameters, flat (tree leaves in order)
 *   store.zarr/nngp/, ntk/    the kernels [N1, N2] in `dtype`, one chunk per block; with one
 *                             dataset only blocks on and above the diagonal exist (the lower
 *                             triangle is the mirror; readers of the raw array see fill_value NaN)
 *
 * Every array's codecs are [bytes (little endian), crc32c], so any Zarr v3 reader opens it and each
 * chunk carries its own checksum. A chunk is written to a temporary name in its folder, synced and
 * renamed, so it is either absent or complete; `chunkIsValid` checks size and checksum, which is how
 * a resumed run tells a finished block from a truncated or corrupted one.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import * as zarr from 'zarrita';
import FileSystemStore from '@zarrita/storage/fs';
import { crc32c } from './crc32c.ts';
import type { ModelSpec } from './model-spec.ts';
import { blockCount, blockAt, type Block } from './blocks.ts';

export type KernelName = 'nngp' | 'ntk';
export type StoreDtype = 'float64' | 'float32';

export interface KernelStoreMeta {
  readonly format: 'tangentgrad-kernel-store/1';
  /** Random id of this store (names its queue jobs). */
  readonly id: string;
  /** 'analytic': the infinite-width kernels; 'empirical': the finite network's NTK at the stored params. */
  readonly mode: 'analytic' | 'empirical';
  readonly kernels: readonly KernelName[];
  readonly model: ModelSpec;
  /** Shape of one sample (the inputs are [N, ...sampleShape]). */
  readonly sampleShape: readonly number[];
  readonly n1: number;
  readonly n2: number;
  /** One dataset (x2 = x1): only the upper triangle of blocks is stored. */
  readonly symmetric: boolean;
  readonly blockSize: number;
  /** The dtype the kernels are computed and stored in. */
  readonly dtype: StoreDtype;
  /** Seed of the parameters (empirical; null when the caller gave them). */
  readonly seed: number | null;
  /** Empirical kernels: the method and inner row block of linearize's empiricalNtk; the kernel is traced over outputs. */
  readonly empirical: { readonly method: 'structured' | 'contraction' | 'ntkvp'; readonly innerBlock: number } | null;
  readonly versions: { readonly tangentgrad: string; readonly zarrita: string; readonly node: string };
  readonly created: string;
}

// crc32c has no configuration in the v3 spec; zarrita's type wants one, hence the cast.
const CODECS = [
  { name: 'bytes', configuration: { endian: 'little' } },
  { name: 'crc32c' },
] as zarr.CodecMetadata[];

function packageVersion(spec: string): string {
  try {
    let dir = path.dirname(new URL(import.meta.resolve(spec)).pathname);
    for (let i = 0; i < 6; i++) {
      const file = path.join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name && pkg.version && (spec.startsWith(pkg.name) || pkg.name === spec)) return pkg.version;
      }
      dir = path.dirname(dir);
    }
  } catch {
    // fall through
  }
  return 'unknown';
}

/** Versions recorded in a new store (so a reader knows what produced it). */
export function versions(): KernelStoreMeta['versions'] {
  return { tangentgrad: packageVersion('tangentgrad/package.json'), zarrita: packageVersion('zarrita'), node: process.version };
}

function bytesPer(dtype: StoreDtype): number {
  return dtype === 'float64' ? 8 : 4;
}

/** An opened store: its metadata, the block grid and chunk I/O. */
export class KernelStore {
  private constructor(readonly root: string, readonly meta: KernelStoreMeta) {}

  /** Opens an existing store (checks it is one). */
  static open(root: string): KernelStore {
    const file = path.join(root, 'zarr.json');
    if (!existsSync(file)) throw new Error(`kernel store: ${root} has no zarr.json (not a store; create one with 'tangentgrad kernel init')`);
    const group = JSON.parse(readFileSync(file, 'utf8')) as { node_type?: string; attributes?: { tangentgrad?: KernelStoreMeta } };
    const meta = group.attributes?.tangentgrad;
    if (group.node_type !== 'group' || !meta || meta.format !== 'tangentgrad-kernel-store/1') {
      throw new Error(`kernel store: ${root}/zarr.json is not a tangentgrad kernel store (no attributes.tangentgrad of format tangentgrad-kernel-store/1)`);
    }
    return new KernelStore(root, meta);
  }

  /**
   * Creates the store: the group with its metadata, the input arrays (written now) and the empty
   * kernel arrays. Refuses an existing store, so a rerun never mixes two setups.
   */
  static async create(root: string, meta: Omit<KernelStoreMeta, 'format' | 'id' | 'versions' | 'created'>, x1: Float64Array, x2: Float64Array | null, params: Float64Array | null): Promise<KernelStore> {
    if (existsSync(path.join(root, 'zarr.json'))) throw new Error(`kernel store: ${root} already exists (resume it with 'tangentgrad kernel run', or delete it)`);
    mkdirSync(root, { recursive: true });
    const full: KernelStoreMeta = { format: 'tangentgrad-kernel-store/1', id: randomUUID(), versions: versions(), created: new Date().toISOString(), ...meta };
    const store = new FileSystemStore(root);
    const top = zarr.root(store);
    const sample = meta.sampleShape;
    const inputArray = async (name: string, n: number) => {
      await zarr.create(top.resolve(name), {
        shape: [n, ...sample], chunkShape: [meta.blockSize, ...sample], dtype: 'float64', codecs: CODECS, fillValue: 0,
        dimensionNames: ['sample', ...sample.map((_, i) => `feature${i}`)],
      });
    };
    await inputArray('x1', meta.n1);
    if (x2) await inputArray('x2', meta.n2);
    if (params) {
      await zarr.create(top.resolve('params'), { shape: [params.length], chunkShape: [Math.max(1, params.length)], dtype: 'float64', codecs: CODECS, fillValue: 0 });
    }
    for (const k of meta.kernels) {
      await zarr.create(top.resolve(k), {
        shape: [meta.n1, meta.n2], chunkShape: [meta.blockSize, meta.blockSize], dtype: meta.dtype, codecs: CODECS,
        // NaN marks what was never written: the mirrored lower triangle, or a block still missing.
        fillValue: 'NaN' as unknown as number,
        dimensionNames: ['x1', 'x2'], attributes: { kernel: k, triangle: meta.symmetric ? 'upper' : 'full' },
      });
    }
    // The group last: a store is only "there" once everything it names exists.
    await zarr.create(top, { attributes: { tangentgrad: full } });
    const out = new KernelStore(root, full);
    const rowBytes = sample.reduce((a, b) => a * b, 1);
    const writeInput = (name: string, n: number, data: Float64Array) => {
      if (data.length !== n * rowBytes) throw new Error(`kernel store: ${name} has ${data.length} values, expected ${n} x ${rowBytes}`);
      for (let c = 0; c * meta.blockSize < n; c++) {
        const rows = Math.min(meta.blockSize, n - c * meta.blockSize);
        const chunk = new Float64Array(meta.blockSize * rowBytes);
        chunk.set(data.subarray(c * meta.blockSize * rowBytes, (c * meta.blockSize + rows) * rowBytes));
        out.writeChunk(name, [c, ...sample.map(() => 0)], chunk);
      }
    };
    writeInput('x1', meta.n1, x1);
    if (x2) writeInput('x2', meta.n2, x2);
    if (params) out.writeChunk('params', [0], params.length ? params : new Float64Array(1));
    return out;
  }

  /** Block rows / columns of the grid. */
  get gridRows(): number {
    return Math.ceil(this.meta.n1 / this.meta.blockSize);
  }

  get gridCols(): number {
    return Math.ceil(this.meta.n2 / this.meta.blockSize);
  }

  /** Number of block tasks (upper triangle with one dataset). */
  get blockCount(): number {
    return blockCount(this.gridRows, this.gridCols, this.meta.symmetric);
  }

  block(index: number): Block {
    return blockAt(index, this.gridRows, this.gridCols, this.meta.symmetric, this.meta.blockSize, this.meta.n1, this.meta.n2);
  }

  chunkPath(array: string, coords: readonly number[]): string {
    // Zarr v3 default chunk key encoding with separator '/': c/i/j.
    return path.join(this.root, array, 'c', ...coords.map(String));
  }

  /** Writes one chunk (values of the full chunk shape, C order) atomically: temp file, fsync, rename. */
  writeChunk(array: string, coords: readonly number[], values: Float64Array | Float32Array): void {
    const file = this.chunkPath(array, coords);
    mkdirSync(path.dirname(file), { recursive: true });
    const body = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    const crc = new Uint8Array(4);
    new DataView(crc.buffer).setUint32(0, crc32c(body), true);
    const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.partial`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, body);
      writeSync(fd, crc);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  }

  /** The chunk's values if present, of the right size and with a matching checksum; else null. */
  readChunk(array: string, coords: readonly number[], elements: number, dtype: StoreDtype): Float64Array | Float32Array | null {
    const file = this.chunkPath(array, coords);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      return null;
    }
    const size = elements * bytesPer(dtype);
    if (bytes.length !== size + 4) return null;
    const body = new Uint8Array(bytes.buffer, bytes.byteOffset, size);
    const want = new DataView(bytes.buffer, bytes.byteOffset + size, 4).getUint32(0, true);
    if (crc32c(body) !== want) return null;
    // A large file gets its own buffer at offset 0: view it in place; else copy to align.
    const aligned = bytes.byteOffset % 8 === 0 ? bytes.buffer : (() => {
      const copy = new ArrayBuffer(size);
      new Uint8Array(copy).set(body);
      return copy;
    })();
    const offset = aligned === bytes.buffer ? bytes.byteOffset : 0;
    return dtype === 'float64' ? new Float64Array(aligned, offset, elements) : new Float32Array(aligned, offset, elements);
  }

  /** Like readChunk, but a missing or damaged chunk is an error naming it (for inputs). */
  requireChunk(array: string, coords: readonly number[], elements: number, dtype: StoreDtype): Float64Array | Float32Array {
    const v = this.readChunk(array, coords, elements, dtype);
    if (!v) throw new Error(`kernel store: chunk ${array}/c/${coords.join('/')} of ${this.root} is missing, truncated or fails its crc32c checksum`);
    return v;
  }

  /** Elements of one kernel chunk. */
  get kernelChunkSize(): number {
    return this.meta.blockSize * this.meta.blockSize;
  }

  /** Whether every kernel chunk of block `index` is present and verified. */
  blockIsDone(index: number): boolean {
    const b = this.block(index);
    return this.meta.kernels.every((k) => this.chunkIsValid(k, [b.row, b.col]));
  }

  chunkIsValid(array: string, coords: readonly number[]): boolean {
    const file = this.chunkPath(array, coords);
    const size = this.kernelChunkSize * bytesPer(this.meta.dtype) + 4;
    try {
      if (statSync(file).size !== size) return false;
    } catch {
      return false;
    }
    return this.readChunk(array, coords, this.kernelChunkSize, this.meta.dtype) !== null;
  }

  /** Indices of the blocks still to compute (missing, truncated or corrupted). */
  missingBlocks(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.blockCount; i++) if (!this.blockIsDone(i)) out.push(i);
    return out;
  }

  /** The samples of row block `chunk` of x1 or x2: [rows, ...sampleShape] (rows < blockSize at the edge). */
  inputRows(which: 'x1' | 'x2', chunk: number): { data: Float64Array; rows: number } {
    const array = which === 'x2' && this.meta.symmetric ? 'x1' : which;
    const n = which === 'x1' || this.meta.symmetric ? this.meta.n1 : this.meta.n2;
    const per = this.meta.sampleShape.reduce((a, b) => a * b, 1);
    const rows = Math.min(this.meta.blockSize, n - chunk * this.meta.blockSize);
    const all = this.requireChunk(array, [chunk, ...this.meta.sampleShape.map(() => 0)], this.meta.blockSize * per, 'float64') as Float64Array;
    return { data: all.subarray(0, rows * per), rows };
  }

  /** The stored parameters of an empirical store (flat). */
  params(count: number): Float64Array {
    return this.requireChunk('params', [0], Math.max(1, count), 'float64').subarray(0, count) as Float64Array;
  }

  /**
   * Removes temporary files left by killed writers (harmless to readers, but they take space).
   * Only those untouched for `olderThanMs` (default 10 minutes): a younger one may belong to a
   * writer still running elsewhere, whose rename must not fail.
   */
  removePartials(array: string, olderThanMs = 10 * 60_000): number {
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    const walk = (dir: string) => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.partial')) {
          try {
            if (statSync(p).mtimeMs > cutoff) continue;
          } catch {
            continue;
          }
          rmSync(p, { force: true });
          removed++;
        }
      }
    };
    walk(path.join(this.root, array, 'c'));
    return removed;
  }
}

