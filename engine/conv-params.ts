/**
 * The parameters of the one general 2-D convolution primitive (NHWC input, HWIO kernel).
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
