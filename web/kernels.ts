// Browser entry for the WebGPU kernel checks (run by test/browser/harness.ts): elementwise,
// reduce, movement, matmul, conv2d and gradients on navigator.gpu against the CPU backend in
// the same page; returns a KernelReport.
import { kernelReport, type KernelReport } from '../test/webgpu/portable-checks.ts';

export default function kernels(): Promise<KernelReport> {
  return kernelReport();
}
