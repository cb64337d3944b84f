/**
 * Reading a finished kernel back: row blocks streamed (one strip of blockSize x N2 at a time, the
 * lower triangle of a one-dataset store mirrored from the stored upper blocks), the whole matrix
 * as float64 or as a Tensor, and an .npy export written strip by strip. Every chunk is checked
 * against its checksum; a missing or damaged block is an error naming it.
 */
import * as tg from '../engine/index.ts';
import type { Backend, Tensor } from '../engine/index.ts';
import { writeNpy } from './npy.ts';
import { KernelStore, type KernelName } from './store.ts';

export interface RowBlock {
  /** First kernel row of the strip. */
  readonly start: number;
  readonly rows: number;
  /** [rows, N2] row-major, float64. */
  readonly data: Float64Array;
}

function openKernel(root: string | KernelStore, kernel: KernelName): KernelStore {
  const store = typeof root === 'string' ? KernelStore.open(root) : root;
  if (!store.meta.kernels.includes(kernel)) throw new Error(`kernel store ${store.root} has no '${kernel}' (it has ${store.meta.kernels.join(', ')})`);
  return store;
}

/** Strip `row` (block row) of the kernel as float64 [rows, N2]. */
export function readRowBlock(root: string | KernelStore, kernel: KernelName, row: number): RowBlock {
  const store = openKernel(root, kernel);
  const { blockSize: B, n1, n2, symmetric, dtype } = store.meta;
  if (!Number.isInteger(row) || row < 0 || row >= store.gridRows) throw new Error(`readRowBlock: block row ${row} is outside [0, ${store.gridRows})`);
  const rows = Math.min(B, n1 - row * B);
  const out = new Float64Array(rows * n2);
  for (let col = 0; col < store.gridCols; col++) {
    const cols = Math.min(B, n2 - col * B);
    const mirrored = symmetric && col < row;
    const coords = mirrored ? [col, row] : [row, col];
    const chunk = store.readChunk(kernel, coords, B * B, dtype);
    if (!chunk) throw new Error(`kernel store ${store.root}: block (${coords.join(', ')}) of ${kernel} is missing or fails its checksum (run the store again to compute it)`);
    for (let r = 0; r < rows; r++) {
      const dst = r * n2 + col * B;
      if (mirrored) for (let c = 0; c < cols; c++) out[dst + c] = chunk[c * B + r];
      else for (let c = 0; c < cols; c++) out[dst + c] = chunk[r * B + c];
    }
  }
  return { start: row * B, rows, data: out };
}

/** The kernel's row strips in order; holds one strip at a time. */
export function* kernelRowBlocks(root: string | KernelStore, kernel: KernelName): Generator<RowBlock> {
  const store = openKernel(root, kernel);
  for (let row = 0; row < store.gridRows; row++) yield readRowBlock(store, kernel, row);
}

/** The whole kernel as a float64 matrix (needs N1 x N2 x 8 bytes). */
export function readKernelMatrix(root: string | KernelStore, kernel: KernelName): { rows: number; cols: number; data: Float64Array } {
  const store = openKernel(root, kernel);
  const { n1, n2 } = store.meta;
  const data = new Float64Array(n1 * n2);
  for (const s of kernelRowBlocks(store, kernel)) data.set(s.data, s.start * n2);
  return { rows: n1, cols: n2, data };
}

/** The whole kernel as a Tensor [N1, N2] in the store's dtype (default on the CPU backend). */
export function readKernelTensor(root: string | KernelStore, kernel: KernelName, backend?: Backend): Tensor {
  const store = openKernel(root, kernel);
  const m = readKernelMatrix(store, kernel);
  const be = backend ?? tg.backendInstance('cpu');
  if (!be) throw new Error('readKernelTensor: no CPU backend; pass a backend');
  return tg.tensor(store.meta.dtype === 'float64' ? m.data : Float32Array.from(m.data), [m.rows, m.cols], store.meta.dtype, be);
}

/** Writes the kernel to an .npy file (the store's dtype), one row strip at a time. */
export async function exportNpy(root: string | KernelStore, kernel: KernelName, file: string): Promise<void> {
  const store = openKernel(root, kernel);
  const dtype = store.meta.dtype;
  async function* strips() {
    for (const s of kernelRowBlocks(store, kernel)) yield dtype === 'float64' ? s.data : Float32Array.from(s.data);
  }
  await writeNpy(file, [store.meta.n1, store.meta.n2], dtype, strips());
}
