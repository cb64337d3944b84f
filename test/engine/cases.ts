/**
 * The primitive test table: for every primitive, a generator of random inputs (random shapes with
 * broadcasting and size-1 axes, random params), the engine call, and the float64 reference.
 * Reused by the CPU tests here and by the WebGPU tests.
 */
import fc from 'fast-check';
import { erf as erfRef } from '../../engine/special/erf.ts';
import * as tg from '../../engine/index.ts';
import type { PrimitiveName, Tensor } from '../../engine/index.ts';
import * as ref from './reference.ts';
import type { Arr } from './reference.ts';

export interface Case {
  inputs: Arr[];
  params: any;
}

export interface OpSpec {
  name: string;
  /** The primitive the row exercises, when its name differs from `name` (the registry test checks coverage). */
  primitive?: PrimitiveName;
  gen: fc.Arbitrary<Case>;
  run: (xs: Tensor[], params: any) => Tensor;
  ref: (xs: Arr[], params: any) => Arr;
  /** Indices of inputs that carry derivatives (default: all). */
  diff?: number[];
  /** Whether a finite-difference check is meaningful (false for ops with jumps). */
  smooth?: boolean;
}

type Values = 'any' | 'unit' | 'positive' | 'awayFromZero' | 'gridA' | 'gridB' | 'distinct' | 'bool';

/** Deterministic values from a seed so shrinking stays cheap. */
export function fill(shape: number[], seed: number, kind: Values): Arr {
  const n = ref.size(shape);
  const data = new Float64Array(n);
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
  const perm = Array.from({ length: n }, (_, i) => i).sort(() => next() - 0.5);
  for (let i = 0; i < n; i++) {
    const u = next();
    switch (kind) {
      case 'any': data[i] = 4 * u - 2; break;
      // Inside (-1, 1) and away from the ends, where acos / asin have bounded derivatives.
      case 'unit': data[i] = 1.8 * u - 0.9; break;
      case 'positive': data[i] = 0.5 + 1.5 * u; break;
      case 'awayFromZero': data[i] = (u < 0.5 ? -1 : 1) * (0.3 + 1.5 * next()); break;
      // Two interleaved grids never meet, keeping max/min/comparisons away from ties.
      case 'gridA': data[i] = 0.5 * Math.floor(8 * u - 4); break;
      case 'gridB': data[i] = 0.5 * Math.floor(8 * u - 4) + 0.25; break;
      case 'distinct': data[i] = 0.1 * perm[i] - 0.05 * n + 0.01 * u; break;
      case 'bool': data[i] = u < 0.5 ? 0 : 1; break;
    }
  }
  return { data, shape };
}

const dim = fc.integer({ min: 1, max: 4 });
export const shapeArb = (minRank = 0, maxRank = 4) => fc.array(dim, { minLength: minRank, maxLength: maxRank });

/** An input shape that broadcasts to `out`: drop leading axes and set some axes to 1. */
function broadcastable(out: number[]): fc.Arbitrary<number[]> {
  return fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
    .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
}

function inputs(kinds: Values[], broadcast: boolean, rank: [number, number] = [0, 4]): fc.Arbitrary<Case> {
  return shapeArb(rank[0], rank[1]).chain((out) =>
    fc.tuple(
      ...kinds.map((kind, i) =>
        fc.tuple(broadcast && i > 0 ? broadcastable(out) : broadcast ? fc.oneof(fc.constant(out), broadcastable(out)) : fc.constant(out), fc.nat())
          .map(([shape, seed]) => fill(shape, seed, kind))),
    ).map((arrs) => ({ inputs: arrs, params: undefined })),
  );
}

function unarySpec(name: string, run: (x: Tensor) => Tensor, f: (x: number) => number, kind: Values = 'any', smooth = true): OpSpec {
  return { name, gen: inputs([kind], false), run: ([x]) => run(x), ref: ([x]) => ref.mapN(f, x), smooth };
}

function binarySpec(name: string, run: (a: Tensor, b: Tensor) => Tensor, f: (a: number, b: number) => number, kinds: [Values, Values] = ['any', 'any'], smooth = true): OpSpec {
  return { name, gen: inputs(kinds, true), run: ([a, b]) => run(a, b), ref: ([a, b]) => ref.mapN(f, a, b), smooth };
}

