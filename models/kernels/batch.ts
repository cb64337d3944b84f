/**
 * neural-tangents' `nt.batch(kernel_fn, batch_size)`: wraps ANY kernel function (analytic
 * `layer.kernelFn`, `empiricalKernelFn` / `empiricalNtkFn` / `empiricalNngpFn`, or your own
 * `(x1, x2, ...rest) => kernels`) so it runs on blocks of `blockSize` inputs along each batch axis
 * and assembles the blocks. Only one block pair's intermediates (activations, Jacobians, layer
 * kernels) live at a time, so kernels whose computation does not fit run in pieces.
 *
 * With x2 omitted the diagonal blocks call kernelFn(x1 block, null, ...) (keeping that path's
 * exact symmetry) and off-diagonal blocks kernelFn(x1 block a, x1 block b, ...). Results may be a
 * tensor or an object of tensors (stax's Kernel included): tensors with both batch axes are
 * assembled along axes 0 and 1; `cov1` / `cov2` (one batch axis) along the x1 / x2 blocks; a
 * kernel function marked `batchDiagonal` (an empirical one with diagonalAxes including 0)
 * returns one batch axis and runs on matching blocks of x1 and x2 only.
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';

/** A kernel function whose first two arguments are the batches (x2 may be null). */
export type BatchableKernelFn = ((x1: never, x2?: never, ...rest: never[]) => unknown) & { readonly batchDiagonal?: boolean };

function toTensorInput(what: string, x: unknown): Tensor {
  if (x instanceof tg.Tensor) return x;
  const h = x as { shape?: unknown; data?: ArrayLike<number> } | null;
  if (h && Array.isArray(h.shape) && h.data && typeof h.data.length === 'number') {
    return tg.tensor(Float64Array.from(h.data), h.shape as number[], 'float64', tg.backendInstance('cpu'));
  }
  throw new Error(`batch: ${what} must be a Tensor or { shape, data }, got ${x === null ? 'null' : typeof x}`);
}

function rows(x: Tensor, start: number, end: number): Tensor {
  if (start === 0 && end === x.shape[0]) return x;
  return tg.slice(x, [start, ...x.shape.slice(1).map(() => 0)], [end, ...x.shape.slice(1)]);
}

/**
 * The blocked version of `kernelFn`, with the same signature and results.
 * @example
 * const kernelFn = batch(net.kernelFn!, 64);
 * const ntk = kernelFn(xTrain, null, 'ntk');              // computed in 64 x 64 blocks
 * const ntkFn = batch(empiricalNtkFn(net.apply), 16);     // empirical ones too
 */
export function batch<F extends BatchableKernelFn>(kernelFn: F, blockSize: number): F {
  if (typeof kernelFn !== 'function') throw new Error(`batch: kernelFn must be a function, got ${typeof kernelFn}`);
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`batch: blockSize must be a positive integer, got ${String(blockSize)}`);
  const call = kernelFn as unknown as (...args: unknown[]) => unknown;
  const wrapped = ((x1In: unknown, x2In?: unknown, ...rest: unknown[]) => {
    const x1 = toTensorInput('x1', x1In);
    const x2 = x2In === null || x2In === undefined ? null : toTensorInput('x2', x2In);
    const n1 = x1.shape[0];
    const n2 = x2 ? x2.shape[0] : n1;
    const starts = (n: number) => Array.from({ length: Math.ceil(n / blockSize) }, (_, i) => [i * blockSize, Math.min(n, (i + 1) * blockSize)] as const);
    const b1 = starts(n1);
    const b2 = starts(n2);
    return tg.tidy(() => {
      if (kernelFn.batchDiagonal) {
        if (x2 && n2 !== n1) throw new Error(`batch: a batch-diagonal kernel needs x1 and x2 of the same size, got ${n1} and ${n2}`);
        const parts = b1.map(([s, e]) => call(rows(x1, s, e), x2 ? rows(x2, s, e) : null, ...rest));
        return combine(parts.map((p) => [p]), 'diagonal');
      }
      const grid = b1.map(([s1, e1], a) => b2.map(([s2, e2], b) => {
        const u = rows(x1, s1, e1);
        if (!x2 && a === b) return call(u, null, ...rest);
        return call(u, rows(x2 ?? x1, s2, e2), ...rest);
      }));
      return combine(grid, x2 ? 'cross' : 'symmetric');
    });
  }) as unknown as F;
  return wrapped;
}

/** Assembles a grid of block results (same structure each) into one result. */
function combine(grid: unknown[][], mode: 'cross' | 'symmetric' | 'diagonal'): unknown {
  const first = grid[0][0];
  if (first instanceof tg.Tensor) return assembleTensor(grid as Tensor[][], mode);
  if (first === null || first === undefined || typeof first !== 'object') return first;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(first)) {
    const leaf = (first as Record<string, unknown>)[key];
    if (!(leaf instanceof tg.Tensor)) {
      out[key] = leaf;
      continue;
    }
    const pick = (r: unknown) => (r as Record<string, Tensor>)[key];
    if (mode !== 'diagonal' && key === 'cov1') {
      // One batch axis: x1 blocks down the first column (the diagonal block when symmetric).
      out[key] = tg.concat(grid.map((row, a) => pick(row[mode === 'symmetric' ? a : 0])), 0);
    } else if (mode !== 'diagonal' && key === 'cov2') {
      out[key] = tg.concat(grid[0].map((r) => pick(r)), 0);
    } else {
      out[key] = assembleTensor(grid.map((row) => row.map(pick)), mode);
    }
  }
  // A null cov2 (x2 omitted) stays null even though off-diagonal blocks had an x2.
  if (mode === 'symmetric' && 'cov2' in (first as object) && (first as Record<string, unknown>).cov2 === null) out.cov2 = null;
  return out;
}

function assembleTensor(grid: Tensor[][], mode: 'cross' | 'symmetric' | 'diagonal'): Tensor {
  if (mode === 'diagonal') return tg.concat(grid.map((row) => row[0]), 0);
  return tg.concat(grid.map((row) => tg.concat(row, 1)), 0);
}
