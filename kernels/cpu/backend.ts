/** The CPU backend: storage is a contiguous typed array; kernels are the reference specification. */
import type { Backend, KernelInput } from '../../engine/backend.ts';
import { type DType, type TypedArray } from '../../engine/dtype.ts';
import type { ConvParams } from '../../engine/conv-params.ts';
import type { PrimitiveName } from '../../engine/primitives/index.ts';
import type { Shape } from '../../engine/shape.ts';
import { conv2d } from './conv.ts';
import { binaryKernels, cast, share, unaryKernels, where, type CpuKernel } from './elementwise.ts';
import { gather, scatterAdd } from './indexing.ts';
import { matmul } from './matmul.ts';
import { movementKernels } from './movement.ts';
import { reduceKernels } from './reduce.ts';
import { adoptStorage, allocateOutput, releaseStorage, retainStorage } from './storage.ts';

const convKernel: CpuKernel = ([x, w], p: ConvParams, outShape, dtype) => {
  const out = allocateOutput(dtype, outShape.reduce((s, d) => s * d, 1));
  conv2d(x.storage, x.shape as [number, number, number, number], w.storage, w.shape as [number, number, number, number], p, out);
  return out;
};

/** One kernel per primitive: the type makes a missing (or misspelled) primitive a compile error. */
export const cpuKernels: Record<PrimitiveName, CpuKernel> = {
  ...unaryKernels,
  ...binaryKernels,
  ...reduceKernels,
  ...movementKernels,
  where,
  cast,
  identity: share,
  stopGradient: share,
  gather,
  scatterAdd,
  matmul,
  conv2d: convKernel,
};

export class CpuBackend implements Backend<TypedArray> {
  readonly name = 'cpu' as const;
  private live = 0;

  supportsDType(_dtype: DType): boolean {
    return true;
  }

  upload(values: TypedArray): TypedArray {
    this.live++;
    return adoptStorage(values);
  }

  run(op: PrimitiveName, inputs: readonly KernelInput<TypedArray>[], params: unknown, outShape: Shape, outDType: DType): TypedArray {
    const kernel = cpuKernels[op];
    if (!kernel) throw new Error(`${op}: no CPU kernel is registered for this primitive`);
    // Count the storage only once the kernel has produced it (a kernel may refuse, e.g. an
    // out-of-range gather index).
    const out = kernel(inputs, params, outShape, outDType);
    this.live++;
    // An identity-like kernel hands back an input's storage: one more tensor holds it.
    if (inputs.some((x) => x.storage === out)) retainStorage(out);
    return out;
  }

  async read(storage: TypedArray): Promise<TypedArray> {
    return storage.slice();
  }

  readSync(storage: TypedArray): TypedArray {
    return storage.slice();
  }

  release(storage: TypedArray): void {
    this.live--;
    releaseStorage(storage);
  }

  liveCount(): number {
    return this.live;
  }
}

