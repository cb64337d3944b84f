/**
 * neural-tangents' `predict` module (the same meanings, conventions and numbers) over
 * tangentgrad's kernels: closed-form MSE gradient descent from given kernels
 * (`gradientDescentMse`), the NNGP / NTK Gaussian-process "posterior" (`gpInference`), the
 * infinite ensemble of networks trained by gradient descent on MSE from a kernel function
 * (`gradientDescentMseEnsemble`), and the largest stable learning rate (`maxLearningRate`).
 * The ODE-based predictors for any loss are in predict-ode.ts.
 *
 * Conventions, as neural-tangents:
 *  - the loss is 0.5 mean((f - y)^2) over all N = yTrain.size entries, and time is measured in
 *    steps of `learningRate`: f' = -(learningRate / N) Theta (f - y);
 *  - `diagReg` adds diagReg * mean(diag K) * I to the train kernel (diagReg * I with
 *    `diagRegAbsoluteScale`) before the Cholesky factorization or eigendecomposition;
 *  - t = null (or omitted) is infinite time, computed by a Cholesky solve (train outputs are then
 *    yTrain exactly); finite t (a number or a list, which adds a leading time axis) uses the
 *    eigendecomposition, with negative eigenvalues of round-off clamped to 0;
 *  - `traceAxes` (default [-1]) are target axes the kernels lack: the kernel is Theta ⊗ I along
 *    them. With traceAxes [] a kernel for targets [N, K] is [N, N, K, K] or its matrix [N K, N K].
 * One deliberate difference: a zero eigenvalue uses the exact limit (-t / N for the test map)
 * where neural-tangents divides 0 by 0.
 *
 * Every array argument is a Tensor (read synchronously: CPU; for a WebGPU tensor pass
 * `await hostArray(t)`), a { shape, data } array, a Matrix or a Float64Array; outputs are
 * float64 CPU tensors.
 */
import { Tensor } from '../engine/index.ts';
import { addScaled, choleskySolveFactor, cholesky, matmul, matmulTransposeA, symmetricEigen, transpose, type Matrix } from '../linalg/dense.ts';
import { flowIntegral } from './flow.ts';
import { assertFiniteArray, permute, readArray, toTensor, TraceLayout, type ArrayInput, type HostArray } from './host-array.ts';

/** A kernel kind, as neural-tangents' `get`. */
export type Get = 'nngp' | 'ntk';

/** gpInference's kinds: 'ntkgp' is the GP posterior with the NTK as prior covariance. */
export type GpGet = Get | 'ntkgp';

/** Nested lists of times of any (rectangular) shape, as neural-tangents' t arrays. */
export type TimeArray = readonly (number | TimeArray)[];

/** Times in steps: null / undefined = infinity (solved exactly), a number, or nested lists (leading axes of their shape). */
export type Times = number | TimeArray | null | undefined;

/** Options shared by the MSE predictors. */
export interface PredictOptions {
  /** Step size; times are in steps of it (default 1). */
  learningRate?: number;
  /** Diagonal regularization of the train kernel (default 0), relative to mean(diag K) unless `diagRegAbsoluteScale`. */
  diagReg?: number;
  diagRegAbsoluteScale?: boolean;
  /** Target axes absent from the kernels (default [-1]). */
  traceAxes?: readonly number[];
}

/** Train and test predictions (each present when asked for). */
export interface Predictions {
  readonly train?: Tensor;
  readonly test?: Tensor;
}

/** A kernel argument: one array, or kernels by kind (as neural-tangents' `Kernel`). */
export type KernelArg = ArrayInput | { readonly nngp?: ArrayInput | null; readonly ntk?: ArrayInput | null };

/** A Gaussian prediction: mean shaped like the outputs, covariance shaped like the test-test kernel. */
export interface Gaussian {
  readonly mean: Tensor;
  readonly covariance: Tensor;
}

function checkNumber(fn: string, name: string, v: number, min: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new Error(`${fn}: ${name} must be a finite number >= ${min}, got ${String(v)}`);
}

