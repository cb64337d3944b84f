/**
 * JAX's function transformations beyond grad / jvp / vjp, built on them (so on every
 * primitive's JVP and VJP rules, and composable with each other and with grad):
 *  - jacfwd: the Jacobian by forward mode, one JVP per input entry (cheap for few inputs);
 *  - jacrev: the Jacobian by reverse mode, one trace and one reverse walk per output entry;
 *  - hessian: jacfwd of jacrev (forward over reverse);
 *  - vmap: maps a function over an axis of its arguments (per-example gradients, per-example
 *    JVPs). It runs the function once per example on slices and stacks the results: the same
 *    values and differentiability as a batched rule, not its speed (the engine has no batching
 *    rules).
 * Jacobians have the output's axes first, then the input's: [...out.shape, ...in.shape]; for a
 * tree argument, a tree of such tensors shaped like the argument.
 */
import { jvp, vjp } from './autodiff.ts';
import { isFloat } from './dtype.ts';
import { tidy } from './memory.ts';
import { concat, pad, ones, reshape, slice, stack, transpose } from './ops.ts';
import { Tensor } from './tensor.ts';
import { flatten, treeMap } from './tree.ts';

/** Options of jacfwd / jacrev / hessian. */
export interface JacobianOptions<N extends number = number> {
  /** Which positional argument to differentiate (default 0). */
  argnums?: N;
}

type AnyFn = (...args: never[]) => unknown;

/** The Jacobian's type for an argument type: a Tensor for a Tensor, the same tree type for a tree. */
export type JacobianOf<T> = T extends Tensor ? Tensor : T;

function checkArgnum(op: string, args: readonly unknown[], argnums: number): void {
  if (!Number.isInteger(argnums) || argnums < 0 || argnums >= args.length) {
    throw new Error(`${op}: argnums ${argnums} is out of range for a call with ${args.length} argument(s)`);
  }
}

function floatLeaves(op: string, arg: unknown): Tensor[] {
  const leaves = flatten(arg).leaves;
  if (leaves.length === 0) throw new Error(`${op}: the differentiated argument has no tensors`);
  for (const l of leaves) if (!isFloat(l.dtype)) throw new Error(`${op}: the differentiated argument has a ${l.dtype} tensor [${l.shape}]; Jacobians need float inputs`);
  return leaves;
}

function singleOutput(op: string, out: unknown): Tensor {
  if (!(out instanceof Tensor)) throw new Error(`${op}: the function must return one Tensor, got ${out === null ? 'null' : Array.isArray(out) ? 'an array' : typeof out}`);
  if (!isFloat(out.dtype)) throw new Error(`${op}: the function returns a ${out.dtype} tensor; Jacobians need float outputs`);
  return out;
}

/** A one-hot tensor shaped like `like` with a 1 at flat index `i`. */
function basis(like: Tensor, i: number): Tensor {
  const n = like.size;
  const flat = pad(ones([1], like.dtype, like.backend), [i], [n - i - 1]);
  return reshape(flat, like.shape);
}

/** Moves the leading `lead` axes of t (of shape [...lead, ...rest]) to the end. */
function leadToEnd(t: Tensor, lead: number): Tensor {
  const r = t.rank;
  if (lead === 0 || lead === r) return t;
  const perm = [...Array.from({ length: r - lead }, (_, i) => lead + i), ...Array.from({ length: lead }, (_, i) => i)];
  return transpose(t, perm);
}

/**
 * The Jacobian of f with respect to argument `argnums` by forward mode.
 * @example const J = jacfwd((x) => tg.tanh(tg.matmul(A, x)))(x); // [...out, ...x.shape]
 */
export function jacfwd<F extends AnyFn, const N extends number = 0>(f: F, opts: JacobianOptions<N> = {}): (...args: Parameters<F>) => JacobianOf<Parameters<F>[N]> {
  const argnums: number = opts.argnums ?? 0;
  return (...args: Parameters<F>) => {
    checkArgnum('jacfwd', args, argnums);
    const arg: unknown = args[argnums];
    const leaves = floatLeaves('jacfwd', arg);
    const call = (a: unknown) => (f as unknown as (...xs: unknown[]) => unknown)(...args.map((x, i) => (i === argnums ? a : x)));
    return tidy(() => {
      let outShape: readonly number[] | undefined;
      const perLeaf = leaves.map((leaf, li) => {
        const columns: Tensor[] = [];
        for (let e = 0; e < leaf.size; e++) {
          const tangent = treeMap(arg, (l, idx) => (idx === li ? basis(l, e) : null));
          const [out, dOut] = jvp((a: unknown) => singleOutput('jacfwd', call(a)), [arg], [tangent as never]);
          outShape = out.shape;
          columns.push(dOut);
        }
        // [leaf.size, ...out] -> [...leaf.shape, ...out] -> [...out, ...leaf.shape]
        const stacked = leaf.size === 0 ? null : stack(columns, 0);
        if (stacked === null) throw new Error('jacfwd: an input leaf has no entries');
        return leadToEnd(reshape(stacked, [...leaf.shape, ...outShape!]), leaf.rank);
      });
      return (arg instanceof Tensor ? perLeaf[0] : flatten(arg).unflatten(perLeaf)) as JacobianOf<Parameters<F>[N]>;
    });
  };
}

/**
 * The Jacobian of f with respect to argument `argnums` by reverse mode.
 * @example const J = jacrev((p) => model(p, x))(params); // tree of [...out, ...leaf.shape]
 */
