/**
 * Combinators that build networks out of layers, after stax: serial (composition), parallel
 * (one layer per input of a list), fanOut (copies), fanInSum, fanInProd and fanInConcat (merges).
 * A residual block is serial(fanOut(2), parallel(main, shortcut), fanInSum()).
 *
 * Parameter layout: serial and parallel return an array with one entry per child layer (the
 * child's own tree, `null` for parameter-free children); fanOut / fanIn* have `null`.
 *
 * Kernel rules: serial chains its children's rules, parallel maps them over the list, fanOut
 * copies the kernel, fanInSum adds the kernels of independent branches, fanInConcat (channel
 * axis) averages them weighted by channel counts (models/kernels/rules.ts).
 */
import type { DType, Key, Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import {
  checkInputList,
  checkShapeList,
  formatActivation,
  formatShapeTree,
  isSingleShape,
  type Activation,
  type AnyLayer,
  type ApplyOptions,
  type InitResult,
  type Layer,
  type OutputOf,
  type Params,
  type ShapeTree,
} from './layer.ts';
import { withKernel, type KernelLayer } from './kernels/kernel-fn.ts';
import type { KernelRule } from './kernels/state.ts';
import { fanInConcatRule, fanInProdRule, fanInSumRule, fanOutRule, parallelRule, serialRule } from './kernels/rules.ts';

/** Prefixes a child's error with where it sits, keeping the child's own message (which names the child). */
function rethrowIn(where: string, e: unknown): never {
  const msg = e instanceof Error ? e.message : String(e);
  throw new Error(`${where}: ${msg}`, { cause: e });
}

/**
 * The apply options of each of n children: the key split into n (stax's rng handling in serial
 * and parallel), the rest passed on unchanged.
 */
function childOptions(opts: ApplyOptions | undefined, n: number): (ApplyOptions | undefined)[] {
  if (opts === undefined) return Array.from({ length: n }, () => undefined);
  if (opts === null || typeof opts !== 'object') throw new Error(`apply: options must be an object, got ${String(opts)}`);
  if (opts.key === undefined || n === 0) return Array.from({ length: n }, () => opts);
  const keys = tg.split(opts.key, n);
  return keys.map((key) => ({ ...opts, key }));
}

function checkChildParams(name: string, params: Params, n: number): readonly Params[] {
  if (!Array.isArray(params) || params.length !== n) {
    throw new Error(`${name}: params must be an array with one entry per layer (${n}), as returned by init`);
  }
  return params as readonly Params[];
}

function checkLayers(name: string, layers: readonly AnyLayer[]): void {
  layers.forEach((l, i) => {
    if (l === null || typeof l !== 'object' || typeof l.init !== 'function' || typeof l.apply !== 'function') {
      throw new Error(`${name}: argument ${i} is not a layer (an object with init and apply)`);
    }
  });
}

export interface CombinatorHyper {
  readonly layers: readonly AnyLayer[];
}

type LastOutput<L extends readonly AnyLayer[]> = L extends readonly [...AnyLayer[], infer Last] ? OutputOf<Last> : Activation;

/**
 * Composition: the output of each layer feeds the next. Keys: one per layer from tg.split.
 * @example
 * const net = serial(Dense(512, { W_std: 1.5 }), Erf(), Dense(1));
 * const { params } = net.init(tg.key(0), [-1, 10]); // params = [{ W }, null, { W }]
 */
export function serial<const L extends readonly AnyLayer[]>(...layers: L): KernelLayer<CombinatorHyper, LastOutput<L>> {
  checkLayers('serial', layers);
  const hyper: CombinatorHyper = Object.freeze({ layers: Object.freeze([...layers]) });
  const layer: Layer<CombinatorHyper, LastOutput<L>> = {
    name: 'serial',
    hyper,
    init(key: Key, inputShape: ShapeTree, dtype?: DType): InitResult {
      const keys = layers.length > 0 ? tg.split(key, layers.length) : [];
      const params: Params[] = [];
      let shape = inputShape;
      try {
        layers.forEach((layer, i) => {
          let r: InitResult;
          try {
            r = layer.init(keys[i], shape, dtype);
          } catch (e) {
            rethrowIn(`serial: layer ${i} (${layer.name})`, e);
          }
          params.push(r.params);
          shape = r.outputShape;
        });
      } catch (e) {
        // Children initialized before the failure own tensors nobody will ever see: free them.
        tg.dispose(params);
        throw e;
      }
      return { params, outputShape: shape };
    },
    apply(params: Params, x: Activation, opts?: ApplyOptions): LastOutput<L> {
      const ps = checkChildParams('serial', params, layers.length);
      const os = childOptions(opts, layers.length);
      // In a tidy: the activations between layers are freed, only the output is returned.
      return tg.tidy(() => {
        let h = x;
        layers.forEach((layer, i) => {
          try {
            h = layer.apply(ps[i], h, os[i]);
          } catch (e) {
            rethrowIn(`serial: layer ${i} (${layer.name})`, e);
          }
        });
        return h as LastOutput<L>;
      });
    },
  };
  return withKernel(layer, serialRule(layers));
}

/**
 * Applies layer i to input i of a list; returns the list of outputs. Keys: one per layer.
 * @example serial(fanOut(2), parallel(Dense(8), Identity()), fanInConcat()) // [N, d] -> [N, 8 + d]
 */
export function parallel(...layers: readonly AnyLayer[]): KernelLayer<CombinatorHyper, readonly Activation[]> {
  checkLayers('parallel', layers);
  if (layers.length === 0) throw new Error('parallel: needs at least one layer');
  const hyper: CombinatorHyper = Object.freeze({ layers: Object.freeze([...layers]) });
  return withKernel({
    name: 'parallel',
    hyper,
    init(key: Key, inputShape: ShapeTree, dtype?: DType): InitResult {
      const shapes = checkShapeList('parallel', inputShape, layers.length);
      const keys = tg.split(key, layers.length);
      const params: Params[] = [];
      const outputShape: ShapeTree[] = [];
      try {
        layers.forEach((layer, i) => {
          let r: InitResult;
          try {
            r = layer.init(keys[i], shapes[i], dtype);
          } catch (e) {
            rethrowIn(`parallel: branch ${i} (${layer.name})`, e);
          }
          params.push(r.params);
          outputShape.push(r.outputShape);
        });
      } catch (e) {
        tg.dispose(params);
        throw e;
      }
      return { params, outputShape };
    },
    apply(params: Params, x: Activation, opts?: ApplyOptions): readonly Activation[] {
      const xs = checkInputList('parallel', x, layers.length);
      const ps = checkChildParams('parallel', params, layers.length);
      const os = childOptions(opts, layers.length);
      return layers.map((layer, i) => {
        try {
          return layer.apply(ps[i], xs[i], os[i]);
        } catch (e) {
          return rethrowIn(`parallel: branch ${i} (${layer.name})`, e);
        }
      });
    },
  }, parallelRule(layers));
}

/**
 * n copies of the input (the same tensor object: gradients accumulate over the copies).
 * @example fanOut(2).apply(null, x) // [x, x]
 */
export function fanOut(n: number): KernelLayer<{ readonly n: number }, readonly Activation[]> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`fanOut: n must be a positive integer, got ${n}`);
  return withKernel({
    name: 'fanOut',
    hyper: Object.freeze({ n }),
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      if (!Array.isArray(inputShape)) throw new Error(`fanOut(${n}): expected an input shape, got ${String(inputShape)}`);
      return { params: null, outputShape: Array.from({ length: n }, () => inputShape) };
    },
    apply(_params: Params, x: Activation): readonly Activation[] {
      return Array.from({ length: n }, () => x);
    },
  }, fanOutRule(n));
}

