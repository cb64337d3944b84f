import type { KernelInput } from './backend.ts';
import type { Primitive } from './primitive.ts';
import type { PrimitiveName } from './primitives/index.ts';
import { checkSize, describeValue, formatShape, sizeOf } from './shape.ts';
import { Tensor } from './tensor.ts';

/**
 * Applies a primitive: checks shapes through its shape rule, asks the backend for the output
 * (which only enqueues on asynchronous backends) and records a graph node when tracing.
 */
export function bind<P>(primitive: Primitive<P, PrimitiveName>, inputs: readonly Tensor[], params: P): Tensor {
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i];
    if (!(x instanceof Tensor)) throw new Error(`${primitive.name}: input ${i} must be a tensor, got ${describeValue(x)}`);
  }
  const backend = inputs[0].backend;
  for (const x of inputs) {
    if (x.backend !== backend) {
      throw new Error(`${primitive.name}: inputs live on different backends (${backend.name} and ${x.backend.name}); move one with toBackend()`);
    }
  }
  const out = primitive.shapeRule(inputs, params);
  checkSize(primitive.name, out.shape);
  if (!backend.supportsDType(out.dtype)) throw new Error(`${primitive.name}: the ${backend.name} backend does not support ${out.dtype}`);
  const kernelInputs: KernelInput[] = inputs.map((x) => ({ storage: x.storage, shape: x.shape, dtype: x.dtype }));
  let storage: unknown;
  try {
    storage = backend.run(primitive.name, kernelInputs, params, out.shape, out.dtype);
  } catch (e) {
    // A failed allocation (RangeError: "Array buffer allocation failed", "Invalid typed array
    // length") says neither which op nor how much: name both.
    if (e instanceof RangeError) throw allocationError(primitive.name, out.shape, out.dtype, e);
    throw e;
  }
  return new Tensor(backend, storage, out.shape, out.dtype, { primitive, inputs, params });
}

/** An Error for a failed allocation, naming the op, the shape, the dtype and the bytes asked for. */
export function allocationError(op: string, shape: readonly number[], dtype: string, cause: Error): Error {
  const bytes = sizeOf(shape) * (dtype === 'float64' ? 8 : 4);
  return new Error(`${op}: cannot allocate the output ${dtype}${formatShape(shape)} (${bytes} bytes): ${cause.message}`, { cause });
}
