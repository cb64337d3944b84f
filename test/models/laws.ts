/**
 * The layer law table: every layer and combinator with a small input, and one backend-agnostic
 * checker of the laws every differentiable layer must satisfy (PAPER.md section 10.1):
 *
 *   1. reverse mode: <grad_theta <u, f>, v_theta> and <grad_x <u, f>, v_x> equal central finite
 *      differences of <u, f> along v_theta and v_x;
 *   2. forward mode: J (v_theta, v_x) equals the central finite difference of f, elementwise;
 *   3. transpose law: <u, J v> = <J^T u, v>;
 *   plus: init's outputShape is the shape apply returns.
 *
 * Values are read only with `await t.data()`, and all tensors are computed in one synchronous
 * tidy first, so the WebGPU tests can re-run this table unchanged (with float32 tolerances).
 */
import * as tg from '../../engine/index.ts';
import type { DType, Key, Tensor } from '../../engine/index.ts';
import {
  ABRelu,
  Abs,
  AvgPool,
  Conv,
  ConvTranspose,
  Cos,
  Dense,
  Dropout,
  Elementwise,
  ElementwiseNumerical,
  Erf,
  Exp,
  Flatten,
  Gaussian,
  Gelu,
  GlobalAvgPool,
  GlobalSumPool,
  Hermite,
  Identity,
  LayerNorm,
  LeakyRelu,
  Rbf,
  Relu,
  SigmoidLike,
  Sign,
  Sin,
  SumPool,
  Tanh,
  fanInConcat,
  fanInProd,
  fanInSum,
  fanOut,
  isSingleShape,
  parallel,
  serial,
  wideResnet,
  wideResnetBlock,
  type Activation,
  type AnyLayer,
  type Params,
  type ShapeTree,
} from '../../models/index.ts';

export interface LayerCase {
  name: string;
  make: () => AnyLayer;
  /** The input shape for a batch of n examples. */
  inputShape: (n: number) => ShapeTree;
}

const img = (h: number, w: number, c: number) => (n: number) => [n, h, w, c];
const vec = (d: number) => (n: number) => [n, d];
const seq = (l: number, c: number) => (n: number) => [n, l, c];

