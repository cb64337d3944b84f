/**
 * Parameter trees: nested arrays and plain objects whose leaves are tensors. Autodiff and
 * linearize/ flatten them to leaf lists and rebuild the same structure from new leaves.
 */
import { Tensor } from './tensor.ts';

export type Tree<L = Tensor> = L | readonly Tree<L>[] | { readonly [key: string]: Tree<L> } | null | undefined | number | string | boolean;

export interface Flat {
  readonly leaves: Tensor[];
  /** Rebuilds the tree with new leaves in the same order (the caller knows the tree's type). */
  unflatten<T>(leaves: readonly T[]): unknown;
}

/** Object keys are visited in sorted order so two trees with the same keys flatten alike. */
export function flatten(tree: unknown): Flat {
  const leaves: Tensor[] = [];
  const build = (node: unknown): (next: () => unknown) => unknown => {
    if (node instanceof Tensor) {
      leaves.push(node);
      return (next) => next();
    }
    if (Array.isArray(node)) {
      const parts = node.map(build);
      return (next) => parts.map((p) => p(next));
    }
    if (node !== null && typeof node === 'object' && Object.getPrototypeOf(node) === Object.prototype) {
      const keys = Object.keys(node).sort();
      const parts = keys.map((k) => build((node as Record<string, unknown>)[k]));
      return (next) => Object.fromEntries(keys.map((k, i) => [k, parts[i](next)]));
    }
    if (node === null || node === undefined || typeof node === 'number' || typeof node === 'string' || typeof node === 'boolean') {
      return () => node;
    }
    throw new Error(`tree: unsupported leaf of type ${Object.prototype.toString.call(node)} (use tensors, arrays and plain objects)`);
  };
  const rebuild = build(tree);
  const count = leaves.length;
  return {
    leaves,
    unflatten<T>(newLeaves: readonly T[]) {
      if (newLeaves.length !== count) throw new Error(`tree: expected ${count} leaves, got ${newLeaves.length}`);
      let i = 0;
      return rebuild(() => newLeaves[i++]);
    },
  };
}

/**
 * Applies fn to every tensor leaf; tensors in, tensors out keeps the tree's type.
 * @example treeMap(params, (p) => mul(p, 2))
 */
export function treeMap<T>(tree: T, fn: (leaf: Tensor, index: number) => Tensor): T;
export function treeMap<R>(tree: unknown, fn: (leaf: Tensor, index: number) => R): Tree<R>;
export function treeMap<R>(tree: unknown, fn: (leaf: Tensor, index: number) => R): unknown {
  const flat = flatten(tree);
  return flat.unflatten(flat.leaves.map(fn));
}

/** Combines leaves of trees with identical structure; tensors in, tensors out keeps the trees' type. */
export function treeZip<T>(trees: readonly T[], fn: (leaves: Tensor[], index: number) => Tensor): T;
export function treeZip<R>(trees: readonly unknown[], fn: (leaves: Tensor[], index: number) => R): Tree<R>;
export function treeZip<R>(trees: readonly unknown[], fn: (leaves: Tensor[], index: number) => R): unknown {
  const flats = trees.map(flatten);
  const n = flats[0].leaves.length;
  for (const f of flats) {
    if (f.leaves.length !== n) throw new Error(`treeZip: trees have different numbers of leaves (${flats.map((g) => g.leaves.length).join(' vs ')})`);
  }
  return flats[0].unflatten(flats[0].leaves.map((_, i) => fn(flats.map((f) => f.leaves[i]), i)));
}

export function treeLeaves(tree: unknown): Tensor[] {
  return flatten(tree).leaves;
}
