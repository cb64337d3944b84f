/**
 * The state that infinite-width kernel rules pass from layer to layer (neural-tangents' `Kernel`),
 * as engine tensors: float64 on the CPU, float32 on WebGPU (the dtype and backend of the inputs).
 *
 * For a block of n1 inputs x1 and n2 inputs x2, at some layer of width -> infinity:
 *   nngp  [n1, n2, ...pos]  E[z_c(x1_i, p) z_c(x2_j, q)]  (per channel c, identical for all c)
 *   ntk   [n1, n2, ...pos]  the analytic NTK between the same entries
 *   cov1  [n1, ...pos]      E[z(x1_i, p) z(x1_i, q)]       (self-covariance of each x1 sample)
 *   cov2  [n2, ...pos]      the same for x2 (the SAME tensor as cov1 when x2 is x1: rules then
 *                           compute it once)
 * where the position axes `pos` depend on `layout`:
 *   'none'      dense activations [N, features]: no position axes;
 *   'full'      images [N, H, W, C]: [H, W, H, W], every position pair (x1 side first);
 *   'diagonal'  images, only the pairs p = q: [H, W]. Valid when nothing downstream mixes
 *               positions (no pooling): Conv, nonlinearities and Flatten only ever read the
 *               diagonal of the position-pair kernel, AvgPool and GlobalAvgPool need all of it.
 * 1-D activations [N, L, C] are held as images of height 1, positions [1, L] (`spatialRank` 1),
 * so that every rule (and the conv primitive they run on) serves both; a 1-D window is the
 * [1, k] window (asImageWindow). The kernel function drops the height axes from the results.
 *
 * The state has no channel axis: it is the same whatever axis of the activation holds the
 * channels (stax's channel_axis, Conv's dimension_numbers). Only the spatial axes' order matters,
 * and the layers keep it (models/layout.ts `convLayout` refuses layouts that reorder them). So no
 * rule reads the layout; the kernel function reads the network input's layout once (kernel-fn.ts,
 * `inputAxesOf`).
 *
 * The input kernel is the second moment over the channel axis, x1 x2^T / C, and the NTK of the
 * input is 0. `channels` carries the finite width of the activations (read by the standard
 * parameterization, whose NTK depends on it). `isGaussian` is false for inputs, after
 * nonlinearities, Flatten and channel concatenation: a nonlinearity needs a Gaussian input (its
 * T and Tdot are Gaussian expectations). `sources` names the independent random affine maps
 * (Dense / Conv weights) a value was last produced by; fanInSum uses it to refuse adding
 * kernels of branches that are not independent.
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { Matrix } from '../../linalg/dense.ts';

export type SpatialLayout = 'none' | 'full' | 'diagonal';

/** The kernel state between layers for one block of inputs (see the module comment). */
export interface KernelState {
  readonly n1: number;
  readonly n2: number;
  readonly layout: SpatialLayout;
  /** [] for dense activations, [H, W] for images, [1, L] for 1-D activations [N, L, C]. */
  readonly spatial: readonly number[];
  /** Spatial axes of the activations: 0 ([N, C]), 1 ([N, L, C]) or 2 ([N, H, W, C]). */
  readonly spatialRank: 0 | 1 | 2;
  readonly nngp: Tensor;
  /** null when only the NNGP kernel was asked for. */
  readonly ntk: Tensor | null;
  readonly cov1: Tensor;
  /** The same tensor as cov1 when x2 is x1. */
  readonly cov2: Tensor;
  /**
   * The block pairs x1 with itself, so nngp[i, j, (p, q)] = nngp[j, i, (q, p)] (and the same for
   * ntk): rules may compute one triangle and mirror it.
   */
  readonly symmetric: boolean;
  /** Finite width of the activations' channel / feature axis. */
  readonly channels: number;
  readonly isGaussian: boolean;
  /** Ids of the random affine maps the value last came out of (0 = the input itself). */
  readonly sources: readonly number[];
}

