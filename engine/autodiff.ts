/**
 * The autodiff drivers. A transformation traces its function once (every op records a graph
 * node), then walks that graph: backwards with each primitive's VJP rule (reverse mode) or
 * forwards with its JVP rule (forward mode). Rules are written with ops, so the walks are traced
 * again by any enclosing transformation: grad of grad, jvp of grad (Hessian-vector products) and
 * grad through a JVP (training the linearized model) all work.
 *
 * Tensor ids grow with creation order, so sorting the relevant nodes by id is a topological order.
 *
 * int32 tensors are not differentiable (as JAX's float0): no tangent or cotangent is ever formed
 * for one, a jvp tangent for an int32 input must be null, and the cotangent vjp/grad return for
 * an int32 input is its (int32) zeros.
 */
import { isFloat } from './dtype.ts';
import { dispose, tidy, collectDisposables, type Disposable, track } from './memory.ts';
import { broadcastTo, identity, onesLike, sumToShape, add, zerosLike } from './ops.ts';
import { formatShape, shapesEqual } from './shape.ts';
import { peekNextTensorId, Tensor } from './tensor.ts';
import { beginTrace, isRecording, pinToRecordingTraces, releaseTrace, stopRecording, type Trace } from './trace.ts';
import { flatten, type Tree } from './tree.ts';

/** A traced call: the trace, the fresh input variables it differentiates, and the outputs. */
interface Traced {
  trace: Trace;
  inputs: Tensor[];
  out: unknown;
  outLeaves: Tensor[];
}

/**
 * Calls f under a new trace. Arguments listed in `argnums` are wrapped leaf by leaf in identity
 * nodes, so this trace's variables are distinct from any enclosing trace's (no perturbation
 * confusion) while still connected to them.
 */
function traceCall(op: string, f: (...args: any[]) => unknown, args: readonly unknown[], argnums: readonly number[]): Traced {
  const trace = beginTrace(peekNextTensorId());
  let inputs: Tensor[] = [];
  let out: unknown;
  try {
    const callArgs = [...args];
    for (const i of argnums) {
      if (i < 0 || i >= args.length) throw new Error(`${op}: argnum ${i} is out of range for ${args.length} arguments`);
      const flat = flatten(args[i]);
      const wrapped = flat.leaves.map(identity);
      inputs = inputs.concat(wrapped);
      callArgs[i] = flat.unflatten(wrapped);
    }
    out = f(...callArgs);
  } catch (e) {
    // Free what the failed call created; nothing will walk this trace.
    stopRecording(trace, peekNextTensorId());
    finish(trace, []);
    throw e;
  }
  stopRecording(trace, peekNextTensorId());
  if (out instanceof Promise) {
    finish(trace, []);
    throw new Error(`${op}: the function must be synchronous (it returned a Promise); ops only enqueue, so no await is needed inside`);
  }
  return { trace, inputs, out, outLeaves: flatten(out).leaves };
}

/** Frees what the trace created except `keepers`, and drops graph nodes no transformation needs. */
/**
 * `reclaimed`: values the caller keeps although the traced function may have treated them as
 * intermediates (a tidy inside it, e.g. a composite's own, freed them, deferred while pinned):
 * their dispose is cancelled and they join the caller's scope.
 */
function finish(trace: Trace, keepers: unknown, reclaimed?: unknown): void {
  const keep = new Set<Disposable>();
  collectDisposables(keepers, keep);
  const rescue = new Set<Disposable>();
  collectDisposables(reclaimed, rescue);
  for (const t of trace.pinned) if (!keep.has(t) && !rescue.has(t)) t.dispose();
  for (const t of rescue) if (t instanceof Tensor) t.reclaim();
  releaseTrace(trace);
}

/** The nodes of this trace on a path from `inputs` to `outputs`, in topological order. */
interface Walk {
  order: Tensor[];
  relevant: Set<number>;
}

