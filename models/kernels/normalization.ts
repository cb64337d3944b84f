/**
 * Kernel rules of the layers that rescale activations by statistics of their own (stax's
 * LayerNorm) or by random masks (stax's Dropout), on the KernelState of state.ts.
 *
 * LayerNorm over the channel axis (plus, for images, any spatial axes): at infinite width the
 * channel mean of a zero-mean Gaussian pre-activation vanishes and its channel variance is the
 * self-covariance, so the layer divides every kernel entry by sqrt((eps + v1)(eps + v2)), v the
 * variance of each side averaged over the normalized spatial axes (stax's LayerNorm kernel_fn,
 * NTK divided alike).
 *
 * Dropout with keep probability `rate` (stax's meaning: rate = 1 keeps everything) multiplies
 * kept units by 1 / rate: the kernel between two different units (different samples, or
 * different positions) is unchanged, E[m m'] / rate^2 = 1, and the kernel of a unit with itself
 * (the same sample at the same position, in the NNGP and the NTK alike) is multiplied by
 * E[m^2] / rate^2 = 1 / rate.
 */
import * as tg from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { positionDiagonal } from './rules.ts';
import { singleState, type KernelRule, type KernelState } from './state.ts';
import { channelsLastPermutation, CHANNELS_LAST, type InputAxes } from '../layout.ts';

/**
 * The normalized axes of a LayerNorm for activations of `rank` whose batch and channel axes are
 * `layout` (default batch first, channels last), resolved (negative axes counted from the end),
 * sorted and checked: the channel axis must be among them, as stax requires for a kernel to
 * exist, and the batch axis must not.
 * @example resolveNormAxes('LayerNorm', [-1, 1], 4) // [1, 3]
 */
export function resolveNormAxes(name: string, axes: readonly number[], rank: number, layout: InputAxes = CHANNELS_LAST): number[] {
  const resolve = (a: number) => (a < 0 ? a + rank : a);
  const [batch, channel] = [resolve(layout.batch), resolve(layout.channel)];
  const out = axes.map((a) => {
    const r = resolve(a);
    if (!Number.isInteger(a) || r < 0 || r >= rank) throw new Error(`${name}: axis ${a} is out of range for rank-${rank} activations`);
    if (r === batch) throw new Error(`${name}: cannot normalize over the batch axis ${layout.batch}`);
    return r;
  });
  if (new Set(out).size !== out.length) throw new Error(`${name}: repeated axis in [${axes.join(', ')}]`);
  if (!out.includes(channel)) throw new Error(`${name}: the axes [${axes.join(', ')}] must include the channel axis (${layout.channel}): only then does an infinite-width kernel exist (as in stax)`);
  return out.sort((x, y) => x - y);
}

/**
 * LayerNorm over `axes` (as given to the layer, of activations whose batch and channel axes are
 * `layout`; resolved per activation rank), with eps added to the variance.
 * @example layerNormRule('LayerNorm', [-1], 1e-12)
 */
