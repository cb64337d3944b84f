/**
 * Infinite-width kernel rules of every layer in models/ (neural-tangents' stax `kernel_fn`s),
 * on the {@link KernelState} of state.ts. Each rule is a pure function of the input state: it
 * never mutates its input (fanOut hands the same state to several branches).
 *
 * Affine layers (sigma_w = W_std, sigma_b = b_std, b_std = null meaning no bias, b^2 = 0):
 *   NNGP   K'  = sigma_w^2 A(K) + sigma_b^2                       (both parameterizations)
 *   NTK, 'ntk' parameterization:       Theta' = K' + sigma_w^2 A(Theta)
 *   NTK, 'standard' parameterization:  Theta' = fanIn A(K) + sigma_w^2 A(Theta) + [bias ? 1 : 0]
 * where A is the identity for Dense and, for Conv, the mean over the kh x kw filter offsets d of
 * the kernel at the shifted position pair (p + d, q + d) (zero where the shift falls into the
 * padding; shared weights make the same offset act on both sides). fanIn is the FINITE input
 * width (Dense: in_features; Conv: in_channels * kh * kw). The standard-parameterization NTK is
 * the expectation over initializations of the empirical NTK of the finite network as trained
 * here (gradients with respect to W ~ N(0, sigma_w^2 / fanIn) and b ~ N(0, sigma_b^2)):
 * d h / d W contributes sum_i x_i x'_i = fanIn * K, d h / d b contributes 1, and earlier layers
 * reach h through W, contributing sigma_w^2 Theta. It grows with the widths, unlike the NTK
 * parameterization's. This is neural-tangents' rule; its width scalings s = (s_in, s_out) (the
 * layer's option `s`) divide fanIn by s_in, the ratio of the actual to a reference width, so the
 * standard NTK of a network whose hidden widths all scale with s stays finite as s grows.
 *
 * Nonlinearities: K' = T(Sigma), Theta' = Theta * Tdot(Sigma), entrywise over sample and position
 * pairs, Sigma built from the self-covariances at the two positions and the cross entry.
 * Pooling is linear: AvgPool averages over the window on each side independently, GlobalAvgPool
 * over all position pairs, Flatten over the diagonal position pairs (p, p) (its features are
 * (position, channel) pairs, and only equal positions share weights in the next Dense).
 * fanInSum adds kernels (independent zero-mean branches), fanInConcat along channels averages
 * them weighted by channel counts.
 *
 * 1-D layers ([k] windows on [N, L, C]) run these rules on the height-1 images of state.ts with
 * [1, k] windows (asImageWindow); requireSpatialRank refuses a window of the wrong rank.
 *
 * Everything is engine ops on the tensors of state.ts, so the rules run on every backend and are
 * differentiable: affine steps are a scale and a shift, the offset sums of Conv and AvgPool are
 * the one conv primitive applied to the covariance seen as an image over a pair of spatial axes
 * (a diagonal filter for Conv's shared offsets, a ones filter for pooling's independent ones),
 * nonlinearities are elementwise closed forms (closed-forms.ts) or 2-D quadrature on tensors
 * (quadrature.ts).
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { KernelMap } from './closed-forms.ts';
import {
  asImageWindow,
  describeActivations,
  mapKernels,
  mirrorPairs,
  requireDense,
  requireImage,
  requireSpatialRank,
  singleState,
  stateList,
  type KernelContext,
  type KernelRule,
  type KernelState,
  type SpatialLayout,
} from './state.ts';

/**
 * The hyper-parameters an affine rule reads (DenseHyper / ConvHyper satisfy it). W_std and b_std
 * may also be scalar tensors (of the kernel's dtype and backend): the kernel is then
 * differentiable with respect to them.
 */
export interface AffineHyper {
  readonly W_std: number | Tensor;
  readonly b_std: number | Tensor | null;
  readonly parameterization: 'ntk' | 'standard';
  /**
   * stax's width scalings (s_in, s_out) of the standard parameterization (default [1, 1]): the
   * finite layer has s_in times the reference input width and s_out times the output width, and
   * the standard NTK reads the reference fan-in, fanIn / s_in.
   */
  readonly s?: readonly [number, number];
}

