/**
 * A seeded, splittable counter-based PRNG (Threefry-2x32 with 20 rounds, as in JAX). Keys are
 * plain values; every random tensor is a pure function of (key, shape), computed bit-exactly the
 * same on every backend, so a float32 run on WebGPU and a float64 reference run on the CPU draw
 * the same numbers (uniforms are multiples of 2^-23, exact in both dtypes).
 */
import { getBackend } from './backend-registry.ts';
import type { Backend } from './backend.ts';
import { allocate, isFloat, type DType } from './dtype.ts';
import { tensor } from './ops.ts';
import { checkShape, sizeOf, type Shape } from './shape.ts';
import type { Tensor } from './tensor.ts';

/** A PRNG key: two 32-bit words. */
export interface Key {
  readonly k0: number;
  readonly k1: number;
}

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24];

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** Threefry-2x32: encrypts the counter pair (c0, c1) under the key; writes two words into out. */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number, out: Uint32Array, at: number): void {
  const k2 = (k0 ^ k1 ^ 0x1bd11bda) >>> 0;
  const ks = [k0 >>> 0, k1 >>> 0, k2];
  let x0 = (c0 + ks[0]) >>> 0;
  let x1 = (c1 + ks[1]) >>> 0;
  for (let block = 0; block < 5; block++) {
    for (let r = 0; r < 4; r++) {
      x0 = (x0 + x1) >>> 0;
      x1 = rotl(x1, ROTATIONS[(block % 2) * 4 + r]) ^ x0;
    }
    x0 = (x0 + ks[(block + 1) % 3]) >>> 0;
    x1 = (x1 + ks[(block + 2) % 3] + block + 1) >>> 0;
  }
  out[at] = x0;
  out[at + 1] = x1;
}

const isWord = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;

/**
 * Throws naming the op unless `k` is a key: two integer words in [0, 2^32). A malformed key
 * (words out of range, fractional, missing) would otherwise be wrapped silently by the 32-bit
 * arithmetic into some other, valid key.
 */
export function checkKey(op: string, k: unknown): asserts k is Key {
  const ok = k !== null && typeof k === 'object' && isWord((k as Key).k0) && isWord((k as Key).k1);
  if (!ok) {
    const shown = k !== null && typeof k === 'object' ? JSON.stringify(k) : String(k);
    throw new Error(`${op}: invalid PRNG key ${shown}: a key is { k0, k1 } with integer words in [0, 2^32); make one with key(seed), split or foldIn`);
  }
}

/** @example const k = key(0); const [k1, k2] = split(k); */
export function key(seed: number): Key {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`key: seed must be an integer in [0, 2^32), got ${seed}`);
  return { k0: 0, k1: seed >>> 0 };
}

/** n independent keys derived from one. */
export function split(k: Key, n = 2): Key[] {
  checkKey('split', k);
  if (!Number.isInteger(n) || n < 1) throw new Error(`split: n must be a positive integer, got ${n}`);
  const words = randomBits(k, 2 * n);
  return Array.from({ length: n }, (_, i) => ({ k0: words[2 * i], k1: words[2 * i + 1] }));
}

/** A key folded with a number (e.g. a step or layer index). */
export function foldIn(k: Key, data: number): Key {
  checkKey('foldIn', k);
  if (!isWord(data)) throw new Error(`foldIn: data must be an integer in [0, 2^32), got ${data}`);
  const out = new Uint32Array(2);
  threefry2x32(k.k0, k.k1, data >>> 0, 0, out, 0);
  return { k0: out[0], k1: out[1] };
}

/** n raw 32-bit words: word i is half of the Threefry block of counter floor(i / 2). */
export function randomBits(k: Key, n: number): Uint32Array {
  checkKey('randomBits', k);
  if (!Number.isInteger(n) || n < 0) throw new Error(`randomBits: n must be a non-negative integer, got ${n}`);
  const out = new Uint32Array(n + (n % 2));
  for (let i = 0; i < out.length; i += 2) threefry2x32(k.k0, k.k1, i >>> 1, 0, out, i);
  return n % 2 ? out.subarray(0, n) : out;
}

/** Uniform in [0, 1) on the grid of multiples of 2^-23 (exact in float32). */
export function uniformValues(k: Key, n: number): Float64Array {
  const bits = randomBits(k, n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (bits[i] >>> 9) * 2 ** -23;
  return out;
}

/** Standard normals by Box–Muller on pairs of uniforms. */
export function normalValues(k: Key, n: number): Float64Array {
  const u = uniformValues(k, n + (n % 2));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    // 1 - u lies in (0, 1], so the log is finite.
    const r = Math.sqrt(-2 * Math.log(1 - u[i]));
    const theta = 2 * Math.PI * u[i + 1];
    out[i] = r * Math.cos(theta);
    if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

function fromValues(values: Float64Array, shape: Shape, dtype: DType, backend: Backend): Tensor {
  if (!isFloat(dtype)) throw new Error(`random: samples are floats; ${dtype} is not a float dtype (float32 or float64)`);
  const data = allocate(dtype, values.length);
  data.set(values);
  return tensor(data, shape, dtype, backend);
}

/** Standard normal samples. @example normal(key(0), [3, 4]) */
export function normal(k: Key, shape: Shape, dtype: DType = 'float32', backend: Backend = getBackend()): Tensor {
  checkKey('normal', k);
  checkShape('normal', shape);
  return fromValues(normalValues(k, sizeOf(shape)), shape, dtype, backend);
}

/** Uniform samples in [low, high). */
export function uniform(k: Key, shape: Shape, dtype: DType = 'float32', low = 0, high = 1, backend: Backend = getBackend()): Tensor {
  checkKey('uniform', k);
  checkShape('uniform', shape);
  const v = uniformValues(k, sizeOf(shape));
  for (let i = 0; i < v.length; i++) v[i] = low + (high - low) * v[i];
  return fromValues(v, shape, dtype, backend);
}
