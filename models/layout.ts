/**
 * Where the batch, channel and spatial axes of an activation sit (stax's `batch_axis`,
 * `channel_axis` and Conv's `dimension_numbers`), and the transposes between a layer's own layout
 * and the one the engine's kernels compute in: batch first, channels last ([N, C], [N, L, C],
 * [N, H, W, C]), with 1-D activations lifted to images of height 1 for the conv primitive.
 *
 * Design (why the kernel rules never read a layout): an infinite-width kernel has no channel
 * axis, only sample and position axes, so it is the same whichever axis holds the channels.
 * Layers keep the spatial axes in their order (a layout that would reorder them is refused), so
 * the kernel state of models/kernels/state.ts stays valid through every layer whatever layouts
 * they use; the only place that reads a layout for kernels is the network input, which the
 * kernel function moves to channels-last with the axes of the first layer that declares them
 * (`Layer.inputAxes`, read by kernel-fn.ts).
 */
import type { Tensor } from '../engine/index.ts';
import * as tg from '../engine/index.ts';

/**
 * The batch and channel axes a layer reads its input with (negative: counted from the end); every
 * other axis but these two is spatial, in order.
 */
export interface InputAxes {
  readonly batch: number;
  readonly channel: number;
}

/** Batch first, channels last: the default of every layer (as stax's). */
export const CHANNELS_LAST: InputAxes = Object.freeze({ batch: 0, channel: -1 });

/**
 * The permutation that moves an activation of `rank` with these axes to [N, ...spatial, C]
 * (spatial axes in their order), or null when it already is; names the layer on bad axes.
 * @example channelsLastPermutation('Dense', { batch: 1, channel: 0 }, 2) // [1, 0]
 */
export function channelsLastPermutation(layer: string, axes: InputAxes, rank: number): number[] | null {
  const resolve = (what: string, a: number) => {
    const r = a < 0 ? a + rank : a;
    if (!Number.isInteger(a) || r < 0 || r >= rank) throw new Error(`${layer}: ${what} ${a} is out of range for rank-${rank} activations`);
    return r;
  };
  const batch = resolve('batchAxis', axes.batch);
  const channel = resolve('channelAxis', axes.channel);
  if (batch === channel) throw new Error(`${layer}: batchAxis and channelAxis are the same axis (${batch}) of rank-${rank} activations`);
  const perm = [batch, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== batch && i !== channel), channel];
  return perm.every((p, i) => p === i) ? null : perm;
}

