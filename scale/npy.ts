/**
 * The NumPy .npy format (version 1.0): a magic string, a Python-dict header padded to a multiple
 * of 64 bytes, then the data in C order. Only what kernels need: little-endian float64 / float32
 * matrices. Written in row blocks, so an export never holds the whole matrix.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

export type NpyDtype = 'float64' | 'float32';

const DESCR: Record<NpyDtype, string> = { float64: '<f8', float32: '<f4' };

/** The header bytes of a C-order array of `shape`. */
export function npyHeader(shape: readonly number[], dtype: NpyDtype): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': (${dims}), }`;
  // magic (6) + version (2) + header length (2) + dict + '\n' is a multiple of 64.
  const pad = 64 - ((10 + dict.length + 1) % 64);
  dict += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + dict.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  return out;
}

/** Writes an .npy file of `shape` whose rows arrive in order from `rows` (C order, any row-block sizes). */
export async function writeNpy(path: string, shape: readonly number[], dtype: NpyDtype, rows: AsyncIterable<Float64Array | Float32Array>): Promise<void> {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, npyHeader(shape, dtype));
    const total = shape.reduce((a, b) => a * b, 1);
    let written = 0;
    for await (const block of rows) {
      const typed = dtype === 'float64' ? (block instanceof Float64Array ? block : Float64Array.from(block)) : block instanceof Float32Array ? block : Float32Array.from(block);
      writeSync(fd, new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength));
      written += typed.length;
    }
    if (written !== total) throw new Error(`writeNpy: ${path}: got ${written} values for shape [${shape.join(',')}] (${total})`);
  } finally {
    closeSync(fd);
  }
}

/** Reads a little-endian float64 / float32 C-order .npy file (as float64). */
export function readNpy(path: string): { shape: number[]; dtype: NpyDtype; data: Float64Array } {
  const fd = openSync(path, 'r');
  try {
    const pre = new Uint8Array(10);
    readSync(fd, pre, 0, 10, 0);
    if (pre[0] !== 0x93 || String.fromCharCode(...pre.subarray(1, 6)) !== 'NUMPY') throw new Error(`readNpy: ${path} is not an .npy file`);
    const major = pre[6];
    const lenBytes = major === 1 ? 2 : 4;
    const lenBuf = new Uint8Array(lenBytes);
    readSync(fd, lenBuf, 0, lenBytes, 8);
    const hlen = lenBytes === 2 ? new DataView(lenBuf.buffer).getUint16(0, true) : new DataView(lenBuf.buffer).getUint32(0, true);
    const hbuf = new Uint8Array(hlen);
    readSync(fd, hbuf, 0, hlen, 8 + lenBytes);
    const header = new TextDecoder().decode(hbuf);
    const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
    const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
    const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
    if (descr === undefined || fortran === undefined || shapeText === undefined) throw new Error(`readNpy: ${path}: unreadable header ${header.trim()}`);
    const dtype = descr === '<f8' ? 'float64' : descr === '<f4' ? 'float32' : null;
    if (dtype === null) throw new Error(`readNpy: ${path}: dtype ${descr} is not supported (little-endian float64 '<f8' or float32 '<f4')`);
    if (fortran === 'True') throw new Error(`readNpy: ${path}: Fortran-order arrays are not supported (save with np.ascontiguousarray)`);
    const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = new Uint8Array(n * (dtype === 'float64' ? 8 : 4));
    const got = readSync(fd, bytes, 0, bytes.length, 8 + lenBytes + hlen);
    if (got !== bytes.length) throw new Error(`readNpy: ${path}: truncated (${got} of ${bytes.length} data bytes)`);
    const data = dtype === 'float64' ? new Float64Array(bytes.buffer) : Float64Array.from(new Float32Array(bytes.buffer));
    return { shape, dtype, data };
  } finally {
    closeSync(fd);
  }
}