function relevantNodes(trace: Trace, inputs: readonly Tensor[], outputs: readonly Tensor[]): Walk {
  const inputIds = new Set(inputs.map((x) => x.id));
  const relevant = new Set<number>();
  const visited = new Set<number>();
  const order: Tensor[] = [];
  // Iterative post-order DFS: deep graphs must not overflow the call stack.
  const stack: [Tensor, number][] = outputs.map((o) => [o, 0]);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, next] = top;
    if (next === 0) {
      if (visited.has(t.id)) {
        stack.pop();
        continue;
      }
      visited.add(t.id);
      if (inputIds.has(t.id)) {
        relevant.add(t.id);
        order.push(t);
        stack.pop();
        continue;
      }
      if (t.node === null || !trace.owns(t)) {
        stack.pop();
        continue;
      }
    }
    const ins = t.node!.inputs;
    if (next < ins.length) {
      top[1] = next + 1;
      if (!visited.has(ins[next].id)) stack.push([ins[next], 0]);
      continue;
    }
    stack.pop();
    if (ins.some((x) => relevant.has(x.id))) {
      relevant.add(t.id);
      order.push(t);
    }
  }
  order.sort((a, b) => a.id - b.id);
  return { order, relevant };
}

function accumulate(map: Map<number, Tensor>, x: Tensor, value: Tensor): void {
  const prev = map.get(x.id);
  map.set(x.id, prev === undefined ? value : add(prev, value));
}

/**
 * Reverse walk: cotangents of `inputs` given cotangents of `outputs` (null = no path). Cotangents
 * of intermediate `targets` are written to `reached` when given.
 */
function backward(
  trace: Trace, inputs: readonly Tensor[], outputs: readonly Tensor[], cotangents: readonly Tensor[],
  targets: readonly Tensor[] = [], reached?: (Tensor | null)[], inputsNeeded = true,
  walk: Walk = relevantNodes(trace, inputs, outputs),
): (Tensor | null)[] {
  const { order, relevant: onPath } = walk;
  const inputIds = new Set(inputs.map((x) => x.id));
  // When only the targets' cotangents are wanted, walk just the part of the graph downstream of
  // them: a rule then skips e.g. the weight gradient of a matmul whose weight feeds a target.
  let relevant = onPath;
  if (!inputsNeeded) {
    relevant = new Set(targets.map((t) => t.id));
    for (const t of order) if (t.node?.inputs.some((x) => relevant.has(x.id))) relevant.add(t.id);
  }
  const cts = new Map<number, Tensor>();
  outputs.forEach((o, i) => {
    if (relevant.has(o.id) && isFloat(o.dtype)) accumulate(cts, o, cotangents[i]);
  });
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    if (inputIds.has(t.id)) continue;
    const ct = cts.get(t.id);
    if (ct === undefined || !isFloat(t.dtype)) continue;
    const node = t.node!;
    const needed = node.inputs.map((x) => relevant.has(x.id) && isFloat(x.dtype));
    const grads = node.primitive.vjp(ct, node.inputs, node.params, t, needed);
    node.inputs.forEach((x, j) => {
      const g = grads[j];
      if (!needed[j] || g === null || g === undefined) return;
      const fitted = shapesEqual(g.shape, x.shape) ? g : sumToShape(g, x.shape);
      if (!shapesEqual(fitted.shape, x.shape) || fitted.dtype !== x.dtype) {
        throw new Error(`vjp rule of ${node.primitive.name} returned ${fitted.dtype}${formatShape(fitted.shape)} for an input ${x.dtype}${formatShape(x.shape)}`);
      }
      accumulate(cts, x, fitted);
    });
  }
  if (reached) targets.forEach((t, i) => (reached[i] = cts.get(t.id) ?? null));
  return inputs.map((x) => cts.get(x.id) ?? null);
}

