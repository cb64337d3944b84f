/** Shared pieces of the three empirical-NTK implementations: row blocks, output checks, Gram tiles. */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { ApplyFn } from './linearize.ts';

export interface Block {
  readonly start: number;
  readonly x: Tensor;
}

/** Splits the batch axis of x into blocks of at most `size` rows (views via slice). */
export function rowBlocks(x: Tensor, size: number): Block[] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`ntk: blockSize must be a positive integer, got ${size}`);
  const n = x.shape[0];
  const blocks: Block[] = [];
  for (let start = 0; start < n; start += size) {
    const end = Math.min(n, start + size);
    blocks.push({ start, x: tg.slice(x, [start, ...x.shape.slice(1).map(() => 0)], [end, ...x.shape.slice(1)]) });
  }
  return blocks;
}

/** Output [N, K] of f; anything else is an error naming the shape. */
export function outputWidth(op: string, out: Tensor, n: number): number {
  if (out.rank !== 2 || out.shape[0] !== n) {
    throw new Error(`${op}: the network must map a batch of ${n} inputs to outputs [${n}, K], got [${out.shape}]`);
  }
  return out.shape[1];
}

/** Cotangent selecting output k at every sample: [N, K] with ones in column k. */
export function outputSelector(n: number, k: number, width: number, like: Tensor): Tensor {
  const data = like.dtype === 'float64' ? new Float64Array(n * width) : new Float32Array(n * width);
  for (let i = 0; i < n; i++) data[i * width + k] = 1;
  return tg.tensor(data, [n, width], like.dtype, like.backend);
}

/**
 * Gram tile of per-sample, per-output features F1 [N1, K, D] and F2 [N2, K, D]:
 * full [N1 K, N2 K] with rows (i, k), or traced [N1, N2] = mean_k F1[:, k] F2[:, k]^T.
 */
export function featureGram(f1: Tensor, f2: Tensor, traced: boolean): Tensor {
  const [n1, k, d] = f1.shape;
  const n2 = f2.shape[0];
  if (!traced) return tg.matmul(tg.reshape(f1, [n1 * k, d]), tg.reshape(f2, [n2 * k, d]), { transposeB: true });
  return tg.mean(tg.matmul(tg.transpose(f1, [1, 0, 2]), tg.transpose(f2, [1, 0, 2]), { transposeB: true }), 0);
}

/** Assembles tiles[a][b] (each [rows_a, cols_b]) into one matrix. */
export function assemble(tiles: Tensor[][]): Tensor {
  return tg.concat(tiles.map((row) => tg.concat(row, 1)), 0);
}

export interface NtkOptions {
  /** Average the kernel over the K outputs ([N1, N2], as neural-tangents' trace_axes=(-1,)) instead of the full [N1 K, N2 K]. */
  trace?: boolean;
  /** Rows of x1 / x2 processed together; bounds activation and Jacobian memory. */
  blockSize?: number;
}

export type NtkFn = <P>(f: ApplyFn<P>, params: P, x1: Tensor, x2: Tensor, opts: Required<NtkOptions>) => Tensor;

/** Per-sample, per-output Jacobian rows of a block: [Nb, K, P], one single-sample VJP per (i, k). */
export function jacobianFeatures<P>(f: ApplyFn<P>, params: P, x: Tensor): Tensor {
  const n = x.shape[0];
  const samples: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const xi = tg.slice(x, [i, ...x.shape.slice(1).map(() => 0)], [i + 1, ...x.shape.slice(1)]);
    const [out, back] = tg.vjp((p: P) => f(p, xi), params);
    const width = outputWidth('empiricalNtk', out, 1);
    const rows: Tensor[] = [];
    for (let k = 0; k < width; k++) {
      const [g] = back(outputSelector(1, k, width, out));
      rows.push(tg.concat(tg.treeLeaves(g).map((leaf) => tg.reshape(leaf, [-1])), 0));
    }
    back.dispose();
    samples.push(tg.stack(rows, 0));
  }
  return tg.stack(samples, 0);
}

