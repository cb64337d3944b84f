/**
 * The one general 2-D convolution (NHWC input, HWIO kernel) with stride, padding (negative =
 * crop), kernel dilation, input dilation and flip. Its VJPs are convolutions of the same primitive
 * (with roles of stride and input dilation exchanged), so one kernel serves forward, both
 * gradients, the JVP and every higher derivative.
 */
import { convOutputLength, type ConvParams } from '../conv-params.ts';
import * as ops from '../ops.ts';
import { requireFloat, type Primitive } from '../primitive.ts';
import { formatShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

function checkPair(name: string, v: readonly number[], min: number, p: ConvParams): void {
  if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < min)) {
    throw new Error(`conv2d: ${name} must be two integers >= ${min}, got [${v}] (params ${JSON.stringify(p)})`);
  }
}

export const Conv2d: Primitive<ConvParams, 'conv2d'> = {
  name: 'conv2d',
  shapeRule([x, w], p) {
    const show = `input ${formatShape(x.shape)} (NHWC), kernel ${formatShape(w.shape)} (HWIO)`;
    requireFloat('conv2d', [x, w]);
    if (x.dtype !== w.dtype) throw new Error(`conv2d: dtypes differ: ${x.dtype} and ${w.dtype} for ${show}`);
    if (x.shape.length !== 4 || w.shape.length !== 4) throw new Error(`conv2d: need rank-4 input and kernel, got ${show}`);
    if (x.shape[3] !== w.shape[2]) throw new Error(`conv2d: input channels ${x.shape[3]} != kernel input channels ${w.shape[2]} for ${show}`);
    checkPair('strides', p.strides, 1, p);
    checkPair('kernelDilation', p.kernelDilation, 1, p);
    checkPair('inputDilation', p.inputDilation, 1, p);
    if (p.padding.length !== 2 || p.padding.some((q) => q.length !== 2 || q.some((v) => !Number.isInteger(v)))) {
      throw new Error(`conv2d: padding must be [[top, bottom], [left, right]] integers, got ${JSON.stringify(p.padding)}`);
    }
    const [n, h, wd] = x.shape;
    const [kh, kw, , o] = w.shape;
    const oh = convOutputLength(h, kh, p.strides[0], p.padding[0][0], p.padding[0][1], p.kernelDilation[0], p.inputDilation[0]);
    const ow = convOutputLength(wd, kw, p.strides[1], p.padding[1][0], p.padding[1][1], p.kernelDilation[1], p.inputDilation[1]);
    if (oh < 1 || ow < 1 || kh < 1 || kw < 1) {
      throw new Error(`conv2d: the kernel does not fit: ${show} with padding ${JSON.stringify(p.padding)}, dilation [${p.kernelDilation}] gives output ${oh}x${ow}`);
    }
    return { shape: [n, oh, ow, o], dtype: x.dtype };
  },
  jvp([x, w], [tx, tw], p) {
    const a = tx && ops.convGeneral(tx, w, p);
    const b = tw && ops.convGeneral(x, tw, p);
    if (a === null) return b;
    return b === null ? a : ops.add(a, b);
  },
  vjp(ct, [x, w], p, _out, needed) {
    return [needed[0] ? convInputGradient(ct, x, w, p) : null, needed[1] ? convKernelGradient(ct, x, w, p) : null];
  },
};

function dilatedLength(length: number, dilation: number): number {
  return (length - 1) * dilation + 1;
}

/**
 * dx: correlate the stride-dilated cotangent with the flipped, in/out-swapped kernel; the forward
 * input dilation becomes the stride (we only need dilated-input positions that hold real pixels).
 */
function convInputGradient(g: Tensor, x: Tensor, w: Tensor, p: ConvParams): Tensor {
  const padding = [0, 1].map((i) => {
    const keff = dilatedLength(w.shape[i], p.kernelDilation[i]);
    const before = keff - 1 - p.padding[i][0];
    const gd = dilatedLength(g.shape[1 + i], p.strides[i]);
    const after = dilatedLength(x.shape[1 + i], p.inputDilation[i]) + p.padding[i][0] - gd;
    return [before, after] as [number, number];
  });
  return ops.convGeneral(g, ops.transpose(w, [0, 1, 3, 2]), {
    strides: p.inputDilation,
    padding: padding as unknown as ConvParams['padding'],
    kernelDilation: p.kernelDilation,
    inputDilation: p.strides,
    flip: !p.flip,
  });
}

/**
 * dw: a convolution over the batch with channels as the batch axis: input x as [C,H,W,N],
 * kernel the cotangent as [OH,OW,N,O]; the forward stride becomes the kernel dilation and the
 * forward kernel dilation the stride.
 */
function convKernelGradient(g: Tensor, x: Tensor, w: Tensor, p: ConvParams): Tensor {
  const padding = [0, 1].map((i) => {
    const gd = dilatedLength(g.shape[1 + i], p.strides[i]);
    const xd = dilatedLength(x.shape[1 + i], p.inputDilation[i]);
    const after = (w.shape[i] - 1) * p.kernelDilation[i] + gd - xd - p.padding[i][0];
    return [p.padding[i][0], after] as [number, number];
  });
  const u = ops.convGeneral(ops.transpose(x, [3, 1, 2, 0]), ops.transpose(g, [1, 2, 0, 3]), {
    strides: p.kernelDilation,
    padding: padding as unknown as ConvParams['padding'],
    kernelDilation: p.strides,
    inputDilation: p.inputDilation,
    flip: false,
  });
  const dw = ops.transpose(u, [1, 2, 0, 3]);
  return p.flip ? ops.reverse(dw, [0, 1]) : dw;
}