const reduceGen = (kind: Values) =>
  shapeArb(1, 4).chain((shape) =>
    fc.tuple(fc.subarray(shape.map((_, i) => i), { minLength: 1 }), fc.boolean(), fc.nat()).map(([axes, keepdims, seed]) => ({
      inputs: [fill(shape, seed, kind)],
      params: { axes, keepdims },
    })));

const permutationOf = (n: number) => fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n });

export const OPS: OpSpec[] = [
  unarySpec('neg', tg.neg, (x) => -x),
  unarySpec('exp', tg.exp, Math.exp),
  unarySpec('log', tg.log, Math.log, 'positive'),
  unarySpec('sqrt', tg.sqrt, Math.sqrt, 'positive'),
  unarySpec('tanh', tg.tanh, Math.tanh),
  unarySpec('erf', tg.erf, erfRef),
  unarySpec('abs', tg.abs, Math.abs, 'awayFromZero'),
  unarySpec('sign', tg.sign, Math.sign, 'awayFromZero'),
  unarySpec('sin', tg.sin, Math.sin),
  unarySpec('cos', tg.cos, Math.cos),
  unarySpec('log1p', tg.log1p, Math.log1p, 'positive'),
  unarySpec('expm1', tg.expm1, Math.expm1),
  unarySpec('acos', tg.acos, Math.acos, 'unit'),
  unarySpec('asin', tg.asin, Math.asin, 'unit'),
  binarySpec('add', tg.add, (a, b) => a + b),
  binarySpec('sub', tg.sub, (a, b) => a - b),
  binarySpec('mul', tg.mul, (a, b) => a * b),
  binarySpec('div', tg.div, (a, b) => a / b, ['any', 'awayFromZero']),
  { ...binarySpec('maximum', tg.maximum, Math.max, ['gridA', 'gridB']), primitive: 'max' },
  { ...binarySpec('minimum', tg.minimum, Math.min, ['gridA', 'gridB']), primitive: 'min' },
  binarySpec('pow', tg.pow, Math.pow, ['positive', 'any']),
  binarySpec('greater', tg.greater, (a, b) => +(a > b), ['gridA', 'gridB']),
  binarySpec('greaterEqual', tg.greaterEqual, (a, b) => +(a >= b), ['gridA', 'gridB']),
  binarySpec('less', tg.less, (a, b) => +(a < b), ['gridA', 'gridB']),
  binarySpec('lessEqual', tg.lessEqual, (a, b) => +(a <= b), ['gridA', 'gridB']),
  binarySpec('equal', tg.equal, (a, b) => +(a === b), ['gridA', 'gridA'], false),
  binarySpec('notEqual', tg.notEqual, (a, b) => +(a !== b), ['gridA', 'gridA'], false),
  {
    name: 'where',
    gen: inputs(['bool', 'any', 'any'], true),
    run: ([c, a, b]) => tg.where(c, a, b),
    ref: ([c, a, b]) => ref.mapN((x, y, z) => (x !== 0 ? y : z), c, a, b),
    diff: [1, 2],
  },
  // Through int32 and back: truncation, exact on both backends; values sit 0.25 away from
  // integers, so the finite difference is 0 like the (symbolic zero) JVP.
  {
    name: 'cast',
    gen: inputs(['gridB'], false),
    run: ([x]) => tg.cast(tg.cast(x, 'int32'), x.dtype),
    ref: ([x]) => ref.mapN(Math.trunc, x),
  },
  unarySpec('identity', tg.identity, (x) => x),
  // No derivative flows: the JVP is a symbolic zero (the finite difference is not).
  unarySpec('stopGradient', tg.stopGradient, (x) => x, 'any', false),
  {
    name: 'sum',
    gen: reduceGen('any'),
    run: ([x], p) => tg.sum(x, p.axes, p.keepdims),
    ref: ([x], p) => ref.reduce(x, p.axes, p.keepdims, (a, b) => a + b, 0),
  },
  {
    name: 'max',
    primitive: 'reduceMax',
    gen: reduceGen('distinct'),
    run: ([x], p) => tg.max(x, p.axes, p.keepdims),
    ref: ([x], p) => ref.reduce(x, p.axes, p.keepdims, Math.max, -Infinity),
  },
  {
    name: 'reshape',
    gen: shapeArb(0, 4).chain((shape) => fc.tuple(fc.nat(), permutationOf(shape.length)).map(([seed, perm]) => ({
      inputs: [fill(shape, seed, 'any')],
      params: { shape: perm.map((p) => shape[p]).concat(shape.length === 0 ? [1] : []) },
    }))),
    run: ([x], p) => tg.reshape(x, p.shape),
    ref: ([x], p) => ({ data: x.data, shape: p.shape }),
  },
  {
    name: 'transpose',
    gen: shapeArb(1, 4).chain((shape) => fc.tuple(fc.nat(), permutationOf(shape.length)).map(([seed, perm]) => ({
      inputs: [fill(shape, seed, 'any')],
      params: { perm },
    }))),
    run: ([x], p) => tg.transpose(x, p.perm),
    ref: ([x], p) => ref.transpose(x, p.perm),
  },
  {
    name: 'broadcastTo',
    gen: shapeArb(0, 4).chain((out) => fc.tuple(broadcastable(out), fc.nat()).map(([shape, seed]) => ({
      inputs: [fill(shape, seed, 'any')],
      params: { shape: out },
    }))),
    run: ([x], p) => tg.broadcastTo(x, p.shape),
    ref: ([x], p) => ref.mapN((v) => v, x, { data: new Float64Array(ref.size(p.shape)), shape: p.shape }),
  },
  {
    name: 'slice',
    gen: shapeArb(1, 4).chain((shape) => fc.tuple(
      fc.nat(),
      fc.tuple(...shape.map((d) => fc.tuple(fc.integer({ min: 0, max: d - 1 }), fc.integer({ min: 1, max: d }), fc.integer({ min: 1, max: 3 })))),
    ).map(([seed, axes]) => ({
      inputs: [fill(shape, seed, 'any')],
      params: {
        begin: axes.map(([b]) => b),
        end: axes.map(([b, len], i) => Math.min(shape[i], b + len)),
        strides: axes.map(([, , s]) => s),
      },
    }))),
    run: ([x], p) => tg.slice(x, p.begin, p.end, p.strides),
    ref: ([x], p) => ref.slice(x, p.begin, p.end, p.strides),
  },
  {
    name: 'pad',
    gen: shapeArb(1, 3).chain((shape) => fc.tuple(
      fc.nat(),
      fc.tuple(...shape.map(() => fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })))),
      fc.double({ min: -2, max: 2, noNaN: true }),
    ).map(([seed, axes, value]) => ({
      inputs: [fill(shape, seed, 'any')],
      params: { lo: axes.map((a) => a[0]), hi: axes.map((a) => a[1]), interior: axes.map((a) => a[2]), value },
    }))),
    run: ([x], p) => tg.pad(x, p.lo, p.hi, p.interior, p.value),
    ref: ([x], p) => ref.pad(x, p.lo, p.hi, p.interior, p.value),
  },
  {
    name: 'concat',
    gen: shapeArb(1, 3).chain((shape) => fc.tuple(
      fc.integer({ min: 0, max: shape.length - 1 }),
      fc.array(fc.tuple(dim, fc.nat()), { minLength: 2, maxLength: 3 }),
    ).map(([axis, parts]) => ({
      inputs: parts.map(([d, seed]) => fill(shape.map((s, i) => (i === axis ? d : s)), seed, 'any')),
      params: { axis },
    }))),
    run: (xs, p) => tg.concat(xs, p.axis),
    ref: (xs, p) => ref.concat(xs, p.axis),
  },
  {
    name: 'reverse',
    gen: shapeArb(1, 4).chain((shape) => fc.tuple(fc.nat(), fc.subarray(shape.map((_, i) => i), { minLength: 1 })).map(([seed, axes]) => ({
      inputs: [fill(shape, seed, 'any')],
      params: { axes },
    }))),
    run: ([x], p) => tg.reverse(x, p.axes),
    ref: ([x], p) => ref.reverse(x, p.axes),
  },
  {
    name: 'gather',
    gen: takeCaseArb(),
    run: ([x], p) => tg.take(x, indexTensor(p, x), p.axis),
    ref: ([x], p) => ref.take(x, p.indices, p.indexShape, p.axis < 0 ? p.axis + x.shape.length : p.axis),
  },
  {
    name: 'scatterAdd',
    gen: scatterAddCaseArb(),
    run: ([u], p) => tg.scatterAdd(u, indexTensor(p, u), p.axis, p.size),
    ref: ([u], p) => ref.scatterAdd(u, p.indices, p.indexShape, p.axis, p.size),
  },
  {
    name: 'matmul',
    gen: fc.tuple(shapeArb(0, 2), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.boolean(), fc.boolean())
      .chain(([batch, m, k, n, tA, tB]) => fc.tuple(broadcastable(batch), broadcastable(batch), fc.nat(), fc.nat()).map(([ba, bb, sa, sb]) => ({
        inputs: [fill([...ba, ...(tA ? [k, m] : [m, k])], sa, 'any'), fill([...bb, ...(tB ? [n, k] : [k, n])], sb, 'any')],
        params: { transposeA: tA, transposeB: tB },
      }))),
    run: ([a, b], p) => tg.matmul(a, b, p),
    ref: ([a, b], p) => ref.matmul(a, b, p.transposeA, p.transposeB),
  },
  {
    name: 'conv2d',
    gen: convCaseArb(),
    run: ([x, w], p) => tg.convGeneral(x, w, p),
    ref: ([x, w], p) => ref.conv2d(x, w, p),
  },
];

