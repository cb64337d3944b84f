/**
 * The empirical NTK Theta(x1, x2) = J(x1) J(x2)^T (PAPER.md section 2), three ways that must agree:
 *  - 'contraction': per-sample Jacobians contracted explicitly (the reference; memory and time
 *    grow with the parameter count);
 *  - 'ntkvp': NTK-vector products Theta v = J (J^T v), a VJP then a JVP, for when the Jacobian
 *    does not fit;
 *  - 'structured': each matmul / conv / bias whose operand is a parameter contributes a product of
 *    small Gram matrices (Novak et al. 2022), so the per-parameter Jacobian is never formed.
 * Rows are ordered (sample, output): Theta[i*K + k, j*K + l].
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { linearize, type ApplyFn } from './linearize.ts';
import { assemble, featureGram, jacobianFeatures, outputWidth, rowBlocks, type NtkOptions } from './ntk-blocks.ts';
import { structuredNtk } from './ntk-structured.ts';

export type NtkMethod = 'contraction' | 'ntkvp' | 'structured';

export interface EmpiricalNtkOptions extends NtkOptions {
  method?: NtkMethod;
}

function checkInputs(op: string, x1: Tensor, x2: Tensor): void {
  if (x1.rank < 1 || x2.rank < 1 || x1.shape.slice(1).join() !== x2.shape.slice(1).join() || x1.dtype !== x2.dtype) {
    throw new Error(`${op}: x1 ${x1.dtype}[${x1.shape}] and x2 ${x2.dtype}[${x2.shape}] must be batches of the same input shape and dtype`);
  }
}

/**
 * The empirical NTK of f at params between the batches x1 and x2 (x2 defaults to x1).
 * @example const theta = empiricalNtk(model.apply, params, xTrain, xTest, { method: 'structured', trace: true });
 */
export function empiricalNtk<P>(f: ApplyFn<P>, params: P, x1: Tensor, x2: Tensor = x1, opts: EmpiricalNtkOptions = {}): Tensor {
  checkInputs('empiricalNtk', x1, x2);
  const full = { trace: opts.trace ?? false, blockSize: opts.blockSize ?? 64 };
  const method = opts.method ?? 'structured';
  return tg.tidy(() => {
    switch (method) {
      case 'contraction': return contractionNtk(f, params, x1, x2, full);
      case 'ntkvp': return ntkVpKernel(f, params, x1, x2, full);
      case 'structured': return structuredNtk(f, params, x1, x2, full);
      default: throw new Error(`empiricalNtk: unknown method '${String(method)}' (contraction, ntkvp or structured)`);
    }
  });
}

function contractionNtk<P>(f: ApplyFn<P>, params: P, x1: Tensor, x2: Tensor, opts: Required<NtkOptions>): Tensor {
  const blocks2 = rowBlocks(x2, opts.blockSize);
  const tiles = rowBlocks(x1, opts.blockSize).map((a, ai) => tg.tidy(() => {
    const ja = jacobianFeatures(f, params, a.x);
    // Theta(X, X): the diagonal tile reuses this block's Jacobian instead of recomputing it.
    return blocks2.map((b, bi) => tg.tidy(() => featureGram(ja, x2 === x1 && ai === bi ? ja : jacobianFeatures(f, params, b.x), opts.trace)));
  }));
  return assemble(tiles);
}

/** Theta(x1, x2) v, with the traces of f(params, x1) and f(params, x2) held until `dispose()`. */
export type NtkVpFn = ((v: Tensor) => Tensor) & { dispose(): void };

/**
 * Theta(x1, x2) v for v of the output shape of f at x2 ([N2, K]), as J(x1) (J(x2)^T v): one VJP and
 * one JVP, no Jacobian and no kernel matrix. f is traced once at x1 and once at x2; every product
 * walks those traces. They are freed by `dispose()` or when the enclosing tidy closes.
 * @example const tv = ntkVp(model.apply, params, x, x)(v);
 */
export function ntkVp<P>(f: ApplyFn<P>, params: P, x1: Tensor, x2: Tensor = x1): NtkVpFn {
  checkInputs('ntkVp', x1, x2);
  const lin = linearize(f, params, { cacheSize: 2 });
  let expected: readonly number[] | undefined;
  const fn = ((v: Tensor) => {
    if (expected === undefined) {
      const out2 = lin.f0(x2);
      expected = out2.shape;
      out2.dispose();
    }
    if (!(v instanceof tg.Tensor) || v.shape.join() !== expected.join()) {
      throw new Error(`ntkVp: v [${v instanceof tg.Tensor ? v.shape : typeof v}] must have the output shape of f at x2 [${expected}]`);
    }
    return tg.tidy(() => lin.jvp(x1, lin.vjp(x2, v)));
  }) as NtkVpFn;
  fn.dispose = () => lin.dispose();
  return fn;
}

/** The full kernel from NTK-vector products with basis vectors: one VJP per (j, l), one JVP per (j, l) and x1 block. */
function ntkVpKernel<P>(f: ApplyFn<P>, params: P, x1: Tensor, x2: Tensor, opts: Required<NtkOptions>): Tensor {
  const blocks1 = rowBlocks(x1, opts.blockSize);
  // One trace per x1 block serves every column's JVP.
  const lin1 = linearize(f, params, { cacheSize: Math.max(1, blocks1.length) });
  const columnBlocks = rowBlocks(x2, opts.blockSize).map((b) => tg.tidy(() => {
    const [out, back] = tg.vjp((p: P) => f(p, b.x), params);
    const nb = b.x.shape[0];
    const width = outputWidth('empiricalNtk', out, nb);
    const columns: Tensor[] = [];
    for (let j = 0; j < nb; j++) {
      for (let l = 0; l < width; l++) {
        const basis = tg.pad(tg.ones([1, 1], out.dtype, out.backend), [j, l], [nb - j - 1, width - l - 1]);
        const [jt] = back(basis);
        // Column (j, l): Theta(x1, x2) e_(j,l) = J(x1) J(x2)^T e_(j,l), one JVP per x1 block.
        const col = tg.concat(blocks1.map((a) => lin1.jvp(a.x, jt)), 0);
        columns.push(opts.trace ? tg.slice(col, [0, l], [col.shape[0], l + 1]) : tg.reshape(col, [-1, 1]));
      }
    }
    back.dispose();
    if (!opts.trace) return tg.concat(columns, 1);
    // Traced: column j is the mean over l of Theta[(i, l), (j, l)].
    return tg.concat(Array.from({ length: nb }, (_, j) => {
      const parts = columns.slice(j * width, (j + 1) * width);
      return tg.div(parts.reduce((s, c) => tg.add(s, c)), width);
    }), 1);
  }));
  lin1.dispose();
  return tg.concat(columnBlocks, 1);
}
