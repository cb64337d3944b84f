/**
 * From a primitive (name, input shapes, params, output shape) to the WGSL programs that compute
 * it: usually one program, several for a concat (one scatter per input) or a split reduction
 * (partial results in a temporary), none for the ops whose storage is aliased.
 */
import type { ConvParams } from '../../engine/conv-params.ts';
import type { DType } from '../../engine/dtype.ts';
import type { GatherParams, ScatterAddParams } from '../../engine/primitives/gather.ts';
import type { PrimitiveName } from '../../engine/primitives/index.ts';
import type { MatmulParams } from '../../engine/primitives/matmul.ts';
import type { PadParams, SliceParams } from '../../engine/primitives/movement.ts';
import type { ReduceParams } from '../../engine/primitives/reduce.ts';
import { elemOf, product, type Elem } from '../wgsl/common.ts';
import { elementwiseProgram } from '../wgsl/elementwise.ts';
import { gatherIndexProgram, scatterAddProgram } from '../wgsl/indexing.ts';
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
/** `elems`: the element types of the inputs and then of the output. */
type Planner = (shapes: Shapes, params: any, outShape: readonly number[], ctx: PlanContext, elems: readonly Elem[], op: PrimitiveName) => Plan;

/**
 * 'alias': the output is the input's storage itself (storage is immutable, so sharing it is
 * safe); 'aliasSameType': alias when the element types agree (a cast between f32 and i32 converts).
 */
type WebGpuKernel = Planner | 'alias' | 'aliasSameType';

const single = (program: ShaderProgram, inputs: readonly Ref[] = [0]): Plan => ({ temps: [], steps: [{ program, inputs, output: OUT }] });

const elementwise: Planner = (shapes, _p, outShape, _ctx, elems, op) => single(elementwiseProgram(op, shapes, outShape, elems), shapes.map((_, i) => i));

function reduce(op: 'sum' | 'reduceMax'): Planner {
  return ([shape], { axes }: ReduceParams) => {
    const passes = reducePlan(op, shape, axes);
    const temps = passes.slice(0, -1).map((p) => p.outputSize);
    const steps = passes.map((p, i) => ({ program: p.program, inputs: [i === 0 ? 0 : temp(i - 1)], output: i === passes.length - 1 ? OUT : temp(i) }));
    return { temps, steps };
  };
}

/** One entry per primitive: the type makes a primitive without a WebGPU kernel a compile error. */
export const KERNELS: Record<PrimitiveName, WebGpuKernel> = {
  neg: elementwise, exp: elementwise, log: elementwise, sqrt: elementwise, tanh: elementwise, erf: elementwise,
  abs: elementwise, sign: elementwise, sin: elementwise, cos: elementwise, log1p: elementwise, expm1: elementwise,
  acos: elementwise, asin: elementwise,
  add: elementwise, sub: elementwise, mul: elementwise, div: elementwise, max: elementwise, min: elementwise, pow: elementwise,
  greater: elementwise, greaterEqual: elementwise, less: elementwise, lessEqual: elementwise, equal: elementwise, notEqual: elementwise,
  where: elementwise,
  cast: 'aliasSameType',
  reshape: 'alias',
  identity: 'alias',
  stopGradient: 'alias',
  sum: reduce('sum'),
  reduceMax: reduce('reduceMax'),
  transpose: ([shape], { perm }: { perm: readonly number[] }, _o, _c, [elem]) => single(transposeProgram(shape, perm, elem)),
  broadcastTo: ([shape], _p, outShape, _c, [elem]) => single(broadcastProgram(shape, outShape, elem)),
  slice: ([shape], { begin, strides }: SliceParams, outShape, _c, [elem]) => single(sliceProgram(shape, begin, strides, outShape, elem)),
  pad: ([shape], { lo, interior, value }: PadParams, outShape, _c, [elem]) => single(padProgram(shape, outShape, lo, interior, value, elem)),
  reverse: ([shape], { axes }: { axes: readonly number[] }, _o, _c, [elem]) => single(reverseProgram(shape, axes, elem)),
  concat: (shapes, { axis }: { axis: number }, outShape, _c, [elem]) => ({
    temps: [],
    steps: concatPrograms(shapes, outShape, axis, elem).map(({ input, program }) => ({ program, inputs: [input], output: OUT })),
  }),
  gather: ([x, idx], { axis }: GatherParams, _o, _c, [elem]) =>
    single(gatherIndexProgram(product(x.slice(0, axis)), x[axis], product(x.slice(axis + 1)), product(idx), elem), [0, 1]),
  scatterAdd: ([u, idx], { axis, size }: ScatterAddParams, _o, _c, [elem]) =>
    single(scatterAddProgram(product(u.slice(0, axis)), size, product(u.slice(axis + idx.length)), product(idx), elem), [0, 1]),
  matmul: (shapes, p: MatmulParams, outShape, ctx) => ({ temps: [], steps: matmulSteps(shapes[0], shapes[1], p, outShape, ctx) }),
  conv2d: (shapes, p: ConvParams, outShape, ctx) => ({ temps: [], steps: conv2dSteps(shapes[0], shapes[1], p, outShape, ctx) }),
};

/** Whether `op` on these dtypes returns the input's storage (no kernel runs). */
export function aliases(op: PrimitiveName, inputDTypes: readonly DType[], outDType: DType): boolean {
  const k = KERNELS[op];
  return k === 'alias' || (k === 'aliasSameType' && inputDTypes[0] === outDType);
}

/**
 * Plans by (op, shapes, params): a training loop asks for the same few hundred plans every step,
 * and looking one up costs a key string, where building it costs axis collapsing, uniform
 * packing and a few allocations (measured: about half the backend's JS time per dispatch).
 */
const cache = new Map<string, Plan>();
const CACHE_SIZE = 4096;

function cacheKey(op: string, shapes: Shapes, params: unknown, outShape: readonly number[], ctx: PlanContext, elems: readonly Elem[]): string {
  let key = ctx.subgroups ? `${op}+sg` : op;
  if (elems.includes('i32')) key += `:${elems.join('')}`;
  for (const s of shapes) key += `|${s.join(',')}`;
  key += `>${outShape.join(',')}`;
  return params === undefined ? key : `${key}:${JSON.stringify(params)}`;
}

/**
 * The programs computing `op` (on float32 unless `dtypes` lists the inputs' and then the output's
 * dtypes); throws an error naming the op for an aliasing op, which runs no kernel.
 * @example planOp('add', [[2, 3], [3]], undefined, [2, 3])
 */
export function planOp(op: PrimitiveName, shapes: Shapes, params: unknown, outShape: readonly number[], ctx: PlanContext = PLAIN, dtypes: readonly DType[] = []): Plan {
  const elems = Array.from({ length: shapes.length + 1 }, (_, k) => elemOf(dtypes[k] ?? 'float32'));
  const key = cacheKey(op, shapes, params, outShape, ctx, elems);
  let plan = cache.get(key);
  if (plan) return plan;
  const kernel = KERNELS[op];
  if (kernel === 'alias') throw new Error(`${op}: aliases its input's storage on WebGPU; there is no program to plan`);
  // A cast between element types converts elementwise (between equal types it aliases).
  plan = (kernel === 'aliasSameType' ? elementwise : kernel)(shapes, params, outShape, ctx, elems, op);
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, plan);
  return plan;
}
