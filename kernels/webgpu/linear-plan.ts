/**
 * Programs for the two linear primitives, both on the tuned GEMM core (kernels/wgsl/gemm-core.ts),
 * with subgroups where the device has them: matmul (kernels/wgsl/matmul.ts) and conv2d as an
 * implicit GEMM (kernels/wgsl/conv.ts), which serves the forward pass, both gradients and the JVP.
 */
import type { ConvParams } from '../../engine/conv-params.ts';
import type { MatmulParams } from '../../engine/primitives/matmul.ts';
import { conv2dProgram } from '../wgsl/conv.ts';
import { matmulProgram } from '../wgsl/matmul.ts';
import type { PlanContext, Step } from './plan.ts';

const OUTPUT = -1;

export function matmulSteps(a: readonly number[], b: readonly number[], p: MatmulParams, outShape: readonly number[], ctx: PlanContext): Step[] {
  return [{ program: matmulProgram(a, b, p, outShape, { subgroups: ctx.subgroups }), inputs: [0, 1], output: OUTPUT }];
}

export function conv2dSteps(x: readonly number[], w: readonly number[], p: ConvParams, outShape: readonly number[], ctx: PlanContext): Step[] {
  return [{ program: conv2dProgram(x, w, p, outShape, { subgroups: ctx.subgroups }), inputs: [0, 1], output: OUTPUT }];
}