function checkSingleShapes(name: string, shapes: readonly ShapeTree[]): (readonly number[])[] {
  return shapes.map((s, i) => {
    if (!isSingleShape(s)) throw new Error(`${name}: input ${i} must be one tensor, got ${formatShapeTree(s)}`);
    return s;
  });
}

function checkTensors(name: string, xs: readonly Activation[]): Tensor[] {
  return xs.map((x, i) => {
    if (!(x instanceof tg.Tensor)) throw new Error(`${name}: input ${i} must be one tensor, got ${formatActivation(x)}`);
    return x;
  });
}

/** The common shape of a list of same-shape inputs (fanInSum, fanInProd); names the layer otherwise. */
function sameShapes(name: string, inputShape: ShapeTree): number[] {
  const shapes = checkSingleShapes(name, checkShapeList(name, inputShape));
  if (shapes.length === 0) throw new Error(`${name}: expected at least one input shape`);
  const first = shapes[0];
  shapes.forEach((s) => {
    if (s.length !== first.length || s.some((d, j) => d !== first[j])) {
      throw new Error(`${name}: all inputs must have the same shape, got ${formatShapeTree(shapes)}`);
    }
  });
  return [...first];
}

/** A list of same-shape tensors (fanInSum, fanInProd); names the layer otherwise. */
function sameTensors(name: string, x: Activation): Tensor[] {
  const xs = checkTensors(name, checkInputList(name, x));
  xs.forEach((t) => {
    if (t.rank !== xs[0].rank || t.shape.some((d, j) => d !== xs[0].shape[j])) {
      throw new Error(`${name}: all inputs must have the same shape, got ${formatActivation(xs)}`);
    }
  });
  return xs;
}