export const LAYER_CASES: LayerCase[] = [
  { name: 'Dense ntk + bias', make: () => Dense(4, { W_std: 1.3, b_std: 0.4 }), inputShape: vec(5) },
  { name: 'Dense standard + bias', make: () => Dense(3, { W_std: 1.3, b_std: 0.4, parameterization: 'standard' }), inputShape: vec(5) },
  { name: 'Dense ntk, no bias', make: () => Dense(3), inputShape: vec(4) },
  { name: 'Conv VALID 3x3 ntk + bias', make: () => Conv(3, [3, 3], { W_std: 1.2, b_std: 0.3 }), inputShape: img(4, 5, 2) },
  { name: 'Conv SAME stride 2 standard', make: () => Conv(2, [3, 2], { strides: 2, padding: 'SAME', W_std: 1.2, b_std: 0.3, parameterization: 'standard' }), inputShape: img(5, 4, 2) },
  { name: 'Conv SAME dilation 2', make: () => Conv(2, [2, 2], { dilation: 2, padding: 'SAME' }), inputShape: img(4, 4, 3) },
  { name: 'Conv 1x1 strides [1,2]', make: () => Conv(3, [1, 1], { strides: [1, 2], b_std: 0.5 }), inputShape: img(3, 4, 2) },
  { name: 'Relu', make: () => Relu(), inputShape: vec(6) },
  { name: 'Erf', make: () => Erf(), inputShape: vec(6) },
  { name: 'Erf(a, b, c)', make: () => Erf({ a: 0.7, b: 1.9, c: -0.2 }), inputShape: img(2, 2, 2) },
  { name: 'Tanh', make: () => Tanh(), inputShape: vec(6) },
  { name: 'Identity', make: () => Identity(), inputShape: vec(3) },
  { name: 'Elementwise(softplus)', make: () => Elementwise((x) => tg.log1p(tg.exp(x)), 'softplus'), inputShape: vec(5) },
  { name: 'Flatten', make: () => Flatten(), inputShape: img(2, 3, 2) },
  { name: 'AvgPool 2x2 VALID stride 1', make: () => AvgPool([2, 2]), inputShape: img(3, 4, 2) },
  { name: 'AvgPool 3x3 SAME stride 2', make: () => AvgPool([3, 3], [2, 2], 'SAME'), inputShape: img(5, 4, 2) },
  { name: 'GlobalAvgPool', make: () => GlobalAvgPool(), inputShape: img(3, 2, 3) },
  { name: 'serial(Dense, Tanh, Dense)', make: () => serial(Dense(4, { b_std: 0.2 }), Tanh(), Dense(2, { b_std: 0.2 })), inputShape: vec(3) },
  { name: 'serial() (empty: identity)', make: () => serial(), inputShape: vec(3) },
  { name: 'parallel(Dense, Conv)', make: () => parallel(Dense(3, { b_std: 0.1 }), Conv(2, [2, 2])), inputShape: (n) => [[n, 4], [n, 3, 3, 2]] },
  { name: 'fanOut(3)', make: () => fanOut(3), inputShape: vec(4) },
  { name: 'fanInSum', make: () => fanInSum(), inputShape: (n) => [[n, 3], [n, 3], [n, 3]] },
  { name: 'fanInConcat(-1)', make: () => fanInConcat(), inputShape: (n) => [[n, 2], [n, 3]] },
  { name: 'fanInConcat(1) on NHWC', make: () => fanInConcat(1), inputShape: (n) => [[n, 1, 2, 2], [n, 3, 2, 2]] },
  {
    name: 'residual block serial(fanOut, parallel(main, Identity), fanInSum)',
    make: () => serial(fanOut(2), parallel(serial(Dense(3, { b_std: 0.1 }), Erf(), Dense(3)), Identity()), fanInSum()),
    inputShape: vec(3),
  },
  { name: 'wideResnetBlock with 1x1 stride-2 shortcut', make: () => wideResnetBlock(2, 3, 2, { W_std: 1.4, b_std: 0.1 }), inputShape: img(4, 4, 2) },
  {
    name: 'CNN serial(Conv, Relu, AvgPool, Flatten, Dense)',
    make: () => serial(Conv(3, [2, 2], { padding: 'SAME', b_std: 0.1 }), Relu(), AvgPool([2, 2], [2, 2]), Flatten(), Dense(2)),
    inputShape: img(4, 4, 2),
  },
  // neural-tangents stax parity layers.
  { name: 'Dense standard, s = [2, 3]', make: () => Dense(2, { W_std: 1.3, b_std: 0.4, parameterization: 'standard', s: [2, 3] }), inputShape: vec(4) },
  { name: 'Conv standard, s = [3, 2]', make: () => Conv(2, [2, 2], { padding: 'SAME', b_std: 0.2, parameterization: 'standard', s: [3, 2] }), inputShape: img(3, 3, 2) },
  { name: 'ConvTranspose SAME stride [2, 1] ntk + bias', make: () => ConvTranspose(2, [3, 2], { strides: [2, 1], padding: 'SAME', W_std: 1.2, b_std: 0.3 }), inputShape: img(2, 3, 2) },
  { name: 'ConvTranspose VALID stride 3 standard', make: () => ConvTranspose(2, [2, 2], { strides: 3, parameterization: 'standard', b_std: 0.2 }), inputShape: img(2, 2, 3) },
  { name: 'ABRelu(-0.4, 1.7)', make: () => ABRelu(-0.4, 1.7), inputShape: vec(6) },
  { name: 'LeakyRelu(0.1)', make: () => LeakyRelu(0.1), inputShape: img(2, 2, 2) },
  { name: 'Abs', make: () => Abs(), inputShape: vec(5) },
  { name: 'Sign (zero derivative)', make: () => Sign(), inputShape: vec(5) },
  { name: 'Gelu', make: () => Gelu(), inputShape: vec(6) },
  { name: 'Gelu approximate', make: () => Gelu({ approximate: true }), inputShape: vec(4) },
  { name: 'Sin(a, b, c)', make: () => Sin({ a: 1.2, b: 0.7, c: 0.3 }), inputShape: vec(5) },
  { name: 'Cos', make: () => Cos({ b: 1.5 }), inputShape: vec(4) },
  { name: 'Rbf(0.5)', make: () => Rbf(0.5), inputShape: vec(4) },
  { name: 'Exp(a, b)', make: () => Exp({ a: 0.8, b: 0.4 }), inputShape: vec(4) },
  { name: 'Gaussian(a, b)', make: () => Gaussian({ a: 1.3, b: -0.6 }), inputShape: vec(4) },
  { name: 'SigmoidLike', make: () => SigmoidLike(), inputShape: vec(4) },
  { name: 'Hermite(4)', make: () => Hermite(4), inputShape: vec(4) },
  { name: 'ElementwiseNumerical(softplus, df = sigmoid)', make: () => ElementwiseNumerical((x) => tg.log1p(tg.exp(x)), 16, tg.sigmoid), inputShape: vec(4) },
  { name: 'fanInProd', make: () => fanInProd(), inputShape: (n) => [[n, 3], [n, 3], [n, 3]] },
  { name: 'SumPool 2x2 SAME stride [2, 1]', make: () => SumPool([2, 2], [2, 1], 'SAME'), inputShape: img(3, 4, 2) },
  { name: 'GlobalSumPool', make: () => GlobalSumPool(), inputShape: img(2, 3, 2) },
  { name: 'LayerNorm (features)', make: () => LayerNorm({ eps: 1e-3 }), inputShape: vec(5) },
  { name: 'LayerNorm over [H, W, C]', make: () => LayerNorm({ axis: [1, 2, 3], eps: 1e-3 }), inputShape: img(2, 3, 2) },
  { name: 'Dropout(0.7) train, fixed key', make: () => withApplyKey(Dropout(0.7), 11), inputShape: img(2, 2, 3) },
  { name: 'Dropout test mode', make: () => Dropout(0.5, { mode: 'test' }), inputShape: vec(3) },
  {
    name: 'serial with two Dropouts and a key (split per layer)',
    make: () => withApplyKey(serial(Dense(4, { b_std: 0.1 }), Dropout(0.6), Gelu(), Dropout(0.8), Dense(2)), 12),
    inputShape: vec(3),
  },
  { name: 'wideResnet depth 10, 2 channels', make: () => wideResnet({ depth: 10, constantChannels: 2, numClasses: 2, W_std: 1.4, b_std: 0.1 }), inputShape: img(4, 4, 2) },
  { name: 'Conv [k] on [N, L, C], SAME stride 2 dilation 2 + bias', make: () => Conv(3, [3], { strides: 2, dilation: [2], padding: 'SAME', W_std: 1.2, b_std: 0.3 }), inputShape: seq(7, 2) },
  { name: 'ConvTranspose [k] VALID stride 2 standard', make: () => ConvTranspose(2, [3], { strides: [2], parameterization: 'standard', b_std: 0.2 }), inputShape: seq(3, 2) },
  { name: '1-D: AvgPool [k] SAME, SumPool [k], LayerNorm over [L, C], GlobalAvgPool', make: () => serial(AvgPool([2], [1], 'SAME'), SumPool([3], [2]), LayerNorm({ axis: [1, 2], eps: 1e-3 }), GlobalAvgPool()), inputShape: seq(6, 2) },
  { name: "Conv ['NCHW', 'OIHW', 'NCHW'] + bias, GlobalSumPool({ channelAxis: 1 })", make: () => serial(Conv(3, [2, 3], { padding: 'SAME', b_std: 0.2, dimensionNumbers: ['NCHW', 'OIHW', 'NCHW'] }), GlobalSumPool({ channelAxis: 1 })), inputShape: (n) => [n, 2, 3, 4] },
  { name: "Conv ['NCL', 'OIL', 'NLC']", make: () => Conv(2, [2], { dimensionNumbers: ['NCL', 'OIL', 'NLC'] }), inputShape: (n) => [n, 3, 5] },
  { name: 'NCHW: AvgPool, SumPool SAME stride 2, LayerNorm over [C, H, W], on channel axis 1', make: () => serial(AvgPool([2, 2], undefined, 'VALID', { channelAxis: 1 }), SumPool([2, 1], [2, 2], 'SAME', { channelAxis: 1 }), LayerNorm({ axis: [1, 2, 3], eps: 1e-3, channelAxis: 1 })), inputShape: (n) => [n, 2, 4, 3] },
  { name: 'Dense { batchAxis: 1, channelAxis: 0 } on [d, N]', make: () => Dense(3, { b_std: 0.3, batchAxis: 1, channelAxis: 0 }), inputShape: (n) => [4, n] },
];

