/** Test helper: a kernel evaluation read back to float64 host matrices (CPU tensors only). */
import { kernelMatrix, type KernelMatrix, type KernelResult, type SpatialLayout } from '../../models/index.ts';

export interface HostKernels {
  readonly nngp: KernelMatrix;
  readonly ntk: KernelMatrix | null;
  readonly layout: SpatialLayout;
}

/** The result of `layer.kernel(...)` as host matrices; the tensors are disposed. */
export function host(r: KernelResult): HostKernels {
  const out = { nngp: kernelMatrix(r.nngp), ntk: r.ntk === null ? null : kernelMatrix(r.ntk), layout: r.layout };
  r.nngp.dispose();
  r.ntk?.dispose();
  return out;
}
