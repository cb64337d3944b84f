/**
 * The parameters of the one general 2-D convolution primitive (NHWC input, HWIO kernel), and
 * the one home of the output-size geometry: convolutions (tg.conv2d, the Conv layer), pooling
 * (tg.avgPool, the AvgPool layer) and the infinite-width rules all size their outputs and SAME
 * padding here.
 *
 * In coordinates of the input dilated by `inputDilation` (inputDilation - 1 zeros inserted
 * between neighbouring pixels), output pixel (oh, ow) reads
 *   row oh * strides[0] + kh * kernelDilation[0] - padding[0][0]
 * for kh = 0..KH-1, and multiplies it with kernel row (flip ? KH - 1 - kh : kh); likewise for
 * columns. Padding may be negative (a crop); reads outside the dilated input are zero.
 */
export interface ConvParams {
  readonly strides: readonly [number, number];
  /** [[top, bottom], [left, right]]; may be negative. */
  readonly padding: readonly [readonly [number, number], readonly [number, number]];
  readonly kernelDilation: readonly [number, number];
  readonly inputDilation: readonly [number, number];
  /** Convolve with the spatially flipped kernel (a true convolution rather than a correlation). */
  readonly flip: boolean;
}

/** Length of one spatial output axis; may be <= 0 when the shapes do not fit (callers reject that). */
export function convOutputLength(
  inputLength: number, kernelLength: number, stride: number,
  padBefore: number, padAfter: number, kernelDilation: number, inputDilation: number,
): number {
  const dilatedInput = (inputLength - 1) * inputDilation + 1;
  const dilatedKernel = (kernelLength - 1) * kernelDilation + 1;
  return Math.floor((dilatedInput + padBefore + padAfter - dilatedKernel) / stride) + 1;
}

/** 'SAME': output length ceil(input / stride), zeros padded (the extra one after); 'VALID': no padding. */
export type WindowPadding = 'SAME' | 'VALID';

/** SAME padding as in TensorFlow/JAX: [before, after] giving output ceil(input / stride), the odd one after. */
export function samePadding(inputLength: number, kernelLength: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(inputLength / stride);
  const total = Math.max(0, (out - 1) * stride + (kernelLength - 1) * dilation + 1 - inputLength);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** [before, after] zero padding of a window sweep with SAME or VALID padding. */
export function windowPadding(padding: WindowPadding, inputLength: number, window: number, stride: number, dilation = 1): [number, number] {
  return padding === 'SAME' ? samePadding(inputLength, window, stride, dilation) : [0, 0];
}

/**
 * Output length of a window (kernel or pooling window) swept with `stride` under SAME or VALID
 * padding: ceil(input / stride) for SAME; may be <= 0 for VALID when the window does not fit.
 * @example windowOutputLength(32, 3, 2, 1, 'SAME') // 16; windowOutputLength(32, 3, 1, 1, 'VALID') // 30
 */
export function windowOutputLength(inputLength: number, window: number, stride: number, dilation: number, padding: WindowPadding): number {
  const [before, after] = windowPadding(padding, inputLength, window, stride, dilation);
  return convOutputLength(inputLength, window, stride, before, after, dilation, 1);
}