/** K + diagReg * (absolute ? 1 : trace(K) / n) * I, as a new matrix. */
export function addDiagonalRegularizer(k: Matrix, diagReg: number, absolute: boolean): Matrix {
  const n = k.rows;
  const data = Float64Array.from(k.data);
  if (diagReg !== 0) {
    let trace = 0;
    for (let i = 0; i < n; i++) trace += k.data[i * n + i];
    const reg = absolute ? diagReg : (diagReg * trace) / n;
    for (let i = 0; i < n; i++) data[i * n + i] += reg;
  }
  return { rows: n, cols: n, data };
}

/** Parses times into a flat list plus the leading axes of the output (the shape of t; [] for a number). */
export function parseTimes(fn: string, t: number | TimeArray): { times: number[]; lead: number[] } {
  const lead: number[] = [];
  for (let level: unknown = t; Array.isArray(level); level = level[0]) lead.push(level.length);
  const times: number[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth === lead.length) {
      if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new Error(`${fn}: times must be numbers >= 0 (Infinity allowed) in a rectangular nesting of lists, got ${Array.isArray(v) ? 'a ragged list' : String(v)}`);
      times.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== lead[depth]) throw new Error(`${fn}: t must be a number or a rectangular nesting of lists of times (shape [${lead.join(',')}]), got a ragged list`);
    for (const x of v) walk(x, depth + 1);
  };
  walk(t, 0);
  return { times, lead };
}

/**
 * neural-tangents' eigenvalue functions, tau = t lr / N: decay = expm1(-max(lambda, 0) tau) and
 * integral = expm1(-max(lambda, 0) tau) / |lambda| (flow.ts's flowIntegral, negated: exact
 * lambda -> 0 limit -tau, never 0/0). At tau = infinity a zero eigenvalue's direction carries no
 * kernel mass (a null vector of a Gram matrix is orthogonal to every test row), so its integral is 0.
 */
export function expm1Scalars(lambda: number, tau: number): { decay: number; integral: number } {
  const l = Math.max(lambda, 0);
  const decay = tau === Infinity ? (l > 0 ? -1 : 0) : Math.expm1(-l * tau);
  if (lambda < 0) return { decay, integral: 0 };
  if (lambda === 0 && tau === Infinity) return { decay, integral: 0 };
  return { decay, integral: -flowIntegral(lambda, 1, tau) };
}

/** V diag(s) V^T b, given P = V^T b. */
export function fromEigenbasis(vectors: Matrix, s: ArrayLike<number>, p: Matrix): Matrix {
  const scaled = new Float64Array(p.data.length);
  for (let i = 0; i < p.rows; i++) for (let j = 0; j < p.cols; j++) scaled[i * p.cols + j] = s[i] * p.data[i * p.cols + j];
  return matmul(vectors, { rows: p.rows, cols: p.cols, data: scaled });
}

/** An initial-output argument: a number broadcast to the shape, or an array of exactly that shape, as a matrix. */
export function outputMatrix(layout: TraceLayout, name: string, v: ArrayInput | number, n: number): Matrix {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`${layout.fn}: ${name} must be finite, got ${v}`);
    const size = layout.outputShape(n).reduce((a, b) => a * b, 1);
    return { rows: size / Math.max(1, layout.cols), cols: layout.cols, data: new Float64Array(size).fill(v) };
  }
  const a = readArray(layout.fn, name, v);
  assertFiniteArray(layout.fn, name, a);
  return layout.toMatrix(name, a, n);
}

/** Reads and checks a train-train kernel in matrix form. */
export function trainKernel(layout: TraceLayout, name: string, k: ArrayInput, n: number): Matrix {
  const a = readArray(layout.fn, name, k);
  assertFiniteArray(layout.fn, name, a);
  const { matrix, n1 } = layout.kernelMatrix(name, a, n);
  if (n1 !== n) throw new Error(`${layout.fn}: ${name} [${a.shape.join(',')}] must pair the ${n} training samples with themselves`);
  return matrix;
}

