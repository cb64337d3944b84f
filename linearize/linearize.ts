/**
 * The linearized network (PAPER.md section 3): f_lin(theta, x) = f(theta0, x) + J0(x) (theta - theta0).
 *
 * f(theta0, x) is traced once per input batch x and the recorded graph is kept: f_lin, its JVP
 * J0(x) v and its VJP J0(x)^T u are walks over that graph with each primitive's JVP / VJP rule,
 * so f is not re-run however often the linearized model is evaluated or trained. No Jacobian is
 * ever built.
 */
import * as tg from '../engine/index.ts';
import type { Tensor, TracedGraph } from '../engine/index.ts';
import { flattenTangents } from '../engine/autodiff.ts';
import { track } from '../engine/memory.ts';

/** A network as a function of its parameter tree and an input batch. */
export type ApplyFn<P> = (params: P, x: Tensor) => Tensor;

export interface LinearizeOptions {
  /**
   * How many input batches keep their trace of f(params0, x) (default 4); the least recently
   * used is freed first. Each holds the activations of one forward pass.
   */
  cacheSize?: number;
}

/**
 * f_lin as a callable `(params, x) => Tensor`, plus the linear maps it is built from. The traces
 * of f(params0, x) are cached per input tensor (by identity: pass the same tensor to reuse one).
 */
export interface Linearization<P> {
  /** f_lin(params, x) = f(params0, x) + J0(x) (params - params0); differentiable in params. */
  (params: P, x: Tensor): Tensor;
  readonly params0: P;
  /** J0(x) v for a tangent tree shaped like params0 (a null leaf or subtree is a zero that costs nothing). */
  jvp(x: Tensor, tangent: unknown): Tensor;
  /** J0(x)^T u for a cotangent u of the output's shape and dtype, as a tree shaped like params0. */
  vjp(x: Tensor, cotangent: Tensor): P;
  /** f(params0, x), a new tensor. */
  f0(x: Tensor): Tensor;
  /** Input batches whose trace is held now. */
  readonly cachedInputs: number;
  /**
   * Frees every held trace. Later calls trace again (and cache again). Called too when the tidy
   * scope that created the linearization closes, like a vjp function.
   */
  dispose(): void;
}

interface Entry {
  graph: TracedGraph;
  out: Tensor;
}

/**
 * Returns f_lin. It is exact at params0, linear in params - params0, and differentiable, so the
 * linearized model can itself be trained by gradient descent or momentum.
 * @example const fLin = linearize(model.apply, params0); const loss = mse(fLin(params, x), y); fLin.dispose();
 */