/** x^2 of a number or a tensor. */
function squared(x: number | Tensor): number | Tensor {
  return typeof x === 'number' ? x * x : tg.mul(x, x);
}

/**
 * The shared affine step. `unscaled` is A above, applied to a kernel tensor with `lead` sample
 * axes (2 for cross kernels, 1 for self-covariances); it returns the output's positions.
 */
function affine(
  k: KernelState,
  ctx: KernelContext,
  hyper: AffineHyper,
  fanIn: number,
  channelsOut: number,
  spatial: readonly number[],
  unscaled: (a: Tensor, lead: number) => Tensor,
): KernelState {
  const w2 = squared(hyper.W_std);
  const b2 = hyper.b_std === null ? 0 : squared(hyper.b_std);
  const scaleShift = (a: Tensor) => (b2 === 0 ? tg.mul(a, w2) : tg.add(tg.mul(a, w2), b2));
  const nngpU = unscaled(k.nngp, 2);
  const nngp = scaleShift(nngpU);
  let ntk: Tensor | null = null;
  if (k.ntk !== null) {
    const ntkU = tg.mul(unscaled(k.ntk, 2), w2);
    if (hyper.parameterization === 'ntk') ntk = tg.add(nngp, ntkU);
    else {
      const grown = tg.add(tg.mul(nngpU, fanIn), ntkU);
      ntk = hyper.b_std === null ? grown : tg.add(grown, 1);
    }
  }
  const cov1 = scaleShift(unscaled(k.cov1, 1));
  const cov2 = k.cov2 === k.cov1 ? cov1 : scaleShift(unscaled(k.cov2, 1));
  return { ...k, spatial, nngp, ntk, cov1, cov2, channels: channelsOut, isGaussian: true, sources: [ctx.nextSource()] };
}

/**
 * Dense: K' = W_std^2 K + b_std^2, NTK per parameterization (module comment).
 * @example denseRule('Dense(512)', { out: 512, W_std: 1, b_std: 0.1, parameterization: 'ntk' })
 */
export function denseRule(name: string, hyper: AffineHyper & { readonly out: number }): KernelRule {
  return (kt, ctx) => {
    const k = singleState(name, kt);
    requireDense(name, k);
    const [sIn, sOut] = hyper.s ?? [1, 1];
    return affine(k, ctx, hyper, k.channels / sIn, hyper.out * sOut, k.spatial, (a) => a);
  };
}

/** Window values per spatial axis: [k] for 1-D layers, [kh, kw] for 2-D ones. */
export interface ConvKernelHyper extends AffineHyper {
  readonly outChannels: number;
  readonly filterShape: readonly number[];
  readonly strides: readonly number[];
  readonly padding: 'SAME' | 'VALID';
  readonly dilation: readonly number[];
}

/** One spatial axis of a window sliding over an input: output size and zero padding. */
interface AxisWindow {
  readonly size: number;
  readonly window: number;
  readonly stride: number;
  readonly dilation: number;
  readonly out: number;
  readonly lo: number;
  readonly hi: number;
  /** Zeros inserted between input positions (a transposed convolution's stride); 1 otherwise. */
  readonly inDilation: number;
}

/**
 * The output size and padding of a window along one axis, as tg.conv2d and the layers compute
 * them (SAME: ceil(in / stride) outputs, padding split with the extra after; VALID: none).
 * The one place the kernel rules read conv / pool geometry.
 */
function axisWindow(size: number, window: number, stride: number, dilation: number, padding: 'SAME' | 'VALID'): AxisWindow {
  const [lo, hi] = tg.windowPadding(padding, size, window, stride, dilation);
  return { size, window, stride, dilation, out: tg.windowOutputLength(size, window, stride, dilation, padding), lo, hi, inDilation: 1 };
}

/**
 * The padding [before, after] of a transposed convolution along one axis, as jax.lax.conv_transpose
 * (which stax's ConvTranspose calls): the input dilated by the stride, then swept at stride 1
 * with this padding; SAME gives size * stride outputs, VALID size * stride + max(window - stride, 0).
 * @example transposePadding(3, 2, 'SAME') // [2, 1]
 */
