/**
 * The specification of the general 2-D convolution: a literal transcription of the ConvParams
 * definition, slow on purpose. Tests compare the fast im2col kernel against it.
 */
import type { TypedArray } from '../../engine/dtype.ts';
import { convOutputLength, type ConvParams } from '../../engine/conv-params.ts';

/**
 * NHWC x [N,H,W,C] (*) HWIO w [KH,KW,C,O] -> out [N,OH,OW,O], accumulated in float64.
 *
 * @example
 * const out = new Float64Array(1);
 * conv2dDirect(new Float64Array([1, 2]), [1, 1, 2, 1], new Float64Array([3, 4]), [1, 2, 1, 1],
 *   { strides: [1, 1], padding: [[0, 0], [0, 0]], kernelDilation: [1, 1], inputDilation: [1, 1], flip: false }, out);
 * // out = [11]
 */
export function conv2dDirect(
  x: TypedArray, xShape: readonly [number, number, number, number],
  w: TypedArray, wShape: readonly [number, number, number, number],
  p: ConvParams,
  out: TypedArray,
): void {
  const [N, H, W, C] = xShape;
  const [KH, KW, , O] = wShape;
  const OH = convOutputLength(H, KH, p.strides[0], p.padding[0][0], p.padding[0][1], p.kernelDilation[0], p.inputDilation[0]);
  const OW = convOutputLength(W, KW, p.strides[1], p.padding[1][0], p.padding[1][1], p.kernelDilation[1], p.inputDilation[1]);
  const dilH = (H - 1) * p.inputDilation[0] + 1, dilW = (W - 1) * p.inputDilation[1] + 1;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let o = 0; o < O; o++) {
          let s = 0;
          for (let kh = 0; kh < KH; kh++) {
            // Row in the dilated, padded input; holes and the outside read as zero.
            const dh = oh * p.strides[0] + kh * p.kernelDilation[0] - p.padding[0][0];
            if (dh < 0 || dh >= dilH || dh % p.inputDilation[0] !== 0) continue;
            const ih = dh / p.inputDilation[0];
            const kr = p.flip ? KH - 1 - kh : kh;
            for (let kw = 0; kw < KW; kw++) {
              const dw = ow * p.strides[1] + kw * p.kernelDilation[1] - p.padding[1][0];
              if (dw < 0 || dw >= dilW || dw % p.inputDilation[1] !== 0) continue;
              const iw = dw / p.inputDilation[1];
              const kc = p.flip ? KW - 1 - kw : kw;
              for (let c = 0; c < C; c++) {
                s += x[((n * H + ih) * W + iw) * C + c] * w[((kr * KW + kc) * C + c) * O + o];
              }
            }
          }
          out[((n * OH + oh) * OW + ow) * O + o] = s;
        }
      }
    }
  }
}