interface IndexParams {
  indices: number[];
  indexShape: number[];
  axis: number;
}

/** The case's indices as an int32 tensor on the data's backend (shape indexShape, rank 0 to 2). */
export function indexTensor(p: IndexParams, like: Tensor): Tensor {
  return tg.tensor(Int32Array.from(p.indices), p.indexShape, 'int32', like.backend);
}

/** Indices of a random shape (rank 0..2, odd sizes) in [0, length): with short axes, duplicates are common. */
const indicesArb = (length: number) =>
  fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 2 }).chain((indexShape) =>
    fc.array(fc.integer({ min: 0, max: length - 1 }), { minLength: ref.size(indexShape), maxLength: ref.size(indexShape) })
      .map((indices) => ({ indices, indexShape })));

/** take(x, indices, axis) on x of rank 1..4; negative axes half the time. */
export function takeCaseArb(): fc.Arbitrary<Case> {
  return shapeArb(1, 4).chain((shape) => fc.tuple(fc.integer({ min: 0, max: shape.length - 1 }), fc.boolean(), fc.nat()).chain(([axis, negative, seed]) =>
    indicesArb(shape[axis]).map(({ indices, indexShape }) => ({
      inputs: [fill(shape, seed, 'any')],
      params: { indices, indexShape, axis: negative ? axis - shape.length : axis },
    }))));
}

