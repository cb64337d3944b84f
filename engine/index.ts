/** The engine's public surface: tensors, ops, composites, autodiff, memory, PRNG, backends. */
import { registerBackend } from './backend-registry.ts';
import { CpuBackend } from '../kernels/cpu/backend.ts';

const cpu = new CpuBackend();
registerBackend('cpu', async () => cpu, cpu);
registerBackend('webgpu', async () => (await import('../kernels/webgpu/backend.ts')).createWebGpuBackend());

export * from './ops.ts';
export * from './nn.ts';
export { take, scatterAdd, argmax, oneHot, type Indices } from './indexing.ts';
export { grad, valueAndGrad, vjp, jvp, traceGraph, type GradOptions, type VjpFn, type TracedGraph, type TraceGraphOptions } from './autodiff.ts';
export { tidy, dispose } from './memory.ts';
export { Tensor, keep, liveTensorCount } from './tensor.ts';
export { flatten, treeMap, treeZip, treeLeaves } from './tree.ts';
export { key, split, foldIn, normal, uniform, randomBits, type Key } from './random.ts';
export { getBackend, setBackend, useBackend, initBackend, registerBackend, backendInstance } from './backend-registry.ts';
export type { Backend, BackendName } from './backend.ts';
export { configureCpu, cpuInfo, shutdownCpuThreads, type CpuOptions, type CpuInfo } from '../kernels/cpu/config.ts';
export type { DType, FloatDType, TypedArray } from './dtype.ts';
export { PRIMITIVES, type PrimitiveName } from './primitives/index.ts';
export { convOutputLength, samePadding, windowOutputLength, windowPadding, type ConvParams, type WindowPadding } from './conv-params.ts';
export { jacfwd, jacrev, hessian, vmap, type JacobianOptions, type JacobianOf, type InAxes } from './transforms.ts';