export function transposePadding(window: number, stride: number, padding: 'SAME' | 'VALID'): [number, number] {
  const len = padding === 'SAME' ? window + stride - 2 : window + stride - 2 + Math.max(window - stride, 0);
  const before = padding === 'SAME' && stride <= window - 1 ? Math.ceil(len / 2) : window - 1;
  return [before, len - before];
}

/** The window of a transposed convolution along one axis (see transposePadding). */
function transposeAxisWindow(size: number, window: number, stride: number, padding: 'SAME' | 'VALID'): AxisWindow {
  const [lo, hi] = transposePadding(window, stride, padding);
  return { size, window, stride: 1, dilation: 1, out: (size - 1) * stride + 1 + lo + hi - window + 1, lo, hi, inDilation: stride };
}

/**
 * Sums a window over one spatial axis of a kernel tensor, on both sides of the position pair at
 * once: the pair plane (x1 position, x2 position) of that axis is an image, convolved with the
 * [window, window] filter `filter` (the identity for Conv, whose offsets are shared by both sides;
 * all ones for pooling, whose sides are independent). `a` is [B, X1, Y1, X2, Y2] with the axis
 * at 1 and 3 (`axis` 0) or 2 and 4 (`axis` 1).
 */
function pairWindowSum(a: Tensor, axis: 0 | 1, g: AxisWindow, filter: Tensor): Tensor {
  const [B, X1, Y1, X2, Y2] = a.shape;
  // Move the two positions of `axis` last: [B, other1, other2, p1, p2].
  const perm = axis === 0 ? [0, 2, 4, 1, 3] : [0, 1, 3, 2, 4];
  const others = axis === 0 ? [Y1, Y2] : [X1, X2];
  const moved = tg.transpose(a, perm);
  const img = tg.reshape(moved, [B * others[0] * others[1], axis === 0 ? X1 : Y1, axis === 0 ? X2 : Y2, 1]);
  const out = tg.conv2d(img, filter, { strides: [g.stride, g.stride], dilation: [g.dilation, g.dilation], inputDilation: [g.inDilation, g.inDilation], padding: [[g.lo, g.hi], [g.lo, g.hi]] });
  const back = tg.reshape(out, [B, others[0], others[1], g.out, g.out]);
  // Undo the move: [B, o1, o2, q1, q2] -> positions in their original slots.
  return tg.transpose(back, axis === 0 ? [0, 3, 1, 4, 2] : [0, 1, 3, 2, 4]);
}

/** A [k, k, 1, 1] filter: the identity (shared offsets) or all ones (independent offsets). */
function pairFilter(k: number, kind: 'identity' | 'ones', like: Tensor): Tensor {
  const data = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) data[i * k + j] = kind === 'ones' || i === j ? 1 : 0;
  return tg.tensor(data, [k, k, 1, 1], like.dtype, like.backend);
}

/**
 * The window sum over both spatial axes of a kernel tensor with `lead` sample axes, for the
 * 'full' layout (position pairs, via pairWindowSum per axis) or the 'diagonal' one (one position:
 * a plain conv with a ones filter of the window's shape).
 */
function windowSum(a: Tensor, lead: number, layout: SpatialLayout, gh: AxisWindow, gw: AxisWindow, kind: 'identity' | 'ones'): Tensor {
  const leadShape = a.shape.slice(0, lead);
  const B = leadShape.reduce((x, y) => x * y, 1);
  if (layout === 'diagonal') {
    const img = tg.reshape(a, [B, gh.size, gw.size, 1]);
    const ones = tg.ones([gh.window, gw.window, 1, 1], a.dtype, a.backend);
    const out = tg.conv2d(img, ones, { strides: [gh.stride, gw.stride], dilation: [gh.dilation, gw.dilation], inputDilation: [gh.inDilation, gw.inDilation], padding: [[gh.lo, gh.hi], [gw.lo, gw.hi]] });
    return tg.reshape(out, [...leadShape, gh.out, gw.out]);
  }
  let t = tg.reshape(a, [B, gh.size, gw.size, gh.size, gw.size]);
  t = pairWindowSum(t, 0, gh, pairFilter(gh.window, kind, a));
  t = pairWindowSum(t, 1, gw, pairFilter(gw.window, kind, a));
  return tg.reshape(t, [...leadShape, gh.out, gw.out, gh.out, gw.out]);
}

