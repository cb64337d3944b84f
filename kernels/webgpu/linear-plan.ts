/**
 * Programs for the two linear primitives, matmul and conv2d.
 */
import type { ConvParams } from '../../engine/conv-params.ts';
import type { MatmulParams } from '../../engine/primitives/matmul.ts';
import { conv2dSimpleProgram, matmulSimpleProgram } from '../wgsl/matmul-simple.ts';
import type { Step } from './plan.ts';

const OUTPUT = -1;

export function matmulSteps(a: readonly number[], b: readonly number[], p: MatmulParams, outShape: readonly number[]): Step[] {
  return [{ program: matmulSimpleProgram(a, b, p.transposeA, p.transposeB, outShape), inputs: [0, 1], output: OUTPUT }];
}

export function conv2dSteps(x: readonly number[], w: readonly number[], p: ConvParams, outShape: readonly number[]): Step[] {
  return [{ program: conv2dSimpleProgram(x, w, p, outShape), inputs: [0, 1], output: OUTPUT }];
}
