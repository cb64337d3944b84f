import type { KernelInput } from './backend.ts';
import type { Primitive } from './primitive.ts';
import type { PrimitiveName } from './primitives/index.ts';
import { Tensor } from './tensor.ts';

/**
 * Applies a primitive: checks shapes through its shape rule, asks the backend for the output
 * (which only enqueues on asynchronous backends) and records a graph node when tracing.
 */
export function bind<P>(primitive: Primitive<P, PrimitiveName>, inputs: readonly Tensor[], params: P): Tensor {
  const backend = inputs[0].backend;
  for (const x of inputs) {
    if (!(x instanceof Tensor)) throw new Error(`${primitive.name}: expected tensors as inputs, got ${typeof x}`);
    if (x.backend !== backend) {
      throw new Error(`${primitive.name}: inputs live on different backends (${backend.name} and ${x.backend.name}); move one with toBackend()`);
    }
  }
  const out = primitive.shapeRule(inputs, params);
  if (!backend.supportsDType(out.dtype)) throw new Error(`${primitive.name}: the ${backend.name} backend does not support ${out.dtype}`);
  const kernelInputs: KernelInput[] = inputs.map((x) => ({ storage: x.storage, shape: x.shape, dtype: x.dtype }));
  const storage = backend.run(primitive.name, kernelInputs, params, out.shape, out.dtype);
  return new Tensor(backend, storage, out.shape, out.dtype, { primitive, inputs, params });
}
