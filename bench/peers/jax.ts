/**
 * @jax-js/jax 0.1.25 as a peer, on its Wasm backend (in Node `init('wasm')`: a bare init() throws
 * "navigator is not defined"; one thread unless a browser-style Worker global exists).
 * Its arrays use move semantics: every op consumes its inputs, so callers pass `x.ref` (or
 * `tree.ref(params)`) for anything used again.
 */
import type * as JAX from '@jax-js/jax';

export type Jax = typeof JAX;

let loaded: Promise<Jax> | undefined;

export function loadJax(): Promise<Jax> {
  loaded ??= (async () => {
    const jax = await import('@jax-js/jax');
    const got = await jax.init('wasm');
    if (!got.includes('wasm')) throw new Error(`jax-js: the wasm device did not initialize (got ${got.join(', ')})`);
    jax.defaultDevice('wasm');
    return jax;
  })();
  return loaded;
}

export const JAX_VERSION = '0.1.25';