/** A parameter-free merge of same-shape branches by an elementwise binary op, with its kernel rule. */
function fanInElementwise(name: string, op: (a: Tensor, b: Tensor) => Tensor, rule: KernelRule): KernelLayer<Record<string, never>, Tensor> {
  return withKernel({
    name,
    hyper: Object.freeze({}),
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      return { params: null, outputShape: sameShapes(name, inputShape) };
    },
    apply(_params: Params, x: Activation): Tensor {
      const xs = sameTensors(name, x);
      return tg.tidy(() => xs.reduce((acc, t) => op(acc, t)));
    },
  }, rule);
}

/**
 * Sum of a list of same-shape tensors (the merge of a residual block).
 * @example serial(fanOut(2), parallel(block, Identity()), fanInSum())
 */
export function fanInSum(): KernelLayer<Record<string, never>, Tensor> {
  return fanInElementwise('fanInSum', tg.add, fanInSumRule('fanInSum'));
}

/**
 * Elementwise product of a list of same-shape tensors, as stax.FanInProd; its kernel is the
 * product of the branches' kernels (branches must be independent: each with its own Dense / Conv).
 * @example serial(fanOut(2), parallel(Dense(512), serial(Dense(512), Relu())), fanInProd(), Dense(1))
 */
export function fanInProd(): KernelLayer<Record<string, never>, Tensor> {
  return fanInElementwise('fanInProd', tg.mul, fanInProdRule('fanInProd'));
}

/**
 * Concatenation of a list of tensors along `axis` (default -1, the channel / feature axis; the
 * batch axis 0 is not allowed).
 * @example serial(fanOut(2), parallel(Conv(8, [3, 3], { padding: 'SAME' }), Identity()), fanInConcat())
 */
export function fanInConcat(axis = -1): KernelLayer<{ readonly axis: number }, Tensor> {
  const name = `fanInConcat(${axis})`;
  if (!Number.isInteger(axis)) throw new Error(`${name}: axis must be an integer`);
  const resolve = (rank: number, shapes: string): number => {
    const a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) throw new Error(`${name}: axis ${axis} is out of range for inputs ${shapes}`);
    if (a === 0) throw new Error(`${name}: cannot concatenate along the batch axis 0 (inputs ${shapes})`);
    return a;
  };
  const check = (shapes: readonly (readonly number[])[], text: string): number => {
    const rank = shapes[0].length;
    const a = resolve(rank, text);
    for (const s of shapes) {
      if (s.length !== rank || s.some((d, j) => j !== a && d !== shapes[0][j])) {
        throw new Error(`${name}: inputs must agree on every axis but ${a}, got ${text}`);
      }
    }
    return a;
  };
  return withKernel({
    name: 'fanInConcat',
    hyper: Object.freeze({ axis }),
    init(_key: Key, inputShape: ShapeTree, _dtype?: DType): InitResult {
      const shapes = checkSingleShapes(name, checkShapeList(name, inputShape));
      if (shapes.length === 0) throw new Error(`${name}: expected at least one input shape`);
      const a = check(shapes, formatShapeTree(shapes));
      const out = [...shapes[0]];
      out[a] = shapes.reduce((n, s) => n + s[a], 0);
      return { params: null, outputShape: out };
    },
    apply(_params: Params, x: Activation): Tensor {
      const xs = checkTensors(name, checkInputList(name, x));
      const a = check(xs.map((t) => t.shape), formatActivation(xs));
      return tg.concat(xs, a);
    },
  }, fanInConcatRule(name, axis));
}
