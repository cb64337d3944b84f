/**
 * Explicit memory management that holds for GPU buffers: every tensor is registered in the
 * innermost open `tidy` scope and disposed when the scope closes, unless it is returned from
 * the scope (then it moves to the enclosing scope) or `keep`-ed.
 */
export interface Disposable {
  dispose(): void;
  /** Tensors kept with keep() survive every scope. */
  readonly kept?: boolean;
}

const scopes: Disposable[][] = [];

export function track<T extends Disposable>(x: T): T {
  if (scopes.length > 0) scopes[scopes.length - 1].push(x);
  return x;
}

/**
 * Runs `fn` and disposes every tensor created inside it except those reachable from its result.
 * @example const loss = tidy(() => mse(apply(params, x), y));
 */
export function tidy<R>(fn: () => R): R {
  scopes.push([]);
  let result: R;
  let scope: Disposable[];
  try {
    result = fn();
  } catch (e) {
    // Nothing created in a scope that threw can be returned: free it all.
    for (const x of scopes.pop()!) if (!x.kept) x.dispose();
    throw e;
  }
  scope = scopes.pop()!;
  if (result instanceof Promise) throw new Error('tidy: the function must be synchronous (it returned a Promise)');
  const survivors = new Set<Disposable>();
  collectDisposables(result, survivors);
  for (const x of scope) {
    if (survivors.has(x) || x.kept) continue;
    x.dispose();
  }
  // Survivors belong to the enclosing scope now, so an outer tidy can still free them.
  if (survivors.size > 0) {
    const created = new Set(scope);
    for (const x of survivors) if (created.has(x)) track(x);
  }
  return result;
}

/** Everything with a dispose() method inside nested arrays / plain objects / Maps. */
export function collectDisposables(tree: unknown, out: Set<Disposable>): void {
  if (tree === null || typeof tree !== 'object') return;
  if (typeof (tree as Disposable).dispose === 'function') {
    out.add(tree as Disposable);
    if (!Array.isArray(tree) && Object.getPrototypeOf(tree) !== Object.prototype) return;
  }
  if (Array.isArray(tree)) for (const x of tree) collectDisposables(x, out);
  else if (tree instanceof Map) for (const x of tree.values()) collectDisposables(x, out);
  else if (Object.getPrototypeOf(tree) === Object.prototype) for (const x of Object.values(tree)) collectDisposables(x, out);
}

/** Disposes every tensor in a tree (arrays, plain objects). */
export function dispose(tree: unknown): void {
  const all = new Set<Disposable>();
  collectDisposables(tree, all);
  for (const x of all) x.dispose();
}