/**
 * Conv: the affine rule with A = the mean over filter offsets of the shifted position pairs.
 * @example convRule('Conv', { outChannels: 8, filterShape: [3, 3], strides: [1, 1], padding: 'SAME', dilation: [1, 1], W_std: 1, b_std: null, parameterization: 'ntk' })
 */
export function convRule(name: string, hyper: ConvKernelHyper): KernelRule {
  return (kt, ctx) => {
    const k = singleState(name, kt);
    requireSpatialRank(name, k, hyper.filterShape.length);
    const [filter, strides, dilation] = [hyper.filterShape, hyper.strides, hyper.dilation].map(asImageWindow);
    const gh = axisWindow(k.spatial[0], filter[0], strides[0], dilation[0], hyper.padding);
    const gw = axisWindow(k.spatial[1], filter[1], strides[1], dilation[1], hyper.padding);
    if (gh.out < 1 || gw.out < 1) throw new Error(`${name}: the filter does not fit the ${describeActivations(k)} with ${hyper.padding} padding`);
    const F = filter[0] * filter[1];
    const unscaled = (a: Tensor, lead: number) => tg.mul(windowSum(a, lead, k.layout, gh, gw, 'identity'), 1 / F);
    const [sIn, sOut] = hyper.s ?? [1, 1];
    return affine(k, ctx, hyper, (k.channels * F) / sIn, hyper.outChannels * sOut, [gh.out, gw.out], unscaled);
  };
}

/** Window values per spatial axis: [k] for 1-D layers, [kh, kw] for 2-D ones. */
export interface ConvTransposeKernelHyper extends AffineHyper {
  readonly outChannels: number;
  readonly filterShape: readonly number[];
  readonly strides: readonly number[];
  readonly padding: 'SAME' | 'VALID';
}

/**
 * ConvTranspose (stax's shared-weight transposed convolution): the affine rule with A = the sum,
 * over the filter taps that reach an output position, of the input kernel at the shifted position
 * pair, divided by the filter size kh kw (the weights' fan-in is C kh kw, however many taps a
 * position receives) - Conv's rule on the stride-dilated input at stride 1.
 * @example convTransposeRule('ConvTranspose', { outChannels: 4, filterShape: [3, 3], strides: [2, 2], padding: 'SAME', W_std: 1, b_std: null, parameterization: 'ntk' })
 */
export function convTransposeRule(name: string, hyper: ConvTransposeKernelHyper): KernelRule {
  return (kt, ctx) => {
    const k = singleState(name, kt);
    requireSpatialRank(name, k, hyper.filterShape.length);
    const [filter, strides] = [hyper.filterShape, hyper.strides].map(asImageWindow);
    const gh = transposeAxisWindow(k.spatial[0], filter[0], strides[0], hyper.padding);
    const gw = transposeAxisWindow(k.spatial[1], filter[1], strides[1], hyper.padding);
    const F = filter[0] * filter[1];
    const unscaled = (a: Tensor, lead: number) => tg.mul(windowSum(a, lead, k.layout, gh, gw, 'identity'), 1 / F);
    const [sIn, sOut] = hyper.s ?? [1, 1];
    return affine(k, ctx, hyper, (k.channels * F) / sIn, hyper.outChannels * sOut, [gh.out, gw.out], unscaled);
  };
}

/** The diagonal (p, p) of a 'full' kernel tensor [...lead, H, W, H, W], as [...lead, H, W]. */
export function positionDiagonal(a: Tensor, lead: number): Tensor {
  const leadShape = a.shape.slice(0, lead);
  const [H, W] = a.shape.slice(lead, lead + 2);
  const S = H * W;
  const B = leadShape.reduce((x, y) => x * y, 1);
  const flat = tg.reshape(a, [B, S * S]);
  return tg.reshape(tg.slice(flat, [0, 0], [B, S * S], [1, S + 1]), [...leadShape, H, W]);
}

/**
 * The variances of the two sides of every entry of the cross kernel, shaped to broadcast against
 * it: [n1, 1, ...] and [1, n2, ...] (for 'full', the x1 side varies with p and the x2 side with q).
 */