export function layerNormRule(name: string, axes: readonly number[], eps: number, layout: InputAxes = CHANNELS_LAST): KernelRule {
  return (kt) => {
    const k = singleState(name, kt);
    // Positions of the normalized spatial axes among the state's [H, W] (the channel axis is always
    // normalized): each axis at its channels-last place [N, ...spatial, C]; the length axis of 1-D
    // activations [N, L, C] is the W of their [1, L] positions.
    const rank = k.spatialRank + 2;
    const perm = channelsLastPermutation(name, layout, rank);
    const channelsLastAxis = (a: number) => (perm === null ? a : perm.indexOf(a));
    const heightOffset = k.spatialRank === 1 ? 1 : 0;
    const spatialAxes = resolveNormAxes(name, axes, rank, layout).map(channelsLastAxis).filter((a) => a !== rank - 1).map((a) => a - 1 + heightOffset);
    if (!k.isGaussian) {
      throw new Error(`${name}: its infinite-width rule needs a Gaussian input (as stax's): put a Dense or Conv layer right before it`);
    }
    // Per-position variances [n, H, W] (or [n]), averaged over the normalized spatial axes.
    const variances = (cov: Tensor): Tensor => {
      const v = k.layout === 'full' ? positionDiagonal(cov, 1) : cov;
      const mean = spatialAxes.length === 0 ? v : tg.mean(v, spatialAxes.map((a) => a + 1), true);
      return tg.add(mean, eps);
    };
    const v1 = variances(k.cov1);
    const v2 = k.cov2 === k.cov1 ? v1 : variances(k.cov2);
    const sp = v1.shape.slice(1);
    const ones = sp.map(() => 1);
    // Broadcast shapes of each side against a cross kernel [n1, n2, ...pos] and a self kernel [n, ...pos].
    const [side1, side2, selfP, selfQ] =
      k.layout === 'full'
        ? [(v: Tensor) => tg.reshape(v, [k.n1, 1, ...sp, ...ones]), (v: Tensor) => tg.reshape(v, [1, k.n2, ...ones, ...sp]), (v: Tensor) => tg.reshape(v, [v.shape[0], ...sp, ...ones]), (v: Tensor) => tg.reshape(v, [v.shape[0], ...ones, ...sp])]
        : [(v: Tensor) => tg.reshape(v, [k.n1, 1, ...sp]), (v: Tensor) => tg.reshape(v, [1, k.n2, ...sp]), (v: Tensor) => v, (v: Tensor) => v];
    const denom = tg.sqrt(tg.mul(side1(v1), side2(v2)));
    const selfDenom = (v: Tensor) => (k.layout === 'full' ? tg.sqrt(tg.mul(selfP(v), selfQ(v))) : v);
    const cov1 = tg.div(k.cov1, selfDenom(v1));
    const cov2 = k.cov2 === k.cov1 ? cov1 : tg.div(k.cov2, selfDenom(v2));
    return { ...k, nngp: tg.div(k.nngp, denom), ntk: k.ntk === null ? null : tg.div(k.ntk, denom), cov1, cov2 };
  };
}

/** x with the entries where `mask` is 1 multiplied by `factor` (mask broadcasting against x). */
function scaleWhere(x: Tensor, mask: Tensor, factor: number): Tensor {
  return tg.mul(x, tg.add(tg.mul(mask, factor - 1), 1));
}

/** 1 on the (p, p) entries of a [...ones(lead), H, W, H, W] tensor, 0 elsewhere. */
function positionEye(k: KernelState, lead: number, like: Tensor): Tensor {
  const S = k.spatial[0] * k.spatial[1];
  const data = new Float64Array(S * S);
  for (let p = 0; p < S; p++) data[p * S + p] = 1;
  return tg.tensor(data, [...Array.from({ length: lead }, () => 1), ...k.spatial, ...k.spatial], like.dtype, like.backend);
}

/**
 * Dropout in train mode with keep probability `rate`: the unit-with-itself entries scaled by
 * 1 / rate (module comment). Refuses the network input (as stax: dropout on the finite input
 * layer has no infinite-width limit of this form).
 * @example dropoutRule('Dropout(0.9)', 0.9)
 */
export function dropoutRule(name: string, rate: number): KernelRule {
  const factor = 1 / rate;
  return (kt) => {
    const k = singleState(name, kt);
    if (k.sources.length === 1 && k.sources[0] === 0) {
      throw new Error(`${name}: cannot be applied to the network input (as in stax); put a Dense or Conv layer before it`);
    }
    if (factor === 1) return { ...k, isGaussian: false };
    // Self-covariances: every entry is a unit with itself ('none', 'diagonal'), or the p = q ones ('full').
    const scaleSelf = (cov: Tensor) => (k.layout === 'full' ? scaleWhere(cov, positionEye(k, 1, cov), factor) : tg.mul(cov, factor));
    const cov1 = scaleSelf(k.cov1);
    const cov2 = k.cov2 === k.cov1 ? cov1 : scaleSelf(k.cov2);
    if (!k.symmetric) return { ...k, cov1, cov2, isGaussian: false };
    // A block pairing x1 with itself: the sample diagonal i = j (and p = q) is a unit with itself.
    const n = k.n1;
    const eyeData = new Float64Array(n * n);
    for (let i = 0; i < n; i++) eyeData[i * n + i] = 1;
    const eye = tg.tensor(eyeData, [n, n, ...k.nngp.shape.slice(2).map(() => 1)], k.nngp.dtype, k.nngp.backend);
    const mask = k.layout === 'full' ? tg.mul(eye, positionEye(k, 2, k.nngp)) : eye;
    const scale = (x: Tensor) => scaleWhere(x, mask, factor);
    return { ...k, nngp: scale(k.nngp), ntk: k.ntk === null ? null : scale(k.ntk), cov1, cov2, isGaussian: false };
  };
}