/** Forward walk: tangents of `outputs` given tangents of `inputs` (null = symbolic zero). */
function forward(
  trace: Trace, inputs: readonly Tensor[], tangents: readonly (Tensor | null)[], outputs: readonly Tensor[],
  walk: Walk = relevantNodes(trace, inputs, outputs),
): (Tensor | null)[] {
  const { order } = walk;
  const inputIds = new Set(inputs.map((x) => x.id));
  const tans = new Map<number, Tensor>();
  inputs.forEach((x, i) => {
    const t = tangents[i];
    if (t !== null) tans.set(x.id, t);
  });
  for (const t of order) {
    if (inputIds.has(t.id) || !isFloat(t.dtype)) continue;
    const node = t.node!;
    const ts = node.inputs.map((x) => tans.get(x.id) ?? null);
    if (ts.every((v) => v === null)) continue;
    const out = node.primitive.jvp(node.inputs, ts, node.params, t);
    if (out === null) continue;
    tans.set(t.id, shapesEqual(out.shape, t.shape) ? out : broadcastTo(out, t.shape));
  }
  return outputs.map((o) => tans.get(o.id) ?? null);
}

function checkLike(op: string, what: string, given: Tensor, like: Tensor): void {
  if (!(given instanceof Tensor)) throw new Error(`${op}: ${what} must be a tensor, got ${typeof given}`);
  if (!shapesEqual(given.shape, like.shape) || given.dtype !== like.dtype) {
    throw new Error(`${op}: ${what} is ${given.dtype}${formatShape(given.shape)} but must match ${like.dtype}${formatShape(like.shape)}`);
  }
}

/**
 * The pullback of a traced call: maps an output cotangent (a tree shaped like the output R) to one
 * cotangent tree per primal argument, each shaped like its argument (the tuple A).
 */
export type VjpFn<A extends readonly unknown[] = unknown[], R = unknown> = ((cotangent: R) => A) & { dispose(): void };

/** Any function of tensors and trees of tensors (the drivers infer its parameters and result). */
export type DifferentiableFn<A extends readonly unknown[] = never[], R = unknown> = (...args: A) => R;

/** Positions of the differentiated arguments: one index, or a tuple of them. */
export type Argnums = number | readonly number[];

/**
 * The gradient trees for `argnums` N of a function with parameters A: a gradient has the type of
 * its argument (same tree, tensor leaves replaced by gradients of the same shape); a tuple of
 * argnums gives a tuple of gradients.
 */
export type GradsOf<A extends readonly unknown[], N extends Argnums> = N extends number
  ? A[N]
  : { -readonly [K in keyof N]: A[N[K] & number] };

/** The aux output of a `hasAux` function returning [scalar, aux]. */
export type AuxOf<R> = R extends readonly [unknown, infer X] ? X : never;

/**
 * A tangent for a primal argument of type T: a tree of the same structure whose tensor leaves (or
 * whole subtrees) may be null, symbolic zeros. Checked against the primal at run time.
 */
export type TangentOf<T> = T | Tree<Tensor | null>;

/**
 * Reverse mode: evaluates f at the primals and returns its output and a function mapping an
 * output cotangent (same tree structure) to one cotangent tree per primal.
 * The traced graph lives until `vjpFn.dispose()` or until the enclosing tidy closes.
 * @example const [y, back] = vjp((x) => mul(x, x), x); const [dx] = back(onesLike(y));
 */
export function vjp<A extends unknown[], R>(f: DifferentiableFn<A, R>, ...primals: A): [R, VjpFn<A, R>] {
  const argnums = primals.map((_, i) => i);
  const { trace, inputs, out, outLeaves } = traceCall('vjp', f, primals, argnums);
  const inputFlats = primals.map(flatten);
  const outFlat = flatten(out);
  // The graph does not change between calls (NTK-vector products call this many times): find
  // the relevant nodes once.
  let walk: Walk | undefined;
  const vjpFn = ((cotangent: unknown) => {
    if (trace.released) throw new Error('vjp: this vjp function was disposed');
    const ctLeaves = flatten(cotangent).leaves;
    if (ctLeaves.length !== outLeaves.length) {
      throw new Error(`vjp: the cotangent has ${ctLeaves.length} tensors but the output has ${outLeaves.length}`);
    }
    ctLeaves.forEach((c, i) => checkLike('vjp', `cotangent ${i}`, c, outLeaves[i]));
    return tidy(() => {
      walk ??= relevantNodes(trace, inputs, outLeaves);
      const grads = backward(trace, inputs, outLeaves, ctLeaves, [], undefined, true, walk);
      const filled = grads.map((g, i) => g ?? zerosLike(inputs[i]));
      let offset = 0;
      return inputFlats.map((fl) => {
        const part = filled.slice(offset, offset + fl.leaves.length);
        offset += fl.leaves.length;
        return fl.unflatten(part);
      });
    });
  }) as VjpFn<A, R>;
  vjpFn.dispose = () => finish(trace, outFlat.leaves);
  track({ dispose: vjpFn.dispose });
  return [out as R, vjpFn];
}