function sideVariances(k: KernelState): [Tensor, Tensor] {
  const sp = k.spatial;
  if (k.layout === 'none') return [tg.reshape(k.cov1, [k.n1, 1]), tg.reshape(k.cov2, [1, k.n2])];
  if (k.layout === 'diagonal') return [tg.reshape(k.cov1, [k.n1, 1, ...sp]), tg.reshape(k.cov2, [1, k.n2, ...sp])];
  const d1 = positionDiagonal(k.cov1, 1);
  const d2 = k.cov2 === k.cov1 ? d1 : positionDiagonal(k.cov2, 1);
  return [tg.reshape(d1, [k.n1, 1, ...sp, 1, 1]), tg.reshape(d2, [1, k.n2, 1, 1, ...sp])];
}

/** Self-covariance map through a nonlinearity: T at (p, q) of the same sample. */
function selfExpectation(k: KernelState, cov: Tensor, n: number, map: KernelMap): Tensor {
  if (k.layout !== 'full') return map.expectations(cov, cov, cov, false).t;
  const d = positionDiagonal(cov, 1);
  return map.expectations(tg.reshape(d, [n, ...k.spatial, 1, 1]), cov, tg.reshape(d, [n, 1, 1, ...k.spatial]), false).t;
}

function requireGaussian(name: string, k: KernelState): void {
  if (!k.isGaussian) {
    throw new Error(
      `${name}: its input is not a Gaussian process at infinite width (network input, or the output of a nonlinearity, Flatten or fanInConcat); ` +
        'put a Dense or Conv layer before the nonlinearity',
    );
  }
}

/**
 * Of a symmetric block's cross kernel [n, n, ...pos]: 1 on one entry of each mirror pair
 * (i, j, (p, q)) ~ (j, i, (q, p)) (i < j, or i = j and q >= p), 0 on the other.
 */
function upperMask(k: KernelState, like: Tensor): Tensor {
  const n = k.n1;
  const S = k.layout === 'full' ? k.spatial[0] * k.spatial[1] : 1;
  const data = new Float64Array(n * n * S * S);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      for (let p = 0; p < S; p++) for (let q = i === j ? p : 0; q < S; q++) data[((i * n + j) * S + p) * S + q] = 1;
    }
  }
  const shape = k.layout === 'full' ? [n, n, ...k.spatial, ...k.spatial] : [n, n, ...k.spatial.map(() => 1)];
  return tg.tensor(data, shape, like.dtype, like.backend);
}

/**
 * Elementwise nonlinearity phi with T and Tdot from `map` (closed-forms.ts, quadrature.ts):
 * K' = T(Sigma), Theta' = Theta Tdot(Sigma). Needs a Gaussian input (an affine layer, possibly
 * followed by linear ones, before it). A symmetric block stays exactly symmetric: the closed forms
 * are symmetric in (s11, s22) to the last bit, and for the others one entry of each mirror pair
 * is copied to the other.
 * @example elementwiseRule('Relu', reluKernelMap())
 */
export function elementwiseRule(name: string, map: KernelMap): KernelRule {
  return (kt, ctx) => {
    const k = singleState(name, kt);
    requireGaussian(name, k);
    const [v1, v2] = sideVariances(k);
    const res = map.expectations(v1, k.nngp, v2, k.ntk !== null);
    let t = res.t;
    let tdot = res.tdot;
    if (k.symmetric && !map.exactlySymmetric) {
      const keep = upperMask(k, t);
      const mirror = (x: Tensor) => tg.where(keep, x, mirrorPairs(x, k.layout));
      t = mirror(t);
      tdot = tdot && mirror(tdot);
    }
    const ntk = k.ntk === null ? null : tg.mul(k.ntk, tdot!);
    const cov1 = selfExpectation(k, k.cov1, k.n1, map);
    const cov2 = k.cov2 === k.cov1 ? cov1 : selfExpectation(k, k.cov2, k.n2, map);
    return { ...k, nngp: t, ntk, cov1, cov2, isGaussian: false };
  };
}

/** Identity: the kernel passes through unchanged. @example identityRule() */
export function identityRule(): KernelRule {
  return (k) => k;
}

/** A pooling window per spatial axis: [k] for 1-D layers, [kh, kw] for 2-D ones. */
export interface PoolKernelHyper {
  readonly window: readonly number[];
  readonly strides: readonly number[];
  readonly padding: 'SAME' | 'VALID';
}