/** The layer with `{ key: tg.key(seed) }` passed to every apply (a stochastic layer, made a fixed function). */
function withApplyKey(layer: AnyLayer, seed: number): AnyLayer {
  return { ...layer, apply: (p: Params, x: Activation) => layer.apply(p, x, { key: tg.key(seed) }) };
}

export interface LawOptions {
  seed: number;
  batch: number;
  dtype: DType;
  /** Finite-difference step (float64: 1e-6). */
  h: number;
  /** Relative tolerance of the finite-difference comparisons (float64: 1e-6). */
  fdTol: number;
  /** Relative tolerance of the transpose law (float64: 1e-11). */
  transposeTol: number;
}

export const FLOAT64_LAWS: Omit<LawOptions, 'seed' | 'batch'> = { dtype: 'float64', h: 1e-6, fdTol: 1e-6, transposeTol: 1e-11 };

/** Random input for a shape tree: one normal tensor per shape. */
function randomInput(key: Key, shape: ShapeTree, dtype: DType): Activation {
  if (isSingleShape(shape)) return tg.normal(key, shape, dtype);
  return (shape as readonly ShapeTree[]).map((s, i) => randomInput(tg.foldIn(key, i), s, dtype));
}

function randomLike(key: Key, tree: unknown): any {
  return tg.treeMap(tree, (leaf, i) => tg.normal(tg.foldIn(key, i), leaf.shape, leaf.dtype));
}