export function checkOptions(fn: string, opts: PredictOptions): Required<PredictOptions> {
  if (opts === null || typeof opts !== 'object') throw new Error(`${fn}: options must be an object`);
  const known = ['learningRate', 'diagReg', 'diagRegAbsoluteScale', 'traceAxes'];
  for (const key of Object.keys(opts)) if (!known.includes(key)) throw new Error(`${fn}: unknown option '${key}' (${known.join(', ')})`);
  const out = { learningRate: opts.learningRate ?? 1, diagReg: opts.diagReg ?? 0, diagRegAbsoluteScale: opts.diagRegAbsoluteScale ?? false, traceAxes: opts.traceAxes ?? [-1] };
  checkNumber(fn, 'learningRate', out.learningRate, 0);
  checkNumber(fn, 'diagReg', out.diagReg, 0);
  return out;
}

export function readTargets(fn: string, yTrain: ArrayInput, traceAxes: readonly number[]): { y: HostArray; layout: TraceLayout } {
  const y = readArray(fn, 'yTrain', yTrain);
  assertFiniteArray(fn, 'yTrain', y);
  // A 1-D target (a column) is one output per sample.
  const shaped = y.shape.length === 1 ? { shape: [y.shape[0], 1], data: y.data } : y;
  return { y: shaped, layout: new TraceLayout(fn, shaped.shape, traceAxes) };
}

/** The eigendecomposition of the regularized train kernel, eigenvalues ascending. */
function eigenOf(fn: string, name: string, k: Matrix, diagReg: number, absolute: boolean) {
  return symmetricEigen(addDiagonalRegularizer(k, diagReg, absolute), { fn, name });
}

/**
 * Closed-form gradient descent on MSE from given kernels (neural-tangents'
 * `predict.gradient_descent_mse`): returns `predict(t, fxTrain0 = 0, fxTest0?, kTestTrain?)`,
 * giving the outputs after training time t from initial outputs fxTrain0 (null: not asked, taken
 * as 0) and fxTest0 (test outputs need kTestTrain).
 * @example
 * const predict = gradientDescentMse(ntkTrainTrain, yTrain, { learningRate: 1, diagReg: 1e-4 });
 * const { train, test } = predict(100, fxTrain0, fxTest0, ntkTestTrain); // after 100 steps
 * const { test: atInf } = predict(null, fxTrain0, fxTest0, ntkTestTrain); // converged
 */
export function gradientDescentMse(kTrainTrain: ArrayInput, yTrain: ArrayInput, opts: PredictOptions = {}) {
  const fn = 'gradientDescentMse';
  const o = checkOptions(fn, opts);
  const { y, layout } = readTargets(fn, yTrain, o.traceAxes);
  const n = y.shape[0];
  const K = trainKernel(layout, 'kTrainTrain', kTrainTrain, n);
  const Y = layout.toMatrix('yTrain', y, n);
  const size = y.data.length;
  let eigen: ReturnType<typeof symmetricEigen> | undefined;
  let factor: Matrix | undefined;

  return (t?: Times, fxTrain0: ArrayInput | number | null = 0, fxTest0?: ArrayInput | number | null, kTestTrain?: ArrayInput | null): Predictions => {
    const wantTest = fxTest0 !== undefined && fxTest0 !== null;
    if (wantTest && (kTestTrain === undefined || kTestTrain === null)) throw new Error(`${fn}: test predictions (fxTest0 given) need kTestTrain`);
    const F0 = outputMatrix(layout, 'fxTrain0', fxTrain0 ?? 0, n);
    let Ktd: Matrix | undefined;
    let m = 0;
    let Ft0: Matrix | undefined;
    if (wantTest) {
      const a = readArray(fn, 'kTestTrain', kTestTrain!);
      assertFiniteArray(fn, 'kTestTrain', a);
      const km = layout.kernelMatrix('kTestTrain', a, n);
      Ktd = km.matrix;
      m = km.n1;
      Ft0 = outputMatrix(layout, 'fxTest0', fxTest0!, m);
    }
    const out: { train?: Tensor; test?: Tensor } = {};
    if (t === null || t === undefined) {
      factor ??= cholesky(addDiagonalRegularizer(K, o.diagReg, o.diagRegAbsoluteScale), { fn, name: 'kTrainTrain (+ diagReg)' });
      if (fxTrain0 !== null) out.train = toTensor(layout.fromMatrix(Float64Array.from(Y.data), n));
      if (wantTest) {
        // NT: the right-hand side is y - fxTrain0 (y when fxTrain0 is null).
        const rhs = fxTrain0 === null ? Y : addScaled(Y, F0, 1, -1);
        const d = matmul(Ktd!, choleskySolveFactor(factor, rhs));
        out.test = toTensor(layout.fromMatrix(Ft0!.data.map((v, i) => v + d.data[i]), m));
      }
      return out;
    }
    const { times, lead } = parseTimes(fn, t);
    eigen ??= eigenOf(fn, 'kTrainTrain (+ diagReg)', K, o.diagReg, o.diagRegAbsoluteScale);
    const R = addScaled(F0, Y, 1, -1);
    const P = matmulTransposeA(eigen.vectors, R);
    const trainParts: Float64Array[] = [];
    const testParts: Float64Array[] = [];
    for (const time of times) {
      const tau = (time * o.learningRate) / size;
      const s = Array.from(eigen.values, (l) => expm1Scalars(l, tau));
      if (fxTrain0 !== null) {
        const d = fromEigenbasis(eigen.vectors, s.map((v) => v.decay), P);
        trainParts.push(F0.data.map((v, i) => v + d.data[i]));
      }
      if (wantTest) {
        const d = matmul(Ktd!, fromEigenbasis(eigen.vectors, s.map((v) => v.integral), P));
        testParts.push(Ft0!.data.map((v, i) => v + d.data[i]));
      }
    }
    if (fxTrain0 !== null) out.train = toTensor(layout.fromMatrix(concatParts(trainParts), n, lead));
    if (wantTest) out.test = toTensor(layout.fromMatrix(concatParts(testParts), m, lead));
    return out;
  };
}