export interface GradOptions<N extends Argnums = Argnums, H extends boolean = boolean> {
  /** Which positional arguments to differentiate (default 0); an array gives a tuple of gradients. */
  argnums?: N;
  /** f returns [scalar, aux]; aux is passed through untouched. */
  hasAux?: H;
}

/**
 * Returns a function computing [value, gradient] of a scalar-valued f.
 * @example const [loss, g] = valueAndGrad((p) => sum(square(p.w)))({ w });
 */
export function valueAndGrad<A extends unknown[], R, const N extends Argnums = 0, const H extends boolean = false>(
  f: DifferentiableFn<A, R>,
  opts: GradOptions<N, H> = {},
): (...args: A) => [R, GradsOf<A, N>] {
  const argnums = opts.argnums === undefined ? [0] : typeof opts.argnums === 'number' ? [opts.argnums] : [...(opts.argnums as readonly number[])];
  return (...args: A) => {
    const traced = traceCall('grad', f, args, argnums);
    const { trace, inputs } = traced;
    let value: unknown;
    let aux: unknown;
    let grads: unknown;
    try {
      if (opts.hasAux) {
        if (!Array.isArray(traced.out) || traced.out.length !== 2) throw new Error('grad: with hasAux the function must return [scalar, aux]');
        [value, aux] = traced.out;
      } else value = traced.out;
      if (!(value instanceof Tensor) || value.size !== 1) {
        const what = value instanceof Tensor ? `a tensor of shape ${formatShape(value.shape)}` : typeof value;
        throw new Error(`grad: the function must return a scalar (size-1) tensor, got ${what}; use vjp for other outputs`);
      }
      const scalarOut = value;
      grads = tidy(() => {
        const gs = backward(trace, inputs, [scalarOut], [onesLike(scalarOut)]).map((g, i) => g ?? zerosLike(inputs[i]));
        let offset = 0;
        const trees = argnums.map((i) => {
          const fl = flatten(args[i]);
          const part = gs.slice(offset, offset + fl.leaves.length);
          offset += fl.leaves.length;
          return fl.unflatten(part);
        });
        return typeof opts.argnums === 'object' ? trees : trees[0];
      });
    } finally {
      finish(trace, [value, aux]);
    }
    // With hasAux the value is the [scalar, aux] pair f returned, i.e. R either way.
    return [(opts.hasAux ? [value, aux] : value) as R, grads as GradsOf<A, N>];
  };
}

/** Gradient of a scalar-valued f w.r.t. its first argument (or `argnums`). */
export function grad<A extends unknown[], R, const N extends Argnums = 0, const H extends boolean = false>(
  f: DifferentiableFn<A, R>,
  opts: GradOptions<N, H> = {},
): (...args: A) => H extends true ? [GradsOf<A, N>, AuxOf<R>] : GradsOf<A, N> {
  const vg = valueAndGrad(f, opts);
  type Out = H extends true ? [GradsOf<A, N>, AuxOf<R>] : GradsOf<A, N>;
  return (...args: A) => {
    const [value, g] = vg(...args);
    if (opts.hasAux) {
      const [scalar, aux] = value as readonly [unknown, AuxOf<R>];
      dispose(scalar);
      return [g, aux] as Out;
    }
    dispose(value);
    return g as Out;
  };
}

/**
 * Forward mode: returns [f(primals), J(primals) tangents]. primals and tangents are arrays with
 * one tree per argument of f; a tangent leaf may be null (a symbolic zero that costs nothing).
 * @example const [y, dy] = jvp((x) => tanh(x), [x], [v]);
 */