/** scatterAdd(updates, indices, axis, size): updates have outer axes, the indices' shape, inner axes. */
export function scatterAddCaseArb(): fc.Arbitrary<Case> {
  return fc.tuple(shapeArb(0, 2), shapeArb(0, 2), fc.integer({ min: 1, max: 5 }), fc.nat()).chain(([outer, inner, size, seed]) =>
    indicesArb(size).map(({ indices, indexShape }) => ({
      inputs: [fill([...outer, ...indexShape, ...inner], seed, 'any')],
      params: { indices, indexShape, axis: outer.length, size },
    })));
}

/** Random general convolutions whose output is non-empty. */
export function convCaseArb(maxSpatial = 6): fc.Arbitrary<Case> {
  const small = (min: number, max: number) => fc.integer({ min, max });
  return fc.record({
    n: small(1, 2), h: small(1, maxSpatial), w: small(1, maxSpatial), c: small(1, 3), o: small(1, 3),
    kh: small(1, 3), kw: small(1, 3),
    strides: fc.tuple(small(1, 3), small(1, 3)),
    padding: fc.tuple(fc.tuple(small(-1, 2), small(-1, 2)), fc.tuple(small(-1, 2), small(-1, 2))),
    kernelDilation: fc.tuple(small(1, 2), small(1, 2)),
    inputDilation: fc.tuple(small(1, 2), small(1, 2)),
    flip: fc.boolean(),
    sx: fc.nat(), sw: fc.nat(),
  }).filter((r) => {
    const fits = (len: number, k: number, s: number, p: [number, number], d: number, id: number) =>
      Math.floor(((len - 1) * id + 1 + p[0] + p[1] - ((k - 1) * d + 1)) / s) + 1 >= 1;
    return fits(r.h, r.kh, r.strides[0], r.padding[0], r.kernelDilation[0], r.inputDilation[0])
      && fits(r.w, r.kw, r.strides[1], r.padding[1], r.kernelDilation[1], r.inputDilation[1]);
  }).map((r) => ({
    inputs: [fill([r.n, r.h, r.w, r.c], r.sx, 'any'), fill([r.kh, r.kw, r.c, r.o], r.sw, 'any')],
    params: { strides: r.strides, padding: r.padding, kernelDilation: r.kernelDilation, inputDilation: r.inputDilation, flip: r.flip },
  }));
}