/**
 * AvgPool (zero padding counted, as the layer): each side averaged over its window independently.
 * Needs the full position-pair kernel.
 * @example avgPoolRule('AvgPool([2,2])', { window: [2, 2], strides: [2, 2], padding: 'VALID' })
 */
export function avgPoolRule(
  name: string,
  hyper: PoolKernelHyper,
): KernelRule {
  return windowPoolRule(name, hyper, true, "{ spatial: 'full' } (or 'auto')");
}

/**
 * SumPool: each side summed over its window independently (AvgPool's rule times the window size
 * squared). Needs the full position-pair kernel.
 * @example sumPoolRule('SumPool([2,2])', { window: [2, 2], strides: [2, 2], padding: 'VALID' })
 */
export function sumPoolRule(
  name: string,
  hyper: PoolKernelHyper,
): KernelRule {
  return windowPoolRule(name, hyper, false, "{ spatial: 'full' }");
}

function windowPoolRule(
  name: string,
  hyper: PoolKernelHyper,
  average: boolean,
  howToGetFull: string,
): KernelRule {
  return (kt) => {
    const k = singleState(name, kt);
    requireSpatialRank(name, k, hyper.window.length);
    if (k.layout !== 'full') throw new Error(`${name}: needs the full position-pair kernel; compute it with ${howToGetFull}`);
    const [window, strides] = [hyper.window, hyper.strides].map(asImageWindow);
    const gh = axisWindow(k.spatial[0], window[0], strides[0], 1, hyper.padding);
    const gw = axisWindow(k.spatial[1], window[1], strides[1], 1, hyper.padding);
    if (gh.out < 1 || gw.out < 1) throw new Error(`${name}: the window does not fit the ${describeActivations(k)}`);
    const inv = average ? 1 / (window[0] * window[1]) : 1;
    const pool = (lead: number) => (a: Tensor) => {
      const summed = windowSum(a, lead, 'full', gh, gw, 'ones');
      return inv === 1 ? summed : tg.mul(summed, inv * inv);
    };
    return { ...k, ...mapKernels(k, pool(2), pool(1)), spatial: [gh.out, gw.out] };
  };
}

/** The mean over the trailing `count` axes. */
function meanTrailing(a: Tensor, count: number): Tensor {
  return tg.mean(a, Array.from({ length: count }, (_, i) => a.rank - count + i));
}

/**
 * GlobalAvgPool: the mean of the kernel over all position pairs; the output is dense.
 * @example globalAvgPoolRule('GlobalAvgPool')
 */
export function globalAvgPoolRule(name: string): KernelRule {
  return (kt) => {
    const k = singleState(name, kt);
    requireImage(name, k);
    if (k.layout !== 'full') throw new Error(`${name}: needs the full position-pair kernel; compute it with { spatial: 'full' } (or 'auto')`);
    return { ...k, ...mapKernels(k, (a) => meanTrailing(a, 4)), layout: 'none', spatial: [], spatialRank: 0 };
  };
}

/**
 * GlobalSumPool: the sum of the kernel over all position pairs (GlobalAvgPool's times (H W)^2).
 * @example globalSumPoolRule('GlobalSumPool')
 */
export function globalSumPoolRule(name: string): KernelRule {
  return (kt) => {
    const k = singleState(name, kt);
    requireImage(name, k);
    if (k.layout !== 'full') throw new Error(`${name}: needs the full position-pair kernel; compute it with { spatial: 'full' }`);
    const sum = (a: Tensor) => tg.sum(a, [a.rank - 4, a.rank - 3, a.rank - 2, a.rank - 1]);
    return { ...k, ...mapKernels(k, sum), layout: 'none', spatial: [], spatialRank: 0 };
  };
}

/**
 * Flatten: images -> dense features (position, channel); the kernel of the next Dense sees the
 * average of the diagonal position pairs. Marks the result non-Gaussian (as stax): features at
 * different positions have different variances, so a nonlinearity right after Flatten would need
 * them separately. A no-op on dense inputs.
 * @example flattenRule('Flatten')
 */