export function jvp<A extends unknown[], R>(f: DifferentiableFn<A, R>, primals: A, tangents: { [K in keyof A]: TangentOf<A[K]> }): [R, R] {
  if (!Array.isArray(primals) || !Array.isArray(tangents) || primals.length !== tangents.length) {
    throw new Error('jvp: primals and tangents must be arrays with one entry per argument of f');
  }
  const tangentLeaves: (Tensor | null)[] = [];
  primals.forEach((p, i) => {
    const pl = flatten(p).leaves;
    const tl = flattenTangents('jvp', tangents[i], p, `argument ${i}`);
    tl.forEach((t, j) => {
      if (t === null) return;
      if (pl[j] instanceof Tensor && !isFloat(pl[j].dtype)) {
        throw new Error(`jvp: argument ${i} leaf ${j} is ${pl[j].describe()}: int32 is not differentiable, pass null as its tangent`);
      }
      checkLike('jvp', `tangent of argument ${i} leaf ${j}`, t, pl[j]);
    });
    tangentLeaves.push(...tl);
  });
  const traced = traceCall('jvp', f, primals, primals.map((_, i) => i));
  const { trace, inputs, out, outLeaves } = traced;
  let tangentOut: unknown;
  try {
    tangentOut = tidy(() => {
      const ts = forward(trace, inputs, tangentLeaves, outLeaves);
      return flatten(out).unflatten(ts.map((t, i) => t ?? zerosLike(outLeaves[i])));
    });
  } finally {
    finish(trace, out);
  }
  return [out as R, tangentOut as R];
}

/** Flattens a tangent tree alongside its primal tree; a tangent leaf (or subtree) may be null, a symbolic zero. */
export function flattenTangents(op: string, tangent: unknown, primal: unknown, where: string): (Tensor | null)[] {
  const out: (Tensor | null)[] = [];
  const walk = (t: unknown, p: unknown, path: string): void => {
    if (p instanceof Tensor) {
      if (t === null || t === undefined) out.push(null);
      else if (t instanceof Tensor) out.push(t);
      else throw new Error(`${op}: tangent at ${path} must be a tensor or null, got ${typeof t}`);
    } else if (Array.isArray(p)) {
      if (t === null || t === undefined) return p.forEach((q, i) => walk(null, q, `${path}[${i}]`));
      if (!Array.isArray(t) || t.length !== p.length) throw new Error(`${op}: tangent at ${path} must be an array of length ${p.length}`);
      p.forEach((q, i) => walk(t[i], q, `${path}[${i}]`));
    } else if (p !== null && typeof p === 'object') {
      const keys = Object.keys(p).sort();
      if (t !== null && t !== undefined && (typeof t !== 'object' || Object.keys(t).sort().join() !== keys.join())) {
        throw new Error(`${op}: tangent at ${path} must have the keys {${keys.join(', ')}}`);
      }
      for (const k of keys) walk(t == null ? null : (t as Record<string, unknown>)[k], (p as Record<string, unknown>)[k], `${path}.${k}`);
    }
  };
  walk(tangent, primal, where);
  return out;
}

/**
 * A recorded graph opened up for repeated walks and structure-aware transformations (the
 * linearized network, the structured NTK): the trace's input variables, its nodes in topological
 * order, forward walks (JVPs) and reverse walks (VJPs) that also report cotangents of chosen
 * intermediate tensors. The graph is traced once; every walk reuses it, so f is not re-run.
 * Walks are written with ops, so an enclosing transformation traces them (grad through
 * `tangents` trains a linearized model).
 */
