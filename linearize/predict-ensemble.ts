/**
 * neural-tangents' `predict.gradient_descent_mse_ensemble`: the Gaussian distribution of the
 * outputs of an infinite ensemble of networks, each trained by gradient descent on
 * 0.5 mean((f - y)^2) from a random initialization with zero-mean outputs, given the kernel
 * function of the infinite-width network (or any kernel function: empirical, Monte Carlo).
 *
 * With 'ntk' every weight trains (Theta drives the dynamics, K is the prior covariance); with
 * 'nngp' only the readout trains (K plays both roles, and at t = infinity the result is the
 * exact NNGP posterior). Formulas in the eigenbasis of the regularized train kernel
 * K_g = V diag(lambda) V^T, tau = learningRate t / N, N = yTrain.size:
 *   mean(x) = K_g(x, X) V diag((1 - e^{-lambda tau}) / lambda) V^T y
 *   cov_nngp(x, x) = K(x, x) - K(x, X) V diag((1 - e^{-2 lambda tau}) / lambda) V^T K(X, x)
 *   cov_ntk(x, x)  = K(x, x) + T1^T K T1 - (Theta(x, X) A K(X, x) + its transpose),
 *                    A = V diag((1 - e^{-lambda tau}) / lambda) V^T, T1 = A Theta(X, x)
 * and on the train set (xTest = null) mean = V diag(1 - e^{-lambda tau}) V^T y with covariances
 * V diag(lambda e^{-2 lambda tau}) V^T (nngp) and E K E, E = V diag(e^{-lambda tau}) V^T (ntk).
 * t = null is infinite time by Cholesky solves (gpInference). Kernels may live on any backend:
 * the predictor reads them asynchronously, so it returns a Promise.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { matmul, matmulTransposeA, symmetricEigen, transpose, type Matrix } from '../linalg/dense.ts';
import { toTensor, type HostArray } from './host-array.ts';
import {
  addDiagonalRegularizer,
  checkOptions,
  concatParts,
  expm1Scalars,
  fromEigenbasis,
  gpInference,
  parseGet,
  parseTimes,
  readTargets,
  trainKernel,
  type ByGet,
  type Gaussian,
  type Get,
  type PredictOptions,
  type Times,
} from './predict.ts';

/** What a kernel function returns: one kernel (for one `get`) or kernels by kind. */
export type KernelFnOutput = Tensor | { readonly nngp?: Tensor | null; readonly ntk?: Tensor | null };

/** A kernel function as neural-tangents': kernelFn(x1, x2 (null: x1), get). */
export type KernelFnLike = (x1: Tensor, x2: Tensor | null, get: Get | readonly Get[]) => KernelFnOutput;

async function readKernels(fn: string, kernelFn: KernelFnLike, x1: Tensor, x2: Tensor | null, gets: Get[]): Promise<Map<Get, HostArray>> {
  const out = kernelFn(x1, x2, gets.length === 1 ? gets[0] : gets);
  const map = new Map<Get, HostArray>();
  for (const g of gets) {
    const t = out instanceof tg.Tensor ? (gets.length === 1 ? out : undefined) : out?.[g] ?? undefined;
    if (!(t instanceof tg.Tensor)) throw new Error(`${fn}: kernelFn(x1, x2, ${JSON.stringify(gets.length === 1 ? gets[0] : gets)}) returned no '${g}' kernel tensor`);
    map.set(g, { shape: [...t.shape], data: Float64Array.from(await t.data()) });
  }
  return map;
}

/** Kinds the computation needs: NNGP for 'nngp' and for any covariance; NTK for 'ntk'. */
function dependencies(gets: Get[], computeCov: boolean): Get[] {
  const deps: Get[] = [];
  if (gets.includes('nngp') || (gets.includes('ntk') && computeCov)) deps.push('nngp');
  if (gets.includes('ntk')) deps.push('ntk');
  return deps;
}