export function flattenRule(name: string): KernelRule {
  return (kt) => {
    const k = singleState(name, kt);
    if (k.layout === 'none') return k;
    const S = k.spatial[0] * k.spatial[1];
    const diagMean = (lead: number) => (a: Tensor) => meanTrailing(k.layout === 'full' ? positionDiagonal(a, lead) : a, 2);
    return { ...k, ...mapKernels(k, diagMean(2), diagMean(1)), layout: 'none', spatial: [], spatialRank: 0, channels: k.channels * S, isGaussian: false };
  };
}

/** fanOut(n): n references to the same (immutable) kernel. @example fanOutRule(2) */
export function fanOutRule(n: number): KernelRule {
  return (k) => Array.from({ length: n }, () => k);
}

function sameLayout(name: string, ks: readonly KernelState[]): void {
  const a = ks[0];
  ks.forEach((b, i) => {
    if (b.layout !== a.layout || b.spatialRank !== a.spatialRank || b.spatial.join() !== a.spatial.join() || b.n1 !== a.n1 || b.n2 !== a.n2 || (b.ntk === null) !== (a.ntk === null)) {
      throw new Error(`${name}: input ${i} has kernel layout ${b.layout} [${b.spatial.join('x')}], input 0 has ${a.layout} [${a.spatial.join('x')}]`);
    }
  });
}

/** sum_j weights[j] * ts[j] (weights null: a plain sum), in input order. */
function combine(ts: readonly Tensor[], weights: readonly number[] | null): Tensor {
  let out = weights === null ? ts[0] : tg.mul(ts[0], weights[0]);
  for (let j = 1; j < ts.length; j++) out = tg.add(out, weights === null ? ts[j] : tg.mul(ts[j], weights[j]));
  return out;
}

/** Combines the kernels of several branches entry by entry (cov2 stays cov1 when all share it). */
function combineStates(ks: readonly KernelState[], weights: readonly number[] | null): Pick<KernelState, 'nngp' | 'ntk' | 'cov1' | 'cov2' | 'symmetric' | 'sources'> {
  const shared = ks.every((k) => k.cov2 === k.cov1);
  const cov1 = combine(ks.map((k) => k.cov1), weights);
  return {
    symmetric: ks.every((k) => k.symmetric),
    nngp: combine(ks.map((k) => k.nngp), weights),
    ntk: ks[0].ntk === null ? null : combine(ks.map((k) => k.ntk!), weights),
    cov1,
    cov2: shared ? cov1 : combine(ks.map((k) => k.cov2), weights),
    sources: [...new Set(ks.flatMap((k) => k.sources))],
  };
}

/** Throws unless every pair of branches comes out of different random affine maps. */
function requireIndependent(name: string, ks: readonly KernelState[]): void {
  for (let i = 0; i < ks.length; i++) {
    for (let j = i + 1; j < ks.length; j++) {
      if (ks[i].sources.some((s) => ks[j].sources.includes(s))) {
        throw new Error(
          `${name}: branches ${i} and ${j} are not independent (neither has a Dense / Conv of its own since the fan-out), ` +
            'so their kernels do not combine; give at least one of them a Dense or Conv layer',
        );
      }
    }
  }
}

/**
 * fanInSum: the kernels of independent branches add. Refuses branches that share their last
 * random affine map (e.g. two Identity branches, or Identity next to a branch without any Dense
 * / Conv), where the cross-covariance does not vanish, and sums of two or more non-Gaussian
 * branches (whose means need not be zero).
 * @example fanInSumRule('fanInSum')
 */
export function fanInSumRule(name: string): KernelRule {
  return (kt) => {
    const ks = stateList(name, kt).map((k, i) => singleState(`${name} (input ${i})`, k));
    if (ks.length === 1) return ks[0];
    sameLayout(name, ks);
    requireIndependent(name, ks);
    if (ks.filter((k) => !k.isGaussian).length > 1) {
      throw new Error(`${name}: more than one input is non-Gaussian (ends in a nonlinearity); only one branch may, the others must end in a Dense / Conv (or Identity of one)`);
    }
    return { ...ks[0], ...combineStates(ks, null), isGaussian: ks.every((k) => k.isGaussian) };
  };
}

