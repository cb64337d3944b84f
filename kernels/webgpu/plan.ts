/**
 * From a primitive (name, input shapes, params, output shape) to the WGSL programs that compute
 * it: usually one program, several for a concat (one scatter per input) or a split reduction
 * (partial results in a temporary), none for the ops whose storage is aliased.
 */
import type { ConvParams } from '../../engine/conv-params.ts';
import type { MatmulParams } from '../../engine/primitives/matmul.ts';
import type { PadParams, SliceParams } from '../../engine/primitives/movement.ts';
import type { ReduceParams } from '../../engine/primitives/reduce.ts';
import { elementwiseProgram, isElementwiseOp } from '../wgsl/elementwise.ts';
import { broadcastProgram, concatPrograms, padProgram, reverseProgram, sliceProgram, transposeProgram } from '../wgsl/movement.ts';
import type { ShaderProgram } from '../wgsl/program.ts';
import { reducePlan } from '../wgsl/reduce.ts';
import { conv2dSteps, matmulSteps } from './linear-plan.ts';

/** Where a step reads or writes: an input index (>= 0), the output (OUT) or temporary j (temp(j)). */
export type Ref = number;
export const OUT: Ref = -1;
export const temp = (j: number): Ref => -2 - j;

export interface Step {
  readonly program: ShaderProgram;
  readonly inputs: readonly Ref[];
  readonly output: Ref;
}

export interface Plan {
  /** Sizes (f32 elements) of the temporaries the steps use. */
  readonly temps: readonly number[];
  readonly steps: readonly Step[];
}

/** What the device offers that changes the generated code. */
export interface PlanContext {
  /** The 'subgroups' feature with subgroups of at least 8 invocations (gemm-core.ts). */
  readonly subgroups: boolean;
}

const PLAIN: PlanContext = { subgroups: false };

type Shapes = readonly (readonly number[])[];
type Planner = (shapes: Shapes, params: any, outShape: readonly number[], ctx: PlanContext) => Plan;

/** Ops whose output is the input's storage itself: storage is immutable, so sharing it is safe. */
export const ALIAS_OPS: ReadonlySet<string> = new Set(['reshape', 'identity', 'stopGradient', 'cast']);

const single = (program: ShaderProgram, inputs: readonly Ref[] = [0]): Plan => ({ temps: [], steps: [{ program, inputs, output: OUT }] });

function reduce(op: 'sum' | 'reduceMax'): Planner {
  return ([shape], { axes }: ReduceParams) => {
    const passes = reducePlan(op, shape, axes);
    const temps = passes.slice(0, -1).map((p) => p.outputSize);
    const steps = passes.map((p, i) => ({ program: p.program, inputs: [i === 0 ? 0 : temp(i - 1)], output: i === passes.length - 1 ? OUT : temp(i) }));
    return { temps, steps };
  };
}

const PLANNERS: Record<string, Planner> = {
  sum: reduce('sum'),
  reduceMax: reduce('reduceMax'),
  transpose: ([shape], { perm }: { perm: readonly number[] }) => single(transposeProgram(shape, perm)),
  broadcastTo: ([shape], _p, outShape) => single(broadcastProgram(shape, outShape)),
  slice: ([shape], { begin, strides }: SliceParams, outShape) => single(sliceProgram(shape, begin, strides, outShape)),
  pad: ([shape], { lo, interior, value }: PadParams, outShape) => single(padProgram(shape, outShape, lo, interior, value)),
  reverse: ([shape], { axes }: { axes: readonly number[] }) => single(reverseProgram(shape, axes)),
  concat: (shapes, { axis }: { axis: number }, outShape) => ({
    temps: [],
    steps: concatPrograms(shapes, outShape, axis).map(({ input, program }) => ({ program, inputs: [input], output: OUT })),
  }),
  matmul: (shapes, p: MatmulParams, outShape, ctx) => ({ temps: [], steps: matmulSteps(shapes[0], shapes[1], p, outShape, ctx) }),
  conv2d: (shapes, p: ConvParams, outShape, ctx) => ({ temps: [], steps: conv2dSteps(shapes[0], shapes[1], p, outShape, ctx) }),
};

/**
 * Plans by (op, shapes, params): a training loop asks for the same few hundred plans every step,
 * and looking one up costs a key string, where building it costs axis collapsing, uniform
 * packing and a few allocations (measured: about half the backend's JS time per dispatch).
 */
const cache = new Map<string, Plan>();
const CACHE_SIZE = 4096;

function cacheKey(op: string, shapes: Shapes, params: unknown, outShape: readonly number[], ctx: PlanContext): string {
  let key = ctx.subgroups ? `${op}+sg` : op;
  for (const s of shapes) key += `|${s.join(',')}`;
  key += `>${outShape.join(',')}`;
  return params === undefined ? key : `${key}:${JSON.stringify(params)}`;
}

/**
 * The programs computing `op`; throws an error naming the op when the WebGPU backend has no kernel.
 * @example planOp('add', [[2, 3], [3]], undefined, [2, 3])
 */
export function planOp(op: string, shapes: Shapes, params: unknown, outShape: readonly number[], ctx: PlanContext = PLAIN): Plan {
  const key = cacheKey(op, shapes, params, outShape, ctx);
  let plan = cache.get(key);
  if (plan) return plan;
  if (isElementwiseOp(op)) plan = single(elementwiseProgram(op, shapes, outShape), shapes.map((_, i) => i));
  else {
    const planner = PLANNERS[op];
    if (!planner) throw new Error(`${op}: no WebGPU kernel is registered for this primitive`);
    plan = planner(shapes, params, outShape, ctx);
  }
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, plan);
  return plan;
}