/** Per-time output matrices, one after the other (the leading time axis). */
export function concatParts(parts: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

/** Reads kernels by kind from a KernelArg. */
function kernelOf(fn: string, where: string, k: KernelArg, g: Get): ArrayInput | undefined {
  if (isKernelObject(k)) {
    const v = (k as { nngp?: ArrayInput | null; ntk?: ArrayInput | null })[g];
    return v ?? undefined;
  }
  return k as ArrayInput;
}

function needKernel(fn: string, where: string, k: KernelArg, g: Get): ArrayInput {
  const v = kernelOf(fn, where, k, g);
  if (v === undefined) throw new Error(`${fn}: ${where} has no '${g}' kernel`);
  return v;
}

export function parseGet<G extends string = Get>(fn: string, get: G | readonly G[] | null | undefined, allowed: readonly G[] = ['nngp', 'ntk'] as unknown as G[]): { gets: G[]; single: boolean } {
  if (get === null || get === undefined) return { gets: allowed.filter((g) => g !== 'ntkgp'), single: false };
  const gets = typeof get === 'string' ? [get as G] : [...(get as readonly G[])];
  for (const g of gets) if (!allowed.includes(g)) throw new Error(`${fn}: get must be ${allowed.map((a) => `'${a}'`).join(', ')} or a list of them, got '${String(g)}'`);
  if (gets.length === 0) throw new Error(`${fn}: get is an empty list`);
  return { gets, single: typeof get === 'string' };
}

/** The output of a predictor for each kind asked: one value for a string `get`, else an object by kind. */
export type ByGet<T, G extends string = Get> = T | { [K in G]?: T };

/**
 * The NNGP / NTK Gaussian-process "posterior" (neural-tangents' `predict.gp_inference`): with
 * 'nngp' the exact posterior of the infinitely wide Bayesian network, with 'ntk' the distribution
 * of an infinite ensemble of infinitely wide networks trained to convergence by gradient flow on
 * MSE (its covariance needs both the NTK and the NNGP kernels). Returns
 * `predict(get, kTestTrain?, kTestTest?)`: means (kTestTest omitted) or { mean, covariance };
 * without kTestTrain, the train set (mean yTrain, covariance 0).
 * @example
 * const predict = gpInference({ nngp: kdd.nngp, ntk: kdd.ntk }, yTrain, { diagReg: 1e-4 });
 * const { nngp, ntk } = predict(null, { nngp: ktd.nngp, ntk: ktd.ntk }, { nngp: ktt.nngp });
 */
export function gpInference(kTrainTrain: KernelArg, yTrain: ArrayInput, opts: Omit<PredictOptions, 'learningRate'> = {}) {
  const fn = 'gpInference';
  const o = checkOptions(fn, opts);
  const { y, layout } = readTargets(fn, yTrain, o.traceAxes);
  const n = y.shape[0];
  const Y = layout.toMatrix('yTrain', y, n);
  const trainCache = new Map<Get, Matrix>();
  const factors = new Map<Get, Matrix>();
  const train = (g: Get) => {
    let k = trainCache.get(g);
    if (!k) trainCache.set(g, (k = trainKernel(layout, `kTrainTrain.${g}`, needKernel(fn, 'kTrainTrain', kTrainTrain, g), n)));
    return k;
  };
  const solve = (g: Get, b: Matrix) => {
    let L = factors.get(g);
    if (!L) factors.set(g, (L = cholesky(addDiagonalRegularizer(train(g), o.diagReg, o.diagRegAbsoluteScale), { fn, name: `kTrainTrain.${g} (+ diagReg)` })));
    return choleskySolveFactor(L, b);
  };

  return (get?: GpGet | readonly GpGet[] | null, kTestTrain?: KernelArg | null, kTestTest?: KernelArg | null): ByGet<Tensor | Gaussian, GpGet> => {
    const { gets, single } = parseGet(fn, get, ['nngp', 'ntk', 'ntkgp']);
    const out: { nngp?: Tensor | Gaussian; ntk?: Tensor | Gaussian; ntkgp?: Tensor | Gaussian } = {};
    for (const g of gets) {
      // 'ntkgp' (He et al. 2020): the GP posterior with the NTK as its prior; its mean is the NTK one.
      const kind: Get = g === 'nngp' ? 'nngp' : 'ntk';
      const prior: Get = g === 'ntk' ? 'nngp' : kind;
      const Kdd = train(kind);
      let mean: Float64Array;
      let m = n;
      let Ktd: Matrix | undefined;
      if (kTestTrain === null || kTestTrain === undefined) {
        mean = Float64Array.from(Y.data);
      } else {
        const a = readArray(fn, `kTestTrain.${kind}`, needKernel(fn, 'kTestTrain', kTestTrain, kind));
        assertFiniteArray(fn, `kTestTrain.${kind}`, a);
        const km = layout.kernelMatrix(`kTestTrain.${kind}`, a, n);
        Ktd = km.matrix;
        m = km.n1;
        mean = matmul(Ktd, solve(kind, Y)).data;
      }
      const meanT = toTensor(layout.fromMatrix(mean, m));
      if (kTestTest === null || kTestTest === undefined) {
        out[g] = meanT;
        continue;
      }
      if (Ktd === undefined) {
        out[g] = { mean: meanT, covariance: toTensor(layout.covarianceFromMatrix(new Float64Array(Kdd.data.length), n)) };
        continue;
      }
      if (g === 'ntk' && (!isKernelObject(kTrainTrain) || !isKernelObject(kTestTrain!))) {
        throw new Error(`${fn}: the NTK posterior covariance needs both the NTK and the NNGP kernels: pass kTrainTrain and kTestTrain as { nngp, ntk }`);
      }
      // Covariance: the prior kernel at the test points, minus what the train data explain.
      const Ktt = testTestMatrix(fn, layout, needKernel(fn, 'kTestTest', kTestTest, prior), m);
      const KtdPrior = prior === kind ? Ktd : testTrainMatrix(fn, layout, needKernel(fn, 'kTestTrain', kTestTrain!, prior), n, m);
      const B = solve(kind, transpose(KtdPrior)); // K_kind^{-1} K_prior(X, x)
      let cov: Matrix;
      if (g !== 'ntk') {
        cov = addScaled(Ktt, matmul(Ktd, B), 1, -1);
      } else {
        const T1 = solve('ntk', transpose(Ktd)); // Theta^{-1} Theta(X, x)
        const Knngp = train('nngp');
        const quad = matmulTransposeA(T1, matmul(Knngp, T1));
        const cross = matmul(Ktd, B);
        const crossT = transpose(cross);
        cov = { rows: quad.rows, cols: quad.cols, data: quad.data.map((v, i) => v - cross.data[i] - crossT.data[i] + Ktt.data[i]) };
      }
      out[g] = { mean: meanT, covariance: toTensor(layout.covarianceFromMatrix(cov.data, m)) };
    }
    return single ? out[gets[0]]! : out;
  };
}

/** Whether a kernel argument holds kernels by kind ({ nngp, ntk }) rather than one array. */
function isKernelObject(k: KernelArg): boolean {
  return k !== null && typeof k === 'object' && !ArrayBuffer.isView(k) && !(k instanceof Tensor) && ('nngp' in k || 'ntk' in k) && !('data' in k);
}

export function testTrainMatrix(fn: string, layout: TraceLayout, k: ArrayInput, n: number, m: number): Matrix {
  const a = readArray(fn, 'kTestTrain', k);
  assertFiniteArray(fn, 'kTestTrain', a);
  const km = layout.kernelMatrix('kTestTrain', a, n);
  if (km.n1 !== m) throw new Error(`${fn}: kTestTrain kernels disagree on the number of test samples (${km.n1} vs ${m})`);
  return km.matrix;
}

export function testTestMatrix(fn: string, layout: TraceLayout, k: ArrayInput, m: number): Matrix {
  const a = readArray(fn, 'kTestTest', k);
  assertFiniteArray(fn, 'kTestTest', a);
  const km = layout.kernelMatrix('kTestTest', a, m);
  if (km.n1 !== m) throw new Error(`${fn}: kTestTest [${a.shape.join(',')}] must pair the ${m} test samples with themselves`);
  return km.matrix;
}

/**
 * The largest learning rate for which full-batch gradient descent (with momentum) on
 * 0.5 mean((f - y)^2) is stable (neural-tangents' `predict.max_learning_rate`):
 * 2 (1 + momentum) N / (lambda_max + eps), N = yTrainSize (default: the kernel's rows, which is
 * the output count for a full kernel; pass yTrain.size with a traced one).
 * @example const lr = maxLearningRate(ntkTrainTrain, { yTrainSize: yTrain.size });
 */
export function maxLearningRate(ntkTrainTrain: ArrayInput, opts: { yTrainSize?: number; momentum?: number; eps?: number } = {}): number {
  const fn = 'maxLearningRate';
  const a = readArray(fn, 'ntkTrainTrain', ntkTrainTrain);
  assertFiniteArray(fn, 'ntkTrainTrain', a);
  // Any even rank: the zipped layout [N, N, A, A, ...] flattens to rows (N, A, ...).
  if (a.shape.length % 2 !== 0 || a.shape.length === 0) throw new Error(`${fn}: ntkTrainTrain must have an even rank ([N, N] or zipped [N, N, K, K, ...]), got [${a.shape.join(',')}]`);
  const r = a.shape.length / 2;
  const rows = a.shape.filter((_, i) => i % 2 === 0).reduce((x, y) => x * y, 1);
  const perm = [...Array.from({ length: r }, (_, i) => 2 * i), ...Array.from({ length: r }, (_, i) => 2 * i + 1)];
  const m = permute(a, perm);
  const momentum = opts.momentum ?? 0;
  const eps = opts.eps ?? 1e-12;
  checkNumber(fn, 'momentum', momentum, 0);
  checkNumber(fn, 'eps', eps, 0);
  const factor = opts.yTrainSize ?? rows;
  if (!Number.isInteger(factor) || factor < 1) throw new Error(`${fn}: yTrainSize must be a positive integer, got ${factor}`);
  const { values } = symmetricEigen({ rows, cols: rows, data: m.data }, { fn, name: 'ntkTrainTrain' });
  const lambdaMax = values[values.length - 1];
  return (2 * (1 + momentum) * factor) / (lambdaMax + eps);
}
