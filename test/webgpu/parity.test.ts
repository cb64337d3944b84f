/**
 * The neural-tangents parity names run on WebGPU: kernel functions (analytic and empirical,
 * batched), the predictors fed with kernels computed on the GPU, and the transforms, each in
 * float32 on the GPU against float64 on the CPU. Sizes stay tiny (lavapipe is a CPU driver).
 */
import { expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Backend, Tensor } from '../../engine/index.ts';
import { Dense, Erf, Relu, Conv, serial } from '../../models/index.ts';
import { batch } from '../../models/kernels/batch.ts';
import { empiricalKernelFn, empiricalNtkFn } from '../../linearize/empirical.ts';
import { hostArray } from '../../linearize/host-array.ts';
import { gradientDescentMse, gpInference, maxLearningRate } from '../../linearize/predict.ts';
import { gradientDescentMseEnsemble } from '../../linearize/predict-ensemble.ts';
import { gradientDescent, momentum } from '../../linearize/predict-ode.ts';
import { mlp } from '../linearize/nets.ts';
import { describeGpu } from './gpu-available.ts';
import { cpuBackend, expectNear, maxAbs } from './util.ts';

const toGpu = (t: Tensor, gpu: Backend) => tg.tensor(Float32Array.from(t.dataSync()), t.shape, 'float32', gpu);
const near = async (gpuT: Tensor, cpuT: Tensor, what: string) => {
  expect(gpuT.backend.name).toBe('webgpu');
  expect(gpuT.shape).toEqual(cpuT.shape);
  const ref = cpuT.dataSync();
  expectNear(await gpuT.data(), ref, what, { rtol: 2e-3, atol: 1e-4 * Math.max(1, maxAbs(ref)) });
};

