/**
 * The layer protocol shared by every model in models/, after neural-tangents' `stax`: a layer is
 * a plain object with a `name`, its hyper-parameters (`hyper`), an `init` that draws parameters
 * for a given input shape, and a pure `apply`. Keeping the name and the hyper-parameters on the
 * object (instead of hiding them in closures) is what lets a later pass add an infinite-width
 * `kernel` rule per layer: it dispatches on `name` and reads `hyper`.
 *
 * Conventions
 * - Shapes include the batch axis first; the batch size may be -1 (unknown at init time), and
 *   stays -1 in the output shape. Other axes are positive integers.
 * - A layer that takes or returns several tensors (fanOut, parallel, fanIn*) uses arrays, both
 *   for activations (`Activation`) and for shapes (`ShapeTree`).
 * - Parameters form ONE tree of plain objects / arrays with tensor leaves, so `tg.grad`, `tg.jvp`
 *   and the optimizers see a single pytree. Layers without parameters use `null` (never `{}`),
 *   combinators use arrays with one entry per child.
 */
import type { DType, Key, Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';
import type { KernelInput, KernelOptions, KernelResult, KernelRule } from './kernels/state.ts';
import type { KernelFn } from './kernels/kernel-fn.ts';
import type { InputAxes } from './layout.ts';

/** A parameter tree: tensor leaves in plain objects and arrays; `null` for "no parameters". */
export type Params = Tensor | null | readonly Params[] | { readonly [name: string]: Params };

/** What flows between layers: one tensor, or a list of activations (after fanOut, into fanIn*). */
export type Activation = Tensor | readonly Activation[];

/** Shapes mirror activations: a shape is a list of numbers, a list of shapes stands for a list of tensors. */
export type ShapeTree = readonly number[] | readonly ShapeTree[];

/** The result of `init`: freshly drawn parameters and the shape `apply` will return. */
export interface InitResult {
  params: Params;
  outputShape: ShapeTree;
}

/**
 * Options of one `apply` call (stax's apply_fn keyword arguments), passed down through the
 * combinators: serial and parallel split `key` into one key per child (as they split init's key),
 * so every stochastic layer in a network draws from its own stream.
 * @example net.apply(params, x, { key: tg.key(7) })   // Dropout active, masks fixed by the key
 * @example net.apply(params, x, { mode: 'test' })     // Dropout is the identity
 */
export interface ApplyOptions {
  /** Randomness for stochastic layers (Dropout in 'train' mode needs one). */
  readonly key?: Key;
  /** Overrides the mode stochastic layers were built with: 'test' turns Dropout into the identity. */
  readonly mode?: 'train' | 'test';
}

/**
 * A stax-style layer. `H` is the type of its hyper-parameters, `O` the type of what `apply`
 * returns (a single tensor for most layers).
 * @example
 * const net = serial(Dense(512, { W_std: Math.SQRT2, b_std: 0.1 }), Relu(), Dense(1));
 * const { params, outputShape } = net.init(tg.key(0), [-1, 784], 'float64'); // outputShape [-1, 1]
 * const f = net.apply(params, x);                                             // Tensor [N, 1]
 */
export interface Layer<H = unknown, O extends Activation = Activation> {
  readonly name: string;
  readonly hyper: H;
  /** Draws parameters for inputs of `inputShape` (dtype default 'float32'). */
  init(key: Key, inputShape: ShapeTree, dtype?: DType): InitResult;
  /**
   * The layer's function; pure (a stochastic layer is a function of `opts.key` too),
   * differentiable in both modes w.r.t. params and input.
   */
  apply(params: Params, x: Activation, opts?: ApplyOptions): O;
  /**
   * Its infinite-width kernel rule (models/kernels/rules.ts): maps the NNGP / NTK kernel state of
   * its input to that of its output. Every layer of models/ has one; a layer without one makes
   * kernel evaluation fail with an error naming it.
   */
  readonly kernelRule?: KernelRule;
  /**
   * The infinite-width NNGP and NTK kernels of this layer (or whole model) between x1 and x2
   * (default x1), as stax's kernel_fn. Present on every layer of models/. Tensors on the inputs'
   * backend and dtype (host arrays: float64 on the CPU); read them with `await t.data()`.
   * @example const { nngp, ntk } = net.kernel!(xTrain, xTest); // tensors [N1, N2]
   */
  kernel?(x1: KernelInput, x2?: KernelInput, opts?: KernelOptions): KernelResult;
  /** stax's `kernel_fn(x1, x2, get)` (models/kernels/kernel-fn.ts `kernelFunction`); present on every layer of models/. */
  readonly kernelFn?: KernelFn;
  /**
   * Where the layer reads the batch and channel axes of its input (stax's batch_axis /
   * channel_axis, Conv's dimension_numbers); set by the layers that read axes, absent on those
   * that do not care (elementwise ones, combinators). The kernel function reads the network
   * input with the axes of the first layer that sets them (models/layout.ts).
   */
  readonly inputAxes?: InputAxes;
}

/** Any layer, whatever its hyper-parameters and output. */
export type AnyLayer = Layer<unknown, Activation>;

/** The type `apply` returns for a layer type. */
export type OutputOf<L> = L extends Layer<unknown, infer O> ? O : never;

// ---------------------------------------------------------------- shape helpers
// The check* helpers below are shared by the layer files and not re-exported from index.ts.

/**
 * Whether a shape tree is a single shape (a list of numbers) rather than a list of shapes.
 * @example isSingleShape([-1, 3]) // true; isSingleShape([[-1, 3], [-1, 4]]) // false
 */
export function isSingleShape(s: ShapeTree): s is readonly number[] {
  return s.length === 0 || typeof s[0] === 'number';
}

/** @example formatShapeTree([[-1, 3], [-1, 4]]) // "([-1,3], [-1,4])" */
export function formatShapeTree(s: ShapeTree): string {
  return isSingleShape(s) ? `[${s.join(',')}]` : `(${(s as readonly ShapeTree[]).map(formatShapeTree).join(', ')})`;
}

export function formatActivation(x: Activation): string {
  return x instanceof tg.Tensor ? `[${x.shape.join(',')}]` : `(${x.map(formatActivation).join(', ')})`;
}

/**
 * Checks an init-time input shape: a single shape of the given rank whose batch axis is a
 * positive integer or -1 and whose other axes are positive integers.
 */
export function checkInputShape(layer: string, s: ShapeTree, rank: number, layout: string, batchAxis = 0): readonly number[] {
  if (!Array.isArray(s) || !isSingleShape(s)) {
    throw new Error(`${layer}: expected one input of shape ${layout}, got ${Array.isArray(s) ? formatShapeTree(s) : String(s)}`);
  }
  if (s.length !== rank) throw new Error(`${layer}: expected input shape ${layout} (rank ${rank}), got ${formatShapeTree(s)}`);
  checkDims(layer, s, batchAxis);
  return s;
}

/**
 * Batch axis (0 unless given; negative counts from the end): positive integer or -1; other axes:
 * positive integers. 'any' (for layers that do not care where the batch axis is, such as
 * elementwise ones) lets -1 stand on any one axis.
 */
export function checkDims(layer: string, s: readonly number[], batchAxis: number | 'any' = 0): void {
  const batch = batchAxis === 'any' ? s.indexOf(-1) : batchAxis < 0 ? batchAxis + s.length : batchAxis;
  s.forEach((d, i) => {
    const ok = Number.isInteger(d) && (d > 0 || (i === batch && d === -1));
    if (!ok) throw new Error(`${layer}: invalid input shape ${formatShapeTree(s)}: axis ${i} must be a positive integer${i === batch ? ' or -1 (unknown batch)' : ''}`);
  });
}

/**
 * Refuses a window of one spatial rank on inputs of the other (a [k] filter on images, a
 * [kh, kw] one on [N, L, C]), naming the layer and the shape; other ranks pass (the rank check
 * that follows names them).
 */
export function checkWindowRank(layer: string, shape: readonly number[], spatialRank: number, what: 'filter' | 'window'): void {
  if (shape.length !== (spatialRank === 1 ? 4 : 3)) return;
  throw new Error(
    spatialRank === 1
      ? `${layer}: a 1-D ${what} [k] takes [N, L, C] inputs, got the rank-4 input [${shape.join(',')}]; images take a ${what} [kh, kw]`
      : `${layer}: a 2-D ${what} [kh, kw] takes images [N, H, W, C], got the rank-3 input [${shape.join(',')}]; 1-D inputs [N, L, C] take a ${what} [k]`,
  );
}

/** Checks an apply-time input: one tensor of the given rank. */
export function checkInputTensor(layer: string, x: Activation, rank: number, layout: string): Tensor {
  if (!(x instanceof tg.Tensor)) throw new Error(`${layer}: expected one input tensor ${layout}, got a list ${formatActivation(x)}`);
  if (x.rank !== rank) throw new Error(`${layer}: expected input ${layout} (rank ${rank}), got [${x.shape.join(',')}]`);
  return x;
}

/** A list input of exactly `n` entries (n = undefined: any length >= 1). */
export function checkInputList(layer: string, x: Activation, n?: number): readonly Activation[] {
  if (x instanceof tg.Tensor || !Array.isArray(x)) throw new Error(`${layer}: expected a list of inputs, got one tensor [${(x as Tensor).shape?.join(',')}]`);
  if (n !== undefined && x.length !== n) throw new Error(`${layer}: expected ${n} inputs, got ${x.length}: ${formatActivation(x)}`);
  if (x.length === 0) throw new Error(`${layer}: expected at least one input, got an empty list`);
  return x;
}

export function checkShapeList(layer: string, s: ShapeTree, n?: number): readonly ShapeTree[] {
  if (!Array.isArray(s)) throw new Error(`${layer}: expected a list of input shapes, got ${String(s)}`);
  const tree = s as ShapeTree;
  if (tree.length === 0 || isSingleShape(tree)) throw new Error(`${layer}: expected a list of input shapes, got one shape ${formatShapeTree(tree)}`);
  const list = tree as readonly ShapeTree[];
  if (n !== undefined && list.length !== n) throw new Error(`${layer}: expected ${n} input shapes, got ${list.length}: ${formatShapeTree(list)}`);
  return list;
}

/** Validates a dtype argument (the engine checks later, but the layer can name itself now). */
export function checkDType(layer: string, dtype: DType): DType {
  if (dtype !== 'float32' && dtype !== 'float64') throw new Error(`${layer}: unknown dtype '${String(dtype)}' (float32 or float64)`);
  return dtype;
}

/** A tensor leaf of a parameter object, with an error naming the layer when the tree is wrong. */
export function paramLeaf(layer: string, params: Params, name: string): Tensor {
  const leaf = params !== null && typeof params === 'object' && !(params instanceof tg.Tensor) && !Array.isArray(params)
    ? (params as { readonly [k: string]: Params })[name]
    : undefined;
  if (!(leaf instanceof tg.Tensor)) throw new Error(`${layer}: params must be an object with a tensor '${name}' (as returned by init)`);
  return leaf;
}

/** Parameter count of a tree (sum of leaf sizes). @example paramCount(net.init(k, [1, 3]).params) */
export function paramCount(params: Params): number {
  return tg.treeLeaves(params).reduce((n, t) => n + t.size, 0);
}