/** Kernel states mirror activations: one state, or a list (after fanOut / parallel). */
export type KernelTree = KernelState | readonly KernelTree[];

/** Per-call settings shared by every rule of one kernel evaluation. */
export interface KernelContext {
  /** Compute the NTK as well as the NNGP kernel. */
  readonly ntk: boolean;
  /** Quadrature rule for nonlinearities without a closed form ('auto' or Gauss-Hermite points). */
  readonly quadrature: 'auto' | number;
  /** Hands out ids for `sources`; deterministic in the order rules run. */
  nextSource(): number;
}

/** An infinite-width kernel rule: maps the kernel of a layer's input to that of its output. */
export type KernelRule = (k: KernelTree, ctx: KernelContext) => KernelTree;

/**
 * Inputs of a kernel evaluation: an engine tensor (the kernels are computed on its backend in its
 * dtype, never read back) or a plain array with its shape (computed in float64 on the CPU).
 */
export type KernelInput = Tensor | { readonly shape: readonly number[]; readonly data: ArrayLike<number> };

/** Options of a kernel evaluation. */
export interface KernelOptions {
  /** 'both' (default), 'nngp' to skip the NTK, or 'ntk' (the NNGP kernel comes along: the NTK rules need it). */
  get?: 'both' | 'nngp' | 'ntk';
  /** Inputs per block along each batch axis; default chosen so one block holds ~4M entries. */
  blockSize?: number;
  /** Position-pair layout for image inputs; 'auto' (default): 'diagonal' when the model has no pooling layer. */
  spatial?: 'auto' | 'full' | 'diagonal';
  /**
   * Quadrature for Tanh / Elementwise: 'auto' (default; trapezoid rule scaled to the variance,
   * ~1e-12 for tanh) or a number m of Gauss-Hermite points per dimension (models/kernels/gaussian.ts).
   */
  quadrature?: 'auto' | number;
}

/**
 * What `layer.kernel(x1, x2)` returns (stax's kernel_fn(x1, x2, ('nngp', 'ntk'))): tensors on the
 * inputs' backend. For dense outputs the shape is [N1, N2]; for image outputs [N1, N2, H, W, H, W]
 * (layout 'full', axes (x1 position, x2 position)) or [N1, N2, H, W] (layout 'diagonal'); for 1-D
 * outputs [N1, N2, L, L] ('full') or [N1, N2, L] ('diagonal'), with no height axis. Read
 * them with `await t.data()` (any backend) or `kernelMatrix(t)` (a float64 host matrix, CPU).
 */
export interface KernelResult {
  readonly nngp: Tensor;
  /** null when called with get: 'nngp'. */
  readonly ntk: Tensor | null;
  /** The position-pair layout of the output ('none' for dense outputs). */
  readonly layout: SpatialLayout;
  /**
   * The batch diagonal: the NNGP self-covariance of each x1 sample, [N1, ...pos] (positions as
   * in `layout`: [N1] dense, [N1, H, W, H, W] full, [N1, H, W] diagonal, [N1, L, L] / [N1, L]
   * for 1-D outputs); stax's `cov1`.
   */
  readonly cov1?: Tensor;
  /** The same for x2 (the same tensor as cov1 when x2 was omitted); stax's `cov2`. */
  readonly cov2?: Tensor;
}

/**
 * A kernel read back to the host as a row-major float64 matrix (usable wherever linearize/ takes
 * a Matrix) plus its full shape: rows = N1 and cols = the product of the other axes.
 */
export interface KernelMatrix extends Matrix {
  readonly shape: readonly number[];
}

/** Entries per sample pair for a layout: 1, S^2 or S. */
export function entriesPerPair(layout: SpatialLayout, spatial: readonly number[]): number {
  const s = spatial.reduce((a, b) => a * b, 1);
  return layout === 'none' ? 1 : layout === 'full' ? s * s : s;
}