await describeGpu('neural-tangents parity names on WebGPU', () => {
  it('kernelFn (every get, cov1, diagonalSpatial) and batch(kernelFn)', async () => {
    tg.useBackend('cpu');
    const net = serial(Dense(32, { W_std: 1.5, b_std: 0.1 }), Erf(), Dense(1, { W_std: 1.3 }));
    const conv = serial(Conv(4, [2, 2], { padding: 'SAME' }), Relu(), Conv(2, [2, 2], { padding: 'SAME' }));
    const x1 = tg.normal(tg.key(1), [5, 3], 'float64');
    const x2 = tg.normal(tg.key(2), [3, 3], 'float64');
    const xi = tg.normal(tg.key(3), [3, 3, 3, 2], 'float64');
    const ref = net.kernelFn(x1, x2);
    const refBatched = batch(net.kernelFn, 2)(x1, null, 'ntk');
    const refImg = conv.kernelFn(xi, null, 'ntk', { diagonalSpatial: true });
    const refFull = conv.kernelFn(xi, null, 'nngp');
    const gpu = await tg.setBackend('webgpu');
    try {
      const k = net.kernelFn(toGpu(x1, gpu), toGpu(x2, gpu));
      await near(k.ntk, ref.ntk, 'kernelFn ntk');
      await near(k.nngp, ref.nngp, 'kernelFn nngp');
      await near(k.cov1, ref.cov1, 'kernelFn cov1');
      await near(net.kernelFn(toGpu(x1, gpu), toGpu(x2, gpu), 'ntk'), ref.ntk, "kernelFn get 'ntk'");
      await near(batch(net.kernelFn, 2)(toGpu(x1, gpu), null, 'ntk'), refBatched, 'batch(kernelFn)');
      await near(conv.kernelFn(toGpu(xi, gpu), null, 'ntk', { diagonalSpatial: true }), refImg, 'diagonalSpatial');
      await near(conv.kernelFn(toGpu(xi, gpu), null, 'nngp'), refFull, 'full spatial');
    } finally {
      tg.useBackend(cpuBackend().name);
    }
  });

  it('empirical kernel factories (full, traced, batch and output diagonals) and batch over them', async () => {
    tg.useBackend('cpu');
    const net = mlp(tg.key(4), [3, 4], 2);
    const x1 = net.input(tg.key(5), 3);
    const x2 = net.input(tg.key(6), 2);
    const fns = {
      full: empiricalNtkFn(net.apply, { traceAxes: [] }),
      traced: empiricalNtkFn(net.apply),
      diagOut: empiricalNtkFn(net.apply, { traceAxes: [], diagonalAxes: [-1] }),
      diagBatch: empiricalNtkFn(net.apply, { traceAxes: [], diagonalAxes: [0] }),
    };
    const refs = {
      full: fns.full(x1, x2, net.params),
      traced: fns.traced(x1, x2, net.params),
      diagOut: fns.diagOut(x1, x2, net.params),
      diagBatch: fns.diagBatch(x1, null, net.params),
    };
    const refBoth = empiricalKernelFn(net.apply)(x1, x2, null, net.params);
    const gpu = await tg.setBackend('webgpu');
    try {
      const params = tg.treeMap(net.params, (p) => toGpu(p, gpu));
      const g1 = toGpu(x1, gpu);
      const g2 = toGpu(x2, gpu);
      await near(fns.full(g1, g2, params), refs.full, 'empirical full');
      await near(fns.traced(g1, g2, params), refs.traced, 'empirical traced');
      await near(fns.diagOut(g1, g2, params), refs.diagOut, 'empirical output diagonal');
      await near(batch(fns.diagBatch, 2)(g1, null, params), refs.diagBatch, 'batch(empirical batch diagonal)');
      const both = empiricalKernelFn(net.apply)(g1, g2, null, params);
      await near(both.nngp!, refBoth.nngp!, 'empirical nngp');
    } finally {
      tg.useBackend(cpuBackend().name);
    }
  });

  it('predictors on kernels computed on the GPU equal the CPU float64 predictions', async () => {
    tg.useBackend('cpu');
    const net = serial(Dense(16, { W_std: 1.5, b_std: 0.1 }), Erf(), Dense(1, { W_std: 1.3, b_std: 0.1 }));
    const xTrain = tg.normal(tg.key(7), [6, 3], 'float64');
    const xTest = tg.normal(tg.key(8), [2, 3], 'float64');
    const yTrain = tg.normal(tg.key(9), [6, 1], 'float64');
    const kdd = net.kernelFn(xTrain);
    const ktd = net.kernelFn(xTest, xTrain);
    const ktt = net.kernelFn(xTest);
    const mse = (f: Tensor, y: Tensor) => tg.mul(tg.mean(tg.square(tg.sub(f, y))), 0.5);
    const cpuRun = async (k: { dd: { nngp: unknown; ntk: unknown }; td: { nngp: unknown; ntk: unknown }; tt: { nngp: unknown } }, x: { train: Tensor; test: Tensor }) => {
      const [dd, td, tt] = [k.dd, k.td, k.tt] as never[];
      const ens = await gradientDescentMseEnsemble(net.kernelFn, x.train, yTrain, { diagReg: 1e-3 })([5, 50], x.test, 'ntk', true) as { mean: Tensor; covariance: Tensor };
      return {
        gd: gradientDescentMse((dd as { ntk: never }).ntk, yTrain, { diagReg: 1e-3 })([3, 30], 0, 0, (td as { ntk: never }).ntk).test!,
        gp: (gpInference(dd, yTrain, { diagReg: 1e-3 })('ntk', td, tt) as { covariance: Tensor }).covariance,
        lr: maxLearningRate((dd as { ntk: never }).ntk),
        ode: (gradientDescent(mse, (dd as { ntk: never }).ntk, yTrain)(4, 0, 0, (td as { ntk: never }).ntk) as { test: Tensor }).test,
        mom: (momentum(mse, (dd as { ntk: never }).ntk, yTrain, { learningRate: 0.5, momentum: 0.9 })(4, 0, 0, (td as { ntk: never }).ntk) as { test: Tensor }).test,
        ensMean: ens.mean,
        ensCov: ens.covariance,
      };
    };
    const ref = await cpuRun({ dd: kdd, td: ktd, tt: ktt }, { train: xTrain, test: xTest });
    const gpu = await tg.setBackend('webgpu');
    try {
      const gTrain = toGpu(xTrain, gpu);
      const gTest = toGpu(xTest, gpu);
      const gk = { dd: net.kernelFn(gTrain), td: net.kernelFn(gTest, gTrain), tt: net.kernelFn(gTest) };
      expect(() => gradientDescentMse(gk.dd.ntk, yTrain)).toThrow(/reads asynchronously; pass await hostArray/);
      const host = async (k: { nngp: Tensor; ntk: Tensor }) => ({ nngp: await hostArray(k.nngp), ntk: await hostArray(k.ntk) });
      const got = await cpuRun({ dd: await host(gk.dd), td: await host(gk.td), tt: await host(gk.tt) }, { train: gTrain, test: gTest });
      const close = (a: Tensor, b: Tensor, what: string) => expectNear(a.dataSync(), b.dataSync(), what, { rtol: 5e-3, atol: 1e-3 * Math.max(1, maxAbs(b.dataSync())) });
      close(got.gd, ref.gd, 'gradientDescentMse');
      close(got.gp, ref.gp, 'gpInference covariance');
      close(got.ode, ref.ode, 'gradientDescent');
      close(got.mom, ref.mom, 'momentum');
      close(got.ensMean, ref.ensMean, 'ensemble mean');
      close(got.ensCov, ref.ensCov, 'ensemble covariance');
      expect(Math.abs(got.lr - ref.lr)).toBeLessThan(1e-3 * ref.lr);
    } finally {
      tg.useBackend(cpuBackend().name);
    }
  });

  it('jacfwd, jacrev, hessian and vmap on the GPU equal the CPU float64 results', async () => {
    tg.useBackend('cpu');
    const W = tg.normal(tg.key(10), [3, 2], 'float64');
    const x = tg.normal(tg.key(11), [2, 3], 'float64');
    const xs = tg.normal(tg.key(12), [4, 3], 'float64');
    const run = (w: Tensor, u: Tensor, us: Tensor) => {
      const g = (v: Tensor) => tg.tanh(tg.matmul(v, w));
      const s = (v: Tensor) => tg.sum(tg.sin(tg.matmul(tg.reshape(v, [1, 3]), w)));
      return {
        jf: tg.jacfwd(g)(u),
        jr: tg.jacrev(g)(u),
        h: tg.hessian(s)(tg.reshape(tg.slice(u, [0, 0], [1, 3]), [3])),
        pe: tg.vmap((v: Tensor) => tg.grad(s)(v))(us),
      };
    };
    const ref = run(W, x, xs);
    const gpu = await tg.setBackend('webgpu');
    try {
      const got = run(toGpu(W, gpu), toGpu(x, gpu), toGpu(xs, gpu));
      await near(got.jf, ref.jf, 'jacfwd');
      await near(got.jr, ref.jr, 'jacrev');
      await near(got.h, ref.h, 'hessian');
      await near(got.pe, ref.pe, 'vmap per-example gradients');
    } finally {
      tg.useBackend(cpuBackend().name);
    }
  });
});
