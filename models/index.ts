/**
 * Models, losses, optimizers and the training loop: stax-style layers (`init` / `apply` with
 * named hyper-parameters) over the engine's tensors.
 * @example
 * import * as tg from '../engine/index.ts';
 * import { serial, Dense, Relu, mseLoss, gradientDescent, train } from '../models/index.ts';
 * const net = serial(Dense(512, { W_std: Math.SQRT2, b_std: Math.sqrt(0.1) }), Relu(), Dense(1, { W_std: Math.SQRT2, b_std: Math.sqrt(0.1) }));
 * const { params } = net.init(tg.key(0), [-1, 3072], 'float32');
 * const { params: trained } = await train({ apply: net.apply, params, loss: mseLoss('sum/2'), optimizer: gradientDescent(0.01), data: { x, y }, steps: 100 });
 */
export type { Activation, AnyLayer, ApplyOptions, InitResult, Layer, OutputOf, Params, ShapeTree } from './layer.ts';
export { formatShapeTree, isSingleShape, paramCount } from './layer.ts';
export * from './linear.ts';
export * from './activations.ts';
export * from './pooling.ts';
export * from './normalization.ts';
export * from './combinators.ts';
export * from './resnet.ts';
export * from './losses.ts';
export * from './optimizers.ts';
export * from './train.ts';
export * from './metrics.ts';
export { computeKernel, kernelMatrix, withKernel, type KernelLayer } from './kernels/kernel-fn.ts';
export type { KernelInput, KernelMatrix, KernelOptions, KernelResult, KernelRule, KernelState, KernelTree, KernelContext, SpatialLayout } from './kernels/state.ts';
export { gaussHermite, scaledTrapezoid, type GaussianRule, type QuadratureRule } from './kernels/gaussian.ts';
export { reluMap, erfMap, tanhMap, tensorFunctionMap, type GaussianMap } from './kernels/host-maps.ts';
export {
  reluKernelMap,
  erfKernelMap,
  abReluKernelMap,
  signKernelMap,
  geluKernelMap,
  sinKernelMap,
  rbfKernelMap,
  expKernelMap,
  gaussianKernelMap,
  hermiteKernelMap,
  type KernelMap,
} from './kernels/closed-forms.ts';
export { quadratureKernelMap, tanhKernelMap, functionKernelMap } from './kernels/quadrature.ts';
export { kernelFunction, type Kernel, type KernelFn, type KernelFnOptions, type KernelGet } from './kernels/kernel-fn.ts';
export { batch, type BatchableKernelFn } from './kernels/batch.ts';
