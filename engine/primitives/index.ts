/**
 * The closed set of primitives, in one list. `PrimitiveName` follows from it, and every backend's
 * kernel table is typed `Record<PrimitiveName, ...>`, so adding a primitive here without a kernel
 * on each backend is a compile error (test/engine/registry.test.ts also checks the law table).
 */
import { Conv2d } from './conv.ts';
import * as ew from './elementwise.ts';
import { Gather, ScatterAdd } from './gather.ts';
import { Matmul } from './matmul.ts';
import * as mv from './movement.ts';
import * as red from './reduce.ts';

export const PRIMITIVES = [
  ew.Neg, ew.Exp, ew.Log, ew.Sqrt, ew.Tanh, ew.Erf, ew.Abs, ew.Sign, ew.Sin, ew.Cos, ew.Log1p, ew.Expm1, ew.Acos, ew.Asin,
  ew.Add, ew.Sub, ew.Mul, ew.Div, ew.Max, ew.Min, ew.Pow,
  ew.Greater, ew.GreaterEqual, ew.Less, ew.LessEqual, ew.Equal, ew.NotEqual,
  ew.Where, ew.Cast, ew.Identity, ew.StopGradient,
  red.Sum, red.Max,
  mv.Reshape, mv.Transpose, mv.BroadcastTo, mv.Slice, mv.Pad, mv.Concat, mv.Reverse,
  Gather, ScatterAdd,
  Matmul, Conv2d,
] as const;

export type PrimitiveName = (typeof PRIMITIVES)[number]['name'];

export { Conv2d, Gather, Matmul, ScatterAdd };
export * as elementwise from './elementwise.ts';
export * as movement from './movement.ts';
export * as reduce from './reduce.ts';