/** K(x2, x1) from K(x1, x2) [n1, n2, ...pos]: swap the sample axes and, for 'full', the two position halves. */
export function mirrorPairs(t: Tensor, layout: SpatialLayout): Tensor {
  const pos = layout === 'none' ? [] : layout === 'diagonal' ? [2, 3] : [4, 5, 2, 3];
  return tg.transpose(t, [1, 0, ...pos]);
}

export function isKernelState(k: KernelTree): k is KernelState {
  return !Array.isArray(k);
}

/** One kernel state, or an error naming the layer that needed it. */
export function singleState(layer: string, k: KernelTree): KernelState {
  if (!isKernelState(k)) throw new Error(`${layer}: expected the kernel of one input, got a list of ${k.length} (a fanOut / parallel output)`);
  return k;
}

/** A list of kernel states, or an error naming the layer. */
export function stateList(layer: string, k: KernelTree, n?: number): readonly KernelTree[] {
  if (isKernelState(k)) throw new Error(`${layer}: expected the kernels of a list of inputs (after fanOut / parallel), got one`);
  if (n !== undefined && k.length !== n) throw new Error(`${layer}: expected ${n} inputs, got ${k.length}`);
  return k;
}

/**
 * Applies `f` to nngp, ntk (when present) and both self-covariances, keeping cov2 === cov1 when
 * they were the same tensor (so x2 = x1 costs one self-covariance pass). `cross` receives
 * [n1, n2, ...pos] tensors, `self` [n, ...pos] ones.
 */
export function mapKernels(
  k: KernelState,
  cross: (a: Tensor) => Tensor,
  self: (a: Tensor) => Tensor = cross,
): { nngp: Tensor; ntk: Tensor | null; cov1: Tensor; cov2: Tensor } {
  const cov1 = self(k.cov1);
  const cov2 = k.cov2 === k.cov1 ? cov1 : self(k.cov2);
  return { nngp: cross(k.nngp), ntk: k.ntk === null ? null : cross(k.ntk), cov1, cov2 };
}

/** The activations a state stands for, as the user sees them: [N, C], [N, L, C] or [N, H, W, C]. */
export function describeActivations(k: KernelState): string {
  if (k.spatialRank === 0) return `dense [N, ${k.channels}] activations`;
  if (k.spatialRank === 1) return `1-D [N, ${k.spatial[1]}, ${k.channels}] activations`;
  return `images [N, ${k.spatial.join(', ')}, ${k.channels}]`;
}

/** Throws unless the state holds spatial activations (1-D or images); names the layer. */
export function requireImage(layer: string, k: KernelState): void {
  if (k.layout === 'none') throw new Error(`${layer}: needs spatial activations [N, L, C] or [N, H, W, C], got ${describeActivations(k)}`);
}

/**
 * Throws unless the state's activations have `rank` spatial axes, the rank of the layer's window
 * (a [k] filter on [N, L, C], a [kh, kw] filter on [N, H, W, C]); names the layer and the shapes.
 */
export function requireSpatialRank(layer: string, k: KernelState, rank: number): void {
  requireImage(layer, k);
  if (k.spatialRank !== rank) {
    const wants = rank === 1 ? 'a 1-D window [k] needs [N, L, C] activations' : 'a 2-D window [kh, kw] needs [N, H, W, C] activations';
    throw new Error(`${layer}: ${wants}, got ${describeActivations(k)}`);
  }
}

/**
 * A window's per-axis values (filter, strides, dilation) on the image the state holds: 1-D
 * windows [k] act on the height-1 image as [1, k]; 2-D ones pass through.
 * @example asImageWindow([3]) // [1, 3]; asImageWindow([2, 3]) // [2, 3]
 */
export function asImageWindow(values: readonly number[]): readonly [number, number] {
  return values.length === 1 ? [1, values[0]] : [values[0], values[1]];
}

/** Throws unless the state holds a dense kernel; names the layer. */
export function requireDense(layer: string, k: KernelState): void {
  if (k.layout !== 'none') {
    throw new Error(`${layer}: needs dense activations [N, features], got ${describeActivations(k)}; put Flatten or GlobalAvgPool before it`);
  }
}