export function linearize<P>(f: ApplyFn<P>, params0: P, opts: LinearizeOptions = {}): Linearization<P> {
  const cacheSize = opts.cacheSize ?? 4;
  if (!Number.isInteger(cacheSize) || cacheSize < 1) throw new Error(`linearize: cacheSize must be an integer >= 1, got ${cacheSize}`);
  const leaves0 = tg.treeLeaves(params0);
  // Insertion order is recency order: a hit moves its entry to the end.
  const cache = new Map<Tensor, Entry>();

  const drop = (x: Tensor, e: Entry) => {
    cache.delete(x);
    e.graph.dispose();
  };

  const entryFor = (op: string, x: Tensor): Entry => {
    if (!(x instanceof tg.Tensor)) throw new Error(`${op}: the input batch must be a tensor, got ${typeof x}`);
    for (const [key, e] of cache) if (key.isDisposed) drop(key, e);
    const hit = cache.get(x);
    if (hit !== undefined) {
      cache.delete(x);
      cache.set(x, hit);
      return hit;
    }
    const graph = tg.traceGraph((p: P) => f(p, x), [params0], [0], { scoped: false });
    const out = graph.out;
    if (!(out instanceof tg.Tensor)) {
      graph.dispose();
      throw new Error(`${op}: the network must return a single tensor, got ${Array.isArray(out) ? 'an array' : typeof out}`);
    }
    const entry = { graph, out };
    cache.set(x, entry);
    if (cache.size > cacheSize) {
      const [oldKey, oldEntry] = cache.entries().next().value as [Tensor, Entry];
      drop(oldKey, oldEntry);
    }
    return entry;
  };

  const tangentOf = (e: Entry, tangents: (Tensor | null)[]): Tensor => e.graph.tangents(tangents)[0] ?? tg.zerosLike(e.out);

  const fLin = ((params: P, x: Tensor) => {
    const e = entryFor('linearize', x);
    return tg.tidy(() => {
      const delta = tg.treeZip([params, params0], ([p, p0]) => {
        if (p.dtype !== p0.dtype || p.shape.join() !== p0.shape.join()) {
          throw new Error(`linearize: parameter ${p.dtype}[${p.shape}] does not match the linearization point ${p0.dtype}[${p0.shape}]`);
        }
        return tg.sub(p, p0);
      });
      const df = e.graph.tangents(tg.treeLeaves(delta))[0];
      return df === null ? tg.identity(e.out) : tg.add(e.out, df);
    });
  }) as Linearization<P>;

  Object.defineProperties(fLin, {
    params0: { value: params0 },
    cachedInputs: { get: () => cache.size },
  });
  fLin.jvp = (x: Tensor, tangent: unknown) => {
    const e = entryFor('linearize.jvp', x);
    return tg.tidy(() => tangentOf(e, flattenTangents('linearize.jvp', tangent, params0, 'params')));
  };
  fLin.vjp = (x: Tensor, cotangent: Tensor) => {
    const e = entryFor('linearize.vjp', x);
    if (!(cotangent instanceof tg.Tensor) || cotangent.dtype !== e.out.dtype || cotangent.shape.join() !== e.out.shape.join()) {
      const what = cotangent instanceof tg.Tensor ? `${cotangent.dtype}[${cotangent.shape}]` : typeof cotangent;
      throw new Error(`linearize.vjp: the cotangent ${what} must match the output ${e.out.dtype}[${e.out.shape}] of f at x`);
    }
    return tg.tidy(() => {
      const { inputs } = e.graph.cotangents([cotangent], []);
      return tg.flatten(params0).unflatten(inputs.map((g, i) => g ?? tg.zerosLike(leaves0[i]))) as P;
    });
  };
  fLin.f0 = (x: Tensor) => tg.identity(entryFor('linearize.f0', x).out);
  fLin.dispose = () => {
    for (const [key, e] of [...cache]) drop(key, e);
  };
  track({ dispose: fLin.dispose });
  return fLin;
}

/** Output-space coefficients: a tensor, or a float64 matrix from linearize/flow.ts (e.g. flow.coefficientsAt(t)). */
export type Coefficients = Tensor | { readonly rows: number; readonly cols: number; readonly data: Float64Array };

/**
 * Weight change omega = -J0(X)^T c for output-space coefficients c (the shape of f(params0, X),
 * or the same number of entries as a float64 Matrix); with c_t from the closed-form flow this is
 * omega_t of PAPER.md eq. (8). No Jacobian. Coefficients of another dtype are converted to the
 * network's. Given an array of coefficients (e.g. c_t for many t), f is traced once and each
 * entry is one reverse walk over that trace; the result is the array of weight changes.
 * @example const omega = weightChange(net.apply, params0, xTrain, flow.coefficientsAt(t));
 * @example const omegas = weightChange(net.apply, params0, xTrain, steps.map((t) => flow.gdCoefficientsAt(t)));
 */
export function weightChange<P>(f: ApplyFn<P>, params0: P, x: Tensor, coefficients: Coefficients): P;
export function weightChange<P>(f: ApplyFn<P>, params0: P, x: Tensor, coefficients: readonly Coefficients[]): P[];
export function weightChange<P>(f: ApplyFn<P>, params0: P, x: Tensor, coefficients: Coefficients | readonly Coefficients[]): P | P[] {
  const batch = Array.isArray(coefficients);
  const list: readonly Coefficients[] = batch ? coefficients : [coefficients as Coefficients];
  const omegas = tg.tidy(() => {
    const lin = linearize(f, params0, { cacheSize: 1 });
    const o = lin.f0(x);
    return list.map((c) => tg.tidy(() => tg.treeMap(lin.vjp(x, coefficientTensor(c, o)), (leaf) => tg.neg(leaf)) as P));
  });
  return batch ? omegas : omegas[0];
}

function coefficientTensor(coefficients: Coefficients, o: Tensor): Tensor {
  if (coefficients instanceof tg.Tensor) {
    if (coefficients.shape.join() !== o.shape.join()) {
      throw new Error(`weightChange: coefficients [${coefficients.shape}] must have the output's shape [${o.shape}]`);
    }
    return tg.cast(coefficients, o.dtype);
  }
  if (coefficients.data.length !== o.size) {
    throw new Error(`weightChange: a ${coefficients.rows}x${coefficients.cols} coefficient matrix does not match the output [${o.shape}] (${o.size} entries)`);
  }
  return tg.tensor(coefficients.data, o.shape, o.dtype, o.backend);
}