export interface TracedGraph {
  /** One identity-wrapped variable per leaf of the differentiated arguments, in tree order. */
  readonly inputs: readonly Tensor[];
  readonly out: unknown;
  readonly outLeaves: readonly Tensor[];
  /** Nodes on a path from the inputs to the outputs (inputs included), in topological order. */
  nodes(): Tensor[];
  /**
   * Tangents of the output leaves for tangents of the inputs (one per input, null = a symbolic
   * zero that costs nothing): a forward walk with each primitive's JVP rule. An output that does
   * not depend on any non-null tangent gets null.
   */
  tangents(inputTangents: readonly (Tensor | null)[]): (Tensor | null)[];
  /**
   * Cotangents of `targets` (and of the inputs) for the given output cotangents. With
   * `inputs: false` only the targets' cotangents are computed (cheaper) and `inputs` is all null.
   */
  cotangents(outputCotangents: readonly Tensor[], targets: readonly Tensor[], opts?: { inputs?: boolean }): { targets: (Tensor | null)[]; inputs: (Tensor | null)[] };
  /**
   * Frees what the trace created except the outputs and the tensors in `keep` (with
   * `{ scoped: false }`: the outputs too, unless kept). Idempotent. Disposing while another
   * transformation records hands the tensors to it, so its walks can still read them.
   */
  dispose(keep?: unknown): void;
}

export interface TraceGraphOptions {
  /**
   * true (default): the graph is freed when the enclosing tidy closes, like a vjp function.
   * false: it lives until `dispose()` whatever the scopes (a cache that outlives the calls that
   * fill it), and `dispose()` frees its outputs too.
   */
  scoped?: boolean;
}

export function traceGraph<A extends unknown[]>(f: DifferentiableFn<A>, args: A, argnums: readonly number[], opts: TraceGraphOptions = {}): TracedGraph {
  const scoped = opts.scoped ?? true;
  const { trace, inputs, out, outLeaves } = traceCall('traceGraph', f, args, argnums);
  let walk: Walk | undefined;
  const walkOnce = (): Walk => {
    if (trace.released) throw new Error('traceGraph: the traced graph was disposed');
    return (walk ??= relevantNodes(trace, inputs, outLeaves));
  };
  const graph: TracedGraph = {
    inputs,
    out,
    outLeaves,
    nodes() {
      return walkOnce().order;
    },
    tangents(inputTangents) {
      const w = walkOnce();
      if (inputTangents.length !== inputs.length) {
        throw new Error(`traceGraph: ${inputTangents.length} input tangents for ${inputs.length} inputs`);
      }
      inputTangents.forEach((t, i) => {
        if (t !== null) checkLike('traceGraph', `tangent ${i}`, t, inputs[i]);
      });
      return forward(trace, inputs, inputTangents, outLeaves, w);
    },
    cotangents(outputCotangents, targets, opts = {}) {
      const w = walkOnce();
      if (outputCotangents.length !== outLeaves.length) {
        throw new Error(`traceGraph: ${outputCotangents.length} output cotangents for ${outLeaves.length} outputs`);
      }
      outputCotangents.forEach((c, i) => checkLike('traceGraph', `cotangent ${i}`, c, outLeaves[i]));
      const reached: (Tensor | null)[] = new Array(targets.length).fill(null);
      const ins = backward(trace, inputs, outLeaves, outputCotangents, targets, reached, opts.inputs ?? true, w);
      return { targets: reached, inputs: ins };
    },
    dispose: (keep?: unknown) => {
      if (trace.released) return;
      const kept = new Set<Disposable>();
      collectDisposables(scoped ? [outLeaves, keep] : keep, kept);
      // Values the caller keeps that a composite's own tidy freed while pinned come back into its scope.
      const rescue = new Set<Disposable>();
      collectDisposables(keep, rescue);
      // Ops recorded by a transformation still recording may read this graph's tensors (a walk
      // ran inside it): it adopts what is freed here and frees it when its own walks are done.
      if (isRecording()) pinToRecordingTraces(trace.pinned.filter((t) => !kept.has(t)));
      for (const t of trace.pinned) if (!kept.has(t)) t.dispose();
      for (const t of rescue) if (t instanceof Tensor) t.reclaim();
      releaseTrace(trace);
      if (!scoped) for (const o of outLeaves) if (!kept.has(o)) o.dispose();
    },
  };
  if (scoped) track({ dispose: () => graph.dispose() });
  return graph;
}