/** <a, b> over all leaves of two trees of the same structure, as a scalar tensor. */
function inner(a: unknown, b: unknown, dtype: DType): Tensor {
  const la = tg.treeLeaves(a);
  const lb = tg.treeLeaves(b);
  if (la.length !== lb.length) throw new Error(`inner: ${la.length} vs ${lb.length} leaves`);
  return la.reduce((acc, x, i) => tg.add(acc, tg.sum(tg.mul(x, lb[i]))), tg.scalar(0, dtype));
}

/** tree + s * dir, leafwise. */
function axpy(tree: unknown, dir: unknown, s: number): any {
  return tg.treeZip([tree, dir], ([t, d]) => tg.add(t, tg.mul(d, s)));
}

function shapesOf(tree: unknown): number[][] {
  return tg.treeLeaves(tree).map((t) => [...t.shape]);
}

function expectedLeafShapes(shape: ShapeTree): number[][] {
  return isSingleShape(shape) ? [[...shape]] : (shape as readonly ShapeTree[]).flatMap(expectedLeafShapes);
}

async function read(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

function close(a: number, b: number, rtol: number, scale: number): boolean {
  return Math.abs(a - b) <= rtol * Math.max(Math.abs(a), Math.abs(b), scale);
}

/**
 * Checks the laws for one case at one seed and batch size; throws an Error naming the case,
 * the law and the numbers when one fails.
 */
export async function checkLayerLaws(c: LayerCase, o: LawOptions): Promise<void> {
  const where = `${c.name} (seed ${o.seed}, batch ${o.batch}, ${o.dtype})`;
  const layer = c.make();
  const outShape: { expected?: ShapeTree } = {};
  const t = tg.tidy(() => {
    const [kInit, kx, ku, kvp, kvx] = tg.split(tg.key(o.seed), 5);
    const init = layer.init(kInit, c.inputShape(o.batch), o.dtype);
    outShape.expected = init.outputShape;
    const params: Params = init.params;
    const x = randomInput(kx, c.inputShape(o.batch), o.dtype);
    const f = (p: Params, xx: Activation) => layer.apply(p, xx);
    const y = f(params, x);
    const u = randomLike(ku, y);
    const vp = randomLike(kvp, params);
    const vx = randomLike(kvx, x);
    const L = (p: Params, xx: Activation) => inner(u, f(p, xx), o.dtype);
    const [gp, gx] = tg.grad(L, { argnums: [0, 1] })(params, x);
    const [, jv] = tg.jvp(f, [params, x], [vp, vx]);
    const [, back] = tg.vjp(f, params, x);
    const [ctp, ctx] = back(u);
    back.dispose();
    const { h } = o;
    return {
      yShapes: y,
      gradP: inner(gp, vp, o.dtype),
      gradX: inner(gx, vx, o.dtype),
      lpPlus: L(axpy(params, vp, h), x),
      lpMinus: L(axpy(params, vp, -h), x),
      lxPlus: L(params, axpy(x, vx, h)),
      lxMinus: L(params, axpy(x, vx, -h)),
      jv: tg.treeLeaves(jv),
      fPlus: tg.treeLeaves(f(axpy(params, vp, h), axpy(x, vx, h))),
      fMinus: tg.treeLeaves(f(axpy(params, vp, -h), axpy(x, vx, -h))),
      uJv: inner(u, jv, o.dtype),
      JtuV: tg.add(inner(ctp, vp, o.dtype), inner(ctx, vx, o.dtype)),
    };
  });
  try {
    const got = shapesOf(t.yShapes);
    const want = expectedLeafShapes(outShape.expected!).map((s) => s.map((d, i) => (i === 0 && d === -1 ? o.batch : d)));
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${where}: apply returned shapes ${JSON.stringify(got)} but init declared ${JSON.stringify(want)}`);

    const [gradP] = await read(t.gradP);
    const [gradX] = await read(t.gradX);
    const fdP = ((await read(t.lpPlus))[0] - (await read(t.lpMinus))[0]) / (2 * o.h);
    const fdX = ((await read(t.lxPlus))[0] - (await read(t.lxMinus))[0]) / (2 * o.h);
    // The scale floor: FD round-off is relative to the size of L, not of its derivative.
    const lScale = Math.max(1, Math.abs((await read(t.lpPlus))[0]));
    if (!close(gradP, fdP, o.fdTol, lScale)) throw new Error(`${where}: grad w.r.t. params . v = ${gradP} but finite differences give ${fdP}`);
    if (!close(gradX, fdX, o.fdTol, lScale)) throw new Error(`${where}: grad w.r.t. input . v = ${gradX} but finite differences give ${fdX}`);

    for (let i = 0; i < t.jv.length; i++) {
      const jv = await read(t.jv[i]);
      const plus = await read(t.fPlus[i]);
      const minus = await read(t.fMinus[i]);
      const fd = plus.map((p, j) => (p - minus[j]) / (2 * o.h));
      const scale = Math.max(1, ...plus.map(Math.abs));
      jv.forEach((v, j) => {
        if (!close(v, fd[j], o.fdTol, scale)) throw new Error(`${where}: JVP output ${i} element ${j} = ${v} but finite differences give ${fd[j]}`);
      });
    }

    const [uJv] = await read(t.uJv);
    const [JtuV] = await read(t.JtuV);
    if (!close(uJv, JtuV, o.transposeTol, 1)) throw new Error(`${where}: transpose law: <u, J v> = ${uJv} but <J^T u, v> = ${JtuV}`);
  } finally {
    tg.dispose(t);
  }
}