export function jacrev<F extends AnyFn, const N extends number = 0>(f: F, opts: JacobianOptions<N> = {}): (...args: Parameters<F>) => JacobianOf<Parameters<F>[N]> {
  const argnums: number = opts.argnums ?? 0;
  return (...args: Parameters<F>) => {
    checkArgnum('jacrev', args, argnums);
    const arg: unknown = args[argnums];
    const leaves = floatLeaves('jacrev', arg);
    const call = (a: unknown) => (f as unknown as (...xs: unknown[]) => unknown)(...args.map((x, i) => (i === argnums ? a : x)));
    return tidy(() => {
      const [out, back] = vjp((a: unknown) => singleOutput('jacrev', call(a)), arg);
      const rows: Tensor[][] = leaves.map(() => []);
      for (let o = 0; o < out.size; o++) {
        const [g] = back(basis(out, o));
        flatten(g).leaves.forEach((leaf, li) => rows[li].push(leaf));
      }
      back.dispose();
      const perLeaf = leaves.map((leaf, li) => {
        if (out.size === 0) throw new Error('jacrev: the output has no entries');
        return reshape(stack(rows[li], 0), [...out.shape, ...leaf.shape]);
      });
      return (arg instanceof Tensor ? perLeaf[0] : flatten(arg).unflatten(perLeaf)) as JacobianOf<Parameters<F>[N]>;
    });
  };
}

/**
 * The Hessian of f with respect to a tensor argument: jacfwd(jacrev(f)), shaped
 * [...out.shape, ...x.shape, ...x.shape] ([...x.shape, ...x.shape] for a scalar f).
 * @example const H = hessian((x) => tg.sum(tg.pow(x, 3)))(x); // diag(6 x)
 */
export function hessian<F extends AnyFn>(f: F, opts: JacobianOptions = {}): (...args: Parameters<F>) => Tensor {
  const argnums = opts.argnums ?? 0;
  return (...args: Parameters<F>) => {
    checkArgnum('hessian', args, argnums);
    if (!((args[argnums] as unknown) instanceof Tensor)) throw new Error('hessian: the differentiated argument must be one Tensor (for trees, use jacfwd(jacrev(f)) per leaf)');
    return jacfwd(jacrev(f, { argnums }) as unknown as AnyFn, { argnums })(...(args as never[])) as Tensor;
  };
}

/** Per-argument mapped axis: a number, or null for an argument shared by every example. */
export type InAxes = number | null | readonly (number | null)[];

function canonAxis(op: string, axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= rank) throw new Error(`${op}: ${what} axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Example b of x along axis (the axis removed). */
function exampleOf(x: Tensor, axis: number, b: number): Tensor {
  const begin = x.shape.map((_, i) => (i === axis ? b : 0));
  const end = x.shape.map((d, i) => (i === axis ? b + 1 : d));
  return reshape(slice(x, begin, end), x.shape.filter((_, i) => i !== axis));
}

/**
 * Maps f over an axis of its arguments: `vmap(f, inAxes, outAxes)(...args)` runs f on example b
 * of every mapped argument (the shared ones whole) and stacks each output leaf along `outAxes`.
 * Outputs may be tensors or trees of tensors (e.g. gradient trees).
 * @example
 * const perExampleGrads = vmap((p, x, y) => tg.grad(loss)(p, x, y), [null, 0, 0])(params, xs, ys); // leaves [B, ...]
 * const perExampleJvp = vmap((x, v) => tg.jvp(f, [x], [v])[1])(xs, vs);
 */
export function vmap<F extends AnyFn>(f: F, inAxes: InAxes = 0, outAxes = 0): (...args: Parameters<F>) => ReturnType<F> {
  return (...args: Parameters<F>) => {
    const axes = Array.isArray(inAxes) ? inAxes : args.map(() => inAxes as number | null);
    if (axes.length !== args.length) throw new Error(`vmap: inAxes has ${axes.length} entries for ${args.length} argument(s)`);
    let size: number | undefined;
    const mapped = args.map((arg, ai) => {
      const axis = axes[ai];
      if (axis === null) return null;
      const leaves = flatten(arg).leaves;
      if (leaves.length === 0) throw new Error(`vmap: argument ${ai} is mapped (axis ${axis}) but has no tensors`);
      return leaves.map((leaf) => {
        const a = canonAxis('vmap', axis, leaf.rank, `argument ${ai}'s`);
        if (size === undefined) size = leaf.shape[a];
        else if (leaf.shape[a] !== size) throw new Error(`vmap: mapped axes differ in size: ${size} and ${leaf.shape[a]} (argument ${ai}, shape [${leaf.shape}], axis ${axis})`);
        return a;
      });
    });
    if (size === undefined) throw new Error('vmap: no argument is mapped (every inAxes entry is null)');
    if (size === 0) throw new Error('vmap: the mapped axis has size 0');
    return tidy(() => {
      const results = Array.from({ length: size! }, (_, b) => tidy(() => {
        const exampleArgs = args.map((arg, ai) => {
          const ax = mapped[ai];
          if (ax === null) return arg;
          const flat = flatten(arg);
          return flat.unflatten(flat.leaves.map((leaf, li) => exampleOf(leaf, ax[li], b)));
        });
        return (f as unknown as (...xs: unknown[]) => unknown)(...exampleArgs);
      }));
      const flats = results.map((r) => flatten(r));
      const n = flats[0].leaves.length;
      if (n === 0) throw new Error('vmap: the function returned no tensors');
      const stacked = flats[0].leaves.map((leaf, li) => {
        const parts = flats.map((fl) => fl.leaves[li]);
        const axis = canonAxis('vmap', outAxes, leaf.rank + 1, 'outAxes');
        return axis === 0 ? stack(parts, 0) : concat(parts.map((p) => reshape(p, [...p.shape.slice(0, axis), 1, ...p.shape.slice(axis)])), axis);
      });
      return flats[0].unflatten(stacked) as ReturnType<F>;
    });
  };
}