/** The inverse of a permutation. */
export function inversePermutation(perm: readonly number[]): number[] {
  const inv: number[] = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/** x moved to [N, ...spatial, C] (see channelsLastPermutation). */
export function toChannelsLast(layer: string, x: Tensor, axes: InputAxes): Tensor {
  const perm = channelsLastPermutation(layer, axes, x.rank);
  return perm === null ? x : tg.transpose(x, perm);
}

/** y [N, ...spatial, C] moved back to the layout of `axes` (the inverse of toChannelsLast). */
export function fromChannelsLast(layer: string, y: Tensor, axes: InputAxes): Tensor {
  const perm = channelsLastPermutation(layer, axes, y.rank);
  return perm === null ? y : tg.transpose(y, inversePermutation(perm));
}

/** A shape [.., ..] of an activation with these axes, as [N, ...spatial, C]. */
export function channelsLastShape(layer: string, shape: readonly number[], axes: InputAxes): number[] {
  const perm = channelsLastPermutation(layer, axes, shape.length);
  return perm === null ? [...shape] : perm.map((p) => shape[p]);
}

/** A channels-last shape moved back to the layout of `axes`. */
export function fromChannelsLastShape(layer: string, shape: readonly number[], axes: InputAxes): number[] {
  const perm = channelsLastPermutation(layer, axes, shape.length);
  return perm === null ? [...shape] : inversePermutation(perm).map((p) => shape[p]);
}

/** stax's `batch_axis` / `channel_axis` options, as layers take them. */
export interface AxisOptions {
  /** Default 0. */
  batchAxis?: number;
  /** Default -1; e.g. 1 for NCHW / NCL activations. */
  channelAxis?: number;
}

/**
 * Reads stax's `batch_axis` / `channel_axis` options of a layer (default 0 and -1).
 * @example axesOption('Dense(3)', { batchAxis: 1, channelAxis: 0 }) // { batch: 1, channel: 0 }
 */
export function axesOption(layer: string, opts: AxisOptions): InputAxes {
  const batch = opts.batchAxis ?? 0;
  const channel = opts.channelAxis ?? -1;
  for (const [what, v] of [['batchAxis', batch], ['channelAxis', channel]] as const) {
    if (!Number.isInteger(v)) throw new Error(`${layer}: ${what} must be an integer axis, got ${String(v)}`);
  }
  return batch === 0 && channel === -1 ? CHANNELS_LAST : Object.freeze({ batch, channel });
}

/**
 * The layout of a convolution, from jax.lax's `dimension_numbers` [lhs, rhs, out] (stax's Conv
 * option): letters N (batch) and C (channel) for the input and output, O and I for the filter,
 * and one letter per spatial axis, the same letters in all three (e.g. ['NCHW', 'OIHW', 'NCHW'],
 * ['NCL', 'OIL', 'NCL']). As in lax, the filter's order of the spatial letters is the order of
 * the filter shape, strides and dilation; the input and output must list the spatial letters in
 * that order too (a layout that permutes them would reorder the kernel's position axes, which
 * no rule tracks).
 */
export interface ConvLayout {
  /** The spec strings, for messages: e.g. 'NCHW'. */
  readonly lhs: string;
  readonly rhs: string;
  readonly out: string;
  /** The input's batch and channel axes. */
  readonly input: InputAxes;
  /** The output's batch and channel axes. */
  readonly output: InputAxes;
  /** The filter shape [.., ..] in the rhs order, from the filter's spatial sizes and I, O. */
  weightShape(filter: readonly number[], cin: number, cout: number): number[];
  /** The weight tensor (rhs order) as [...spatial, I, O]. */
  weightToSpatialIO(W: Tensor): Tensor;
}

/** The batch and channel axes of an activation spec; a last channel axis is -1, as CHANNELS_LAST. */
function specAxes(spec: string): InputAxes {
  const channel = spec.indexOf('C');
  return { batch: spec.indexOf('N'), channel: channel === spec.length - 1 ? -1 : channel };
}

/** The default conv layout: [N, ...spatial, C] with a [...spatial, I, O] filter. */
function defaultSpecs(spatialRank: number): [string, string, string] {
  const s = spatialRank === 1 ? 'L' : 'HW';
  return [`N${s}C`, `${s}IO`, `N${s}C`];
}

/**
 * Parses and checks `dimension_numbers` (undefined: channels-last, [k]: 'NLC', 'LIO', 'NLC';
 * [kh, kw]: 'NHWC', 'HWIO', 'NHWC'); errors name the layer and the specs.
 * @example convLayout('Conv(8, [3,3])', 2, ['NCHW', 'OIHW', 'NCHW']).input // { batch: 0, channel: 1 }
 */
export function convLayout(layer: string, spatialRank: number, dimensionNumbers?: readonly string[]): ConvLayout {
  const specs = dimensionNumbers ?? defaultSpecs(spatialRank);
  if (!Array.isArray(specs) || specs.length !== 3 || !specs.every((s) => typeof s === 'string')) {
    throw new Error(`${layer}: dimensionNumbers must be three strings [lhs, rhs, out] such as ['NCHW', 'OIHW', 'NCHW'], got ${JSON.stringify(dimensionNumbers)}`);
  }
  const [lhs, rhs, out] = specs as [string, string, string];
  const bad = (why: string) => new Error(`${layer}: dimensionNumbers [${specs.map((s) => `'${s}'`).join(', ')}]: ${why}`);
  const rank = spatialRank + 2;
  for (const [spec, what] of [[lhs, 'lhs'], [rhs, 'rhs'], [out, 'out']] as const) {
    if (spec.length !== rank || new Set(spec).size !== rank) throw bad(`${what} '${spec}' must name ${rank} distinct axes for a ${spatialRank}-D filter`);
  }
  const spatial = [...rhs].filter((c) => c !== 'O' && c !== 'I');
  if (!rhs.includes('O') || !rhs.includes('I') || spatial.length !== spatialRank) throw bad(`rhs '${rhs}' must hold O, I and ${spatialRank} spatial letter(s)`);
  for (const [spec, what] of [[lhs, 'lhs'], [out, 'out']] as const) {
    if (!spec.includes('N') || !spec.includes('C')) throw bad(`${what} '${spec}' must hold N and C`);
    const letters = [...spec].filter((c) => c !== 'N' && c !== 'C');
    if (letters.join('') !== spatial.join('')) {
      throw bad(`${what} '${spec}' must list the spatial axes ${spatial.join('')} in the filter's order (other orders are not supported)`);
    }
  }
  const spatialIO = [...spatial.map((c) => rhs.indexOf(c)), rhs.indexOf('I'), rhs.indexOf('O')];
  const identity = spatialIO.every((p, i) => p === i);
  return {
    lhs,
    rhs,
    out,
    input: specAxes(lhs),
    output: specAxes(out),
    weightShape: (filter, cin, cout) => [...rhs].map((c) => (c === 'I' ? cin : c === 'O' ? cout : filter[spatial.indexOf(c)])),
    weightToSpatialIO: (W) => (identity ? W : tg.transpose(W, spatialIO)),
  };
}
