/**
 * Programs for the two linear primitives. matmul runs the tuned GEMM of kernels/wgsl/matmul.ts
 * (with subgroups where the device has them); conv2d runs the direct fallback of
 * matmul-simple.ts until an implicit-GEMM kernel (kernels/wgsl/conv.ts) replaces it.
 */
import type { ConvParams } from '../../engine/conv-params.ts';
import type { MatmulParams } from '../../engine/primitives/matmul.ts';
import { matmulProgram } from '../wgsl/matmul.ts';
import { conv2dSimpleProgram } from '../wgsl/matmul-simple.ts';
import type { PlanContext, Step } from './plan.ts';

const OUTPUT = -1;

export function matmulSteps(a: readonly number[], b: readonly number[], p: MatmulParams, outShape: readonly number[], ctx: PlanContext): Step[] {
  return [{ program: matmulProgram(a, b, p, outShape, { subgroups: ctx.subgroups }), inputs: [0, 1], output: OUTPUT }];
}

export function conv2dSteps(x: readonly number[], w: readonly number[], p: ConvParams, outShape: readonly number[], _ctx: PlanContext): Step[] {
  return [{ program: conv2dSimpleProgram(x, w, p, outShape), inputs: [0, 1], output: OUTPUT }];
}