/**
 * Builds the ensemble predictor `await predict(t, xTest, get, computeCov)`: means (or
 * { mean, covariance } with computeCov) at times t (null = infinity; a list adds a leading time
 * axis), at xTest (null: the train inputs, unregularized), for get 'nngp', 'ntk' or both (an
 * object by kind). Train kernels are computed once per kind and cached.
 * @example
 * const predict = gradientDescentMseEnsemble(net.kernelFn, xTrain, yTrain, { diagReg: 1e-4 });
 * const { nngp, ntk } = await predict(null, xTest, ['nngp', 'ntk'], true); // each { mean, covariance }
 */
export function gradientDescentMseEnsemble(kernelFn: KernelFnLike, xTrain: Tensor, yTrain: Tensor | HostArray, opts: PredictOptions = {}) {
  const fn = 'gradientDescentMseEnsemble';
  if (typeof kernelFn !== 'function') throw new Error(`${fn}: kernelFn must be a function (x1, x2, get) => kernels, got ${typeof kernelFn}`);
  if (!(xTrain instanceof tg.Tensor)) throw new Error(`${fn}: xTrain must be a Tensor`);
  const o = checkOptions(fn, opts);
  const { y, layout } = readTargets(fn, yTrain, o.traceAxes);
  const n = y.shape[0];
  if (xTrain.shape[0] !== n) throw new Error(`${fn}: xTrain [${xTrain.shape.join(',')}] and yTrain [${y.shape.join(',')}] differ in the number of samples`);
  const Y = layout.toMatrix('yTrain', y, n);
  const size = y.data.length;
  const trainArrays = new Map<Get, HostArray>();
  const trainMatrices = new Map<Get, Matrix>();
  const eigens = new Map<Get, ReturnType<typeof symmetricEigen>>();

  const trainKernels = async (deps: Get[]) => {
    const missing = deps.filter((g) => !trainArrays.has(g));
    if (missing.length > 0) {
      const got = await readKernels(fn, kernelFn, xTrain, null, missing);
      for (const [g, a] of got) {
        trainArrays.set(g, a);
        trainMatrices.set(g, trainKernel(layout, `kernelFn(xTrain, null, '${g}')`, a, n));
      }
    }
  };
  const eigenOf = (g: Get) => {
    let e = eigens.get(g);
    if (!e) eigens.set(g, (e = symmetricEigen(addDiagonalRegularizer(trainMatrices.get(g)!, o.diagReg, o.diagRegAbsoluteScale), { fn, name: `kernelFn(xTrain, null, '${g}') (+ diagReg)` })));
    return e;
  };

  return async (t?: Times, xTest?: Tensor | null, get?: Get | readonly Get[] | null, computeCov = false): Promise<ByGet<Tensor | Gaussian>> => {
    const { gets, single } = parseGet(fn, get);
    const deps = dependencies(gets, computeCov);
    await trainKernels(deps);
    let test: Map<Get, HostArray> | undefined;
    let nngpTt: HostArray | undefined;
    if (xTest !== null && xTest !== undefined) {
      if (!(xTest instanceof tg.Tensor)) throw new Error(`${fn}: xTest must be a Tensor or null`);
      test = await readKernels(fn, kernelFn, xTest, xTrain, deps);
      if (computeCov) nngpTt = (await readKernels(fn, kernelFn, xTest, null, ['nngp'])).get('nngp');
    }
    if (t === null || t === undefined) {
      const kdd = Object.fromEntries(trainArrays);
      const predict = gpInference(kdd, y, { diagReg: o.diagReg, diagRegAbsoluteScale: o.diagRegAbsoluteScale, traceAxes: o.traceAxes });
      const ktt = computeCov ? (test ? { nngp: nngpTt } : { nngp: trainArrays.get('nngp') }) : null;
      return predict(single ? gets[0] : gets, test ? Object.fromEntries(test) : null, ktt);
    }
    const { times, lead } = parseTimes(fn, t);
    const out: { nngp?: Tensor | Gaussian; ntk?: Tensor | Gaussian } = {};
    let m = n;
    const testMatrix = (g: Get): Matrix => {
      const km = layout.kernelMatrix(`kernelFn(xTest, xTrain, '${g}')`, test!.get(g)!, n);
      m = km.n1;
      return km.matrix;
    };
    for (const g of gets) {
      const { values, vectors } = eigenOf(g);
      const Ktd = test ? testMatrix(g) : undefined;
      const P = matmulTransposeA(vectors, Y);
      const means: Float64Array[] = [];
      const covs: Float64Array[] = [];
      const Knngp = computeCov ? trainMatrices.get('nngp')! : undefined;
      const KtdNngp = computeCov && test ? testMatrix('nngp') : undefined;
      const Ktt = computeCov && test ? layout.kernelMatrix(`kernelFn(xTest, null, 'nngp')`, nngpTt!, m).matrix : undefined;
      for (const time of times) {
        const tau = (time * o.learningRate) / size;
        const s = Array.from(values, (l) => expm1Scalars(l, tau));
        if (Ktd) means.push(matmul(Ktd, fromEigenbasis(vectors, s.map((v) => -v.integral), P)).data);
        else means.push(fromEigenbasis(vectors, s.map((v) => -v.decay), P).data);
        if (!computeCov) continue;
        if (!Ktd) {
          if (g === 'nngp') {
            const d = Array.from(values, (l) => Math.max(l, 0) * decayOf(l, 2 * tau));
            covs.push(matmul(vectors, scaleColumnsT(vectors, d)).data);
          } else {
            const E = matmul(vectors, scaleColumnsT(vectors, Array.from(values, (l) => decayOf(l, tau))));
            covs.push(matmul(E, matmul(Knngp!, E)).data);
          }
          continue;
        }
        const KdtNngp = transpose(KtdNngp!);
        if (g === 'nngp') {
          const s2 = Array.from(values, (l) => -expm1Scalars(l, 2 * tau).integral);
          const red = matmul(Ktd, fromEigenbasis(vectors, s2, matmulTransposeA(vectors, KdtNngp)));
          covs.push(Ktt!.data.map((v, i) => v - red.data[i]));
        } else {
          const a = s.map((v) => -v.integral);
          const T1 = fromEigenbasis(vectors, a, matmulTransposeA(vectors, transpose(Ktd))); // n x m
          const term2 = matmul(Ktd, fromEigenbasis(vectors, a, matmulTransposeA(vectors, KdtNngp))); // m x m
          const quad = matmulTransposeA(T1, matmul(Knngp!, T1));
          const mm = quad.rows;
          covs.push(quad.data.map((v, i) => v - term2.data[i] - term2.data[(i % mm) * mm + Math.floor(i / mm)] + Ktt!.data[i]));
        }
      }
      const meanT = toTensor(layout.fromMatrix(concatParts(means), m, lead));
      out[g] = computeCov ? { mean: meanT, covariance: toTensor(layout.covarianceFromMatrix(concatParts(covs), m, lead)) } : meanT;
    }
    return single ? out[gets[0]]! : out;
  };
}

/** e^{-max(lambda, 0) tau} with e^{-0 * inf} = 1. */
function decayOf(lambda: number, tau: number): number {
  return 1 + expm1Scalars(lambda, tau).decay;
}

/** diag(d) V^T, as a matrix (rows scaled). */
function scaleColumnsT(vectors: Matrix, d: ArrayLike<number>): Matrix {
  const t = transpose(vectors);
  const out = Float64Array.from(t.data);
  for (let i = 0; i < t.rows; i++) for (let j = 0; j < t.cols; j++) out[i * t.cols + j] *= d[i];
  return { rows: t.rows, cols: t.cols, data: out };
}