/**
 * fanInProd, as stax.FanInProd: the elementwise product of independent branches has the product
 * of their NNGP kernels, and by the product rule the NTK sum_i Theta_i prod_{j != i} K_j. Refuses
 * branches that share their last random affine map (their values are not independent, e.g.
 * Identity times Identity is x^2). The product is not Gaussian (unless there is one branch).
 * @example fanInProdRule('fanInProd')
 */
export function fanInProdRule(name: string): KernelRule {
  return (kt) => {
    const ks = stateList(name, kt).map((k, i) => singleState(`${name} (input ${i})`, k));
    if (ks.length === 1) return ks[0];
    sameLayout(name, ks);
    requireIndependent(name, ks);
    const shared = ks.every((k) => k.cov2 === k.cov1);
    const product = (ts: readonly Tensor[]) => ts.slice(1).reduce((acc, t) => tg.mul(acc, t), ts[0]);
    let nngp = ks[0].nngp;
    let ntk = ks[0].ntk;
    for (const k of ks.slice(1)) {
      // (prod_{j<i} K_j)' = sum over the factors so far: Theta_acc K_i + K_acc Theta_i.
      if (ntk !== null) ntk = tg.add(tg.mul(ntk, k.nngp), tg.mul(nngp, k.ntk!));
      nngp = tg.mul(nngp, k.nngp);
    }
    const cov1 = product(ks.map((k) => k.cov1));
    return {
      ...ks[0],
      nngp,
      ntk,
      cov1,
      cov2: shared ? cov1 : product(ks.map((k) => k.cov2)),
      symmetric: ks.every((k) => k.symmetric),
      sources: [...new Set(ks.flatMap((k) => k.sources))],
      isGaussian: false,
    };
  };
}

/**
 * fanInConcat along the channel axis: the channel-weighted average of the kernels (as stax);
 * the result is a mixture, not one Gaussian, so a nonlinearity may not follow directly.
 * Concatenation along spatial axes has no rule here.
 * @example fanInConcatRule('fanInConcat(-1)', -1)
 */
export function fanInConcatRule(name: string, axis: number): KernelRule {
  return (kt) => {
    const ks = stateList(name, kt).map((k, i) => singleState(`${name} (input ${i})`, k));
    sameLayout(name, ks);
    const rank = ks[0].spatialRank + 2;
    const a = axis < 0 ? axis + rank : axis;
    if (a !== rank - 1) throw new Error(`${name}: only concatenation along the channel axis (-1) has an infinite-width kernel rule, got axis ${axis} of rank-${rank} activations`);
    if (ks.length === 1) return ks[0];
    const total = ks.reduce((s, k) => s + k.channels, 0);
    return { ...ks[0], ...combineStates(ks, ks.map((k) => k.channels / total)), channels: total, isGaussian: false };
  };
}

/** A child of a combinator, as the combinator rules see it. */
interface RuleCarrier {
  readonly name: string;
  readonly kernelRule?: KernelRule;
}

/** The layer's rule, or the error every kernel evaluation gives for a layer without one. */
export function ruleOf(layer: RuleCarrier): KernelRule {
  if (typeof layer.kernelRule !== 'function') {
    throw new Error(`layer '${layer.name}' has no infinite-width kernel rule`);
  }
  return layer.kernelRule;
}

/**
 * serial: the children's rules in order; errors name the position of the failing child.
 * @example serialRule([Dense(8), Relu()])
 */
export function serialRule(layers: readonly RuleCarrier[]): KernelRule {
  return (k, ctx) => {
    let h = k;
    layers.forEach((layer, i) => {
      try {
        h = ruleOf(layer)(h, ctx);
      } catch (e) {
        throw new Error(`serial: layer ${i} (${layer.name}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    });
    return h;
  };
}

/**
 * parallel: child i maps the kernel of input i.
 * @example parallelRule([Dense(8), Identity()])
 */
export function parallelRule(layers: readonly RuleCarrier[]): KernelRule {
  return (k, ctx) => {
    const ks = stateList('parallel', k, layers.length);
    return ks.map((ki, i) => {
      try {
        return ruleOf(layers[i])(ki, ctx);
      } catch (e) {
        throw new Error(`parallel: branch ${i} (${layers[i].name}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    });
  };
}
