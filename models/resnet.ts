/**
 * Wide residual networks (Zagoruyko & Komodakis 2016) without batch norm, built from the stax
 * combinators the way neural-tangents' WideResnet example builds them, so an infinite-width
 * kernel rule for each primitive layer covers the whole network.
 *
 * Layout for depth = 6n + 4 (n blocks per group):
 *   Conv(c0, 3x3, SAME)
 *   group 1: n blocks, c1 channels, stride 1
 *   group 2: n blocks, c2 channels, first block stride 2
 *   group 3: n blocks, c3 channels, first block stride 2
 *   Relu, GlobalAvgPool, Dense(numClasses)
 * with (c0, c1, c2, c3) = (16, 16k, 32k, 64k) for widening factor k, or (C, C, C, C) for the
 * paper's variant with a constant channel count C in every layer (its Figure 4 WRN).
 *
 * A block is pre-activation (as in the neural-tangents example): main branch
 * Relu -> Conv 3x3 (stride s) -> Relu -> Conv 3x3; shortcut Identity, or a 1x1 Conv with stride
 * s where the channel count or the stride changes; merged by fanOut(2) / parallel / fanInSum.
 * GlobalAvgPool replaces the fixed AvgPool(8x8) of the 32x32 original so any input size works.
 */
import { Relu, Identity } from './activations.ts';
import { fanInSum, fanOut, parallel, serial } from './combinators.ts';
import { Conv, Dense, type WeightOptions } from './linear.ts';
import { GlobalAvgPool } from './pooling.ts';
import type { AnyLayer } from './layer.ts';
import type { KernelLayer } from './kernels/kernel-fn.ts';
import type { Tensor } from '../engine/index.ts';
import type { CombinatorHyper } from './combinators.ts';

/**
 * One residual block: [N, H, W, inChannels] -> [N, ceil(H/s), ceil(W/s), outChannels].
 * @example wideResnetBlock(16, 32, 2, { W_std: Math.SQRT2 })
 */
export function wideResnetBlock(inChannels: number, outChannels: number, stride: number, weights: WeightOptions = {}): KernelLayer<CombinatorHyper, Tensor> {
  const main = serial(
    Relu(),
    Conv(outChannels, [3, 3], { ...weights, strides: stride, padding: 'SAME' }),
    Relu(),
    Conv(outChannels, [3, 3], { ...weights, padding: 'SAME' }),
  );
  // A projection only where the identity cannot match the main branch's shape.
  const shortcut: AnyLayer = inChannels !== outChannels || stride !== 1
    ? Conv(outChannels, [1, 1], { ...weights, strides: stride, padding: 'SAME' })
    : Identity();
  return serial(fanOut(2), parallel(main, shortcut), fanInSum());
}

/**
 * n blocks with outChannels channels; the first carries the stride and the channel change.
 * @example wideResnetGroup(2, 16, 32, 2)
 */
export function wideResnetGroup(n: number, inChannels: number, outChannels: number, stride: number, weights: WeightOptions = {}): KernelLayer<CombinatorHyper, Tensor> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`wideResnetGroup: n must be a positive integer, got ${n}`);
  const blocks: AnyLayer[] = [wideResnetBlock(inChannels, outChannels, stride, weights)];
  for (let i = 1; i < n; i++) blocks.push(wideResnetBlock(outChannels, outChannels, 1, weights));
  // Every block returns one tensor; the variadic type of serial cannot see that through an array.
  return serial(...blocks) as KernelLayer<CombinatorHyper, Tensor>;
}

export interface WideResnetOptions extends WeightOptions {
  /** Total depth 6n + 4 (10, 16, 22, 28, ...): n blocks in each of the three groups. */
  depth: number;
  /** Widening factor k: channels 16, 16k, 32k, 64k. Give this or constantChannels. */
  wideningFactor?: number;
  /** The paper's variant: the same channel count in every conv layer. */
  constantChannels?: number;
  /** Output size of the final Dense readout. */
  numClasses: number;
  /** Weight options of the readout Dense; default: the same as the convolutions. */
  readout?: WeightOptions;
}

/**
 * A Wide ResNet on NHWC images: [N, H, W, C] -> [N, numClasses]. Returns a `serial` layer
 * (name 'serial'), so layer-by-layer tools recurse into it like any other composite.
 * @example
 * const wrn = wideResnet({ depth: 10, constantChannels: 64, numClasses: 10, W_std: Math.SQRT2 });
 * const { params, outputShape } = wrn.init(tg.key(0), [-1, 32, 32, 3]); // outputShape [-1, 10]
 */
export function wideResnet(opts: WideResnetOptions): KernelLayer<CombinatorHyper, Tensor> {
  if (opts === null || typeof opts !== 'object') throw new Error('wideResnet: options must be an object with depth and numClasses');
  const { depth, wideningFactor, constantChannels, numClasses, readout, ...weights } = opts;
  if (!Number.isInteger(depth) || depth < 10 || (depth - 4) % 6 !== 0) {
    throw new Error(`wideResnet: depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got ${depth}`);
  }
  if ((wideningFactor === undefined) === (constantChannels === undefined)) {
    throw new Error('wideResnet: give exactly one of wideningFactor and constantChannels');
  }
  let channels: [number, number, number, number];
  if (constantChannels !== undefined) {
    if (!Number.isInteger(constantChannels) || constantChannels < 1) throw new Error(`wideResnet: constantChannels must be a positive integer, got ${constantChannels}`);
    channels = [constantChannels, constantChannels, constantChannels, constantChannels];
  } else {
    const k = wideningFactor!;
    if (!Number.isInteger(16 * k) || k <= 0) throw new Error(`wideResnet: wideningFactor must be positive with 16k an integer, got ${k}`);
    channels = [16, 16 * k, 32 * k, 64 * k];
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`wideResnet: numClasses must be a positive integer, got ${numClasses}`);
  const n = (depth - 4) / 6;
  const [c0, c1, c2, c3] = channels;
  return serial(
    Conv(c0, [3, 3], { ...weights, padding: 'SAME' }),
    wideResnetGroup(n, c0, c1, 1, weights),
    wideResnetGroup(n, c1, c2, 2, weights),
    wideResnetGroup(n, c2, c3, 2, weights),
    Relu(),
    GlobalAvgPool(),
    Dense(numClasses, readout ?? weights),
  );
}
