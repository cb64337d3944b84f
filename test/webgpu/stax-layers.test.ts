/**
 * The neural-tangents stax parity layers on WebGPU: their infinite-width kernels computed in
 * float32 on the GPU equal the float64 rules on the CPU (every closed-form activation, the fixed
 * Gauss-Hermite rule of ElementwiseNumerical, LayerNorm, Dropout, SumPool / GlobalSumPool and
 * fanInProd in the full position-pair layout, the width scalings s, 1-D networks on [N, L, C] in
 * both position layouts, channels-first layouts (Conv dimensionNumbers, Dense batchAxis /
 * channelAxis)), and Dropout's apply on the
 * GPU draws the same masks as on the CPU for the same key. (Gradients and JVPs of every new layer
 * run on the GPU in test/webgpu/laws.test.ts through the shared law table.)
 */
import { expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Backend, Tensor } from '../../engine/index.ts';
import {
  ABRelu,
  Abs,
  AvgPool,
  Conv,
  ConvTranspose,
  Cos,
  Dense,
  Dropout,
  ElementwiseNumerical,
  Erf,
  Exp,
  Flatten,
  Gaussian,
  Gelu,
  GlobalAvgPool,
  GlobalSumPool,
  Hermite,
  LayerNorm,
  LeakyRelu,
  Rbf,
  Relu,
  SigmoidLike,
  Sign,
  Sin,
  SumPool,
  fanInProd,
  fanOut,
  parallel,
  serial,
  type KernelLayer,
} from '../../models/index.ts';
import { describeGpu } from './gpu-available.ts';
import { cpuBackend, expectNear, maxAbs } from './util.ts';

const toGpu = (t: Tensor, gpu: Backend) => tg.tensor(Float32Array.from(t.dataSync()), t.shape, 'float32', gpu);

await describeGpu('stax parity layers on WebGPU', () => {
  const o = { W_std: 1.3, b_std: 0.2 };
  const so = { ...o, parameterization: 'standard' as const };
  const dense = () => tg.normal(tg.key(1), [5, 4], 'float64');
  const dense2 = () => tg.normal(tg.key(2), [3, 4], 'float64');
  const image = () => tg.normal(tg.key(3), [3, 4, 3, 2], 'float64');
  const smallImage = () => tg.normal(tg.key(6), [2, 3, 3, 2], 'float64');
  const sequence = () => tg.normal(tg.key(7), [3, 7, 2], 'float64');
  const sequence2 = () => tg.normal(tg.key(8), [2, 7, 2], 'float64');
  const channelsFirst = (make: () => Tensor) => () => tg.transpose(make(), [0, 2, 1]);
  const cases: { name: string; net: () => KernelLayer; x: () => Tensor; x2?: () => Tensor; opts?: { spatial?: 'full'; blockSize?: number } }[] = [
    {
      name: 'MLP: LeakyRelu, Gelu, Sin, Abs, ABRelu',
      net: () => serial(Dense(7, o), LeakyRelu(0.2), Dense(6, o), Gelu(), Dense(5, o), Sin({ a: 1.1, b: 0.9, c: 0.2 }), Dense(5, o), Abs(), Dense(4, o), ABRelu(-0.3, 1.2), Dense(2, o)),
      x: dense,
      x2: dense2,
    },
    {
      name: 'MLP: Exp, Gaussian, Cos, Rbf, SigmoidLike, Sign, Hermite',
      net: () => serial(Dense(6, o), Exp({ a: 0.7, b: 0.4 }), Dense(6, o), Gaussian({ a: 1.2, b: -0.5 }), Dense(6, o), Cos({ b: 0.8 }), Dense(6, o), Rbf(0.4), Dense(6, o), SigmoidLike(), Dense(5, o), Sign(), Dense(4, { W_std: 1 }), Hermite(2), Dense(1, o)),
      x: dense,
      opts: { blockSize: 2 },
    },
    {
      name: 'ElementwiseNumerical (fixed Gauss-Hermite rule) with a user derivative',
      net: () => serial(Dense(6, o), ElementwiseNumerical((v) => tg.log1p(tg.exp(v)), 20, tg.sigmoid), Dense(2, o)),
      x: dense,
      x2: dense2,
    },
    {
      name: 'MLP: LayerNorm, Dropout, fanInProd, standard parameterization with s',
      net: () => serial(Dense(6, { ...so, s: [1, 2] }), LayerNorm({ eps: 1e-3 }), Relu(), Dropout(0.8), fanOut(2), parallel(Dense(5, { ...so, s: [2, 1] }), serial(Dense(5, { ...so, s: [2, 1] }), Gelu())), fanInProd(), Dense(1, o)),
      x: dense,
    },
    {
      name: 'CNN, full layout: Conv -> LayerNorm over [H, W, C] -> Relu -> Dropout -> SumPool -> Conv -> GlobalSumPool',
      net: () => serial(Conv(4, [2, 2], { padding: 'SAME', ...o }), LayerNorm({ axis: [1, 2, 3] }), Relu(), Dropout(0.7), SumPool([2, 2], [1, 1], 'SAME'), Conv(3, [2, 2], so), Gelu(), GlobalSumPool(), Dense(1, o)),
      x: smallImage,
      opts: { spatial: 'full' },
    },
    {
      name: 'ConvTranspose, full and diagonal layouts',
      net: () => serial(ConvTranspose(3, [2, 2], { strides: 2, padding: 'SAME', ...o }), Relu(), ConvTranspose(2, [3, 2], { strides: [1, 2], ...so }), Erf(), Flatten(), Dense(1, o)),
      x: smallImage,
      opts: { spatial: 'full' },
    },
    {
      name: '1-D, full layout: Conv [k] (strided, dilated) -> Relu -> AvgPool [k] -> ConvTranspose [k] -> LayerNorm -> Erf -> GlobalAvgPool; kernels [N1, N2]',
      net: () => serial(Conv(4, [3], { strides: 2, dilation: 2, padding: 'SAME', ...o }), Relu(), AvgPool([2], [1], 'SAME'), ConvTranspose(3, [2], { strides: 2, ...so }), LayerNorm({ axis: [1, 2] }), Erf(), GlobalAvgPool(), Dense(1, o)),
      x: sequence,
      x2: sequence2,
    },
    {
      name: '1-D, diagonal layout: Conv [k] -> Gelu -> Conv [k]; kernels [N1, N2, L]',
      net: () => serial(Conv(4, [3], { padding: 'SAME', ...o }), Gelu(), Conv(2, [2], { dilation: 2, ...so })),
      x: sequence,
      opts: { blockSize: 2 },
    },
    {
      name: "1-D channels-first on [N, C, L]: Conv ['NCL', 'OIL', 'NCL'] -> LayerNorm -> Relu -> SumPool -> Conv -> Erf -> GlobalSumPool, all on channel axis 1",
      net: () => {
        const ncl = { dimensionNumbers: ['NCL', 'OIL', 'NCL'] as const };
        const axes = { channelAxis: 1 };
        return serial(Conv(3, [2], { padding: 'SAME', ...o, ...ncl }), LayerNorm({ axis: [1, 2], ...axes }), Relu(), SumPool([2], [1], 'SAME', axes), Conv(2, [3], { ...o, ...ncl }), Erf(), GlobalSumPool(axes), Dense(1, o));
      },
      x: channelsFirst(sequence),
      x2: channelsFirst(sequence2),
    },
    {
      name: 'Dense with batchAxis 1, channelAxis 0 on [features, N]',
      net: () => serial(Dense(6, { ...o, batchAxis: 1, channelAxis: 0 }), Erf(), Dense(2, { ...o, batchAxis: 1, channelAxis: 0 })),
      x: () => tg.transpose(dense(), [1, 0]),
      x2: () => tg.transpose(dense2(), [1, 0]),
    },
    {
      name: 'CNN, diagonal layout: Conv (s) -> LayerNorm -> LeakyRelu -> Flatten',
      net: () => serial(Conv(4, [2, 2], { padding: 'SAME', ...so, s: [1, 2] }), LayerNorm(), LeakyRelu(0.1), Conv(3, [2, 1], { ...so, s: [2, 1] }), Sin(), Flatten(), Dense(1, o)),
      x: image,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: float32 on the GPU equals float64 on the CPU`, async () => {
      tg.useBackend('cpu');
      const net = c.net();
      const x = c.x();
      const x2 = c.x2?.();
      const ref = net.kernel(x, x2, c.opts);
      const refNngp = ref.nngp.dataSync();
      const refNtk = ref.ntk!.dataSync();
      const gpu = await tg.setBackend('webgpu');
      try {
        const res = net.kernel(toGpu(x, gpu), x2 && toGpu(x2, gpu), c.opts);
        expect(res.nngp.backend.name).toBe('webgpu');
        expect(res.nngp.shape).toEqual(ref.nngp.shape);
        expectNear(await res.nngp.data(), refNngp, `${c.name} nngp`, { rtol: 1e-4, atol: 1e-5 * maxAbs(refNngp) });
        expectNear(await res.ntk!.data(), refNtk, `${c.name} ntk`, { rtol: 1e-4, atol: 1e-5 * maxAbs(refNtk) });
        tg.dispose([res.nngp, res.ntk]);
      } finally {
        tg.useBackend(cpuBackend().name);
      }
    });
  }

  it('Dropout apply on the GPU: the masks of the CPU for the same key, deterministic, identity in test mode', async () => {
    tg.useBackend('cpu');
    const net = serial(Dense(16, o), Dropout(0.6), Relu(), Dropout(0.9), Dense(3, o));
    const x = tg.cast(dense(), 'float32');
    const { params } = net.init(tg.key(4), [-1, 4], 'float32');
    const ref = (net.apply(params, x, { key: tg.key(5) }) as Tensor).dataSync();
    const refTest = (net.apply(params, x, { mode: 'test' }) as Tensor).dataSync();
    const gpu = await tg.setBackend('webgpu');
    try {
      const gParams = tg.treeMap(params, (t: Tensor) => toGpu(t, gpu));
      const gx = toGpu(x, gpu);
      const a = net.apply(gParams, gx, { key: tg.key(5) }) as Tensor;
      const b = net.apply(gParams, gx, { key: tg.key(5) }) as Tensor;
      expect(a.backend.name).toBe('webgpu');
      const ad = await a.data();
      expect(Array.from(await b.data())).toEqual(Array.from(ad));
      expectNear(ad, ref, 'Dropout apply', { rtol: 1e-5, atol: 1e-6 });
      expectNear(await (net.apply(gParams, gx, { mode: 'test' }) as Tensor).data(), refTest, 'test mode', { rtol: 1e-5, atol: 1e-6 });
    } finally {
      tg.useBackend(cpuBackend().name);
    }
  });
});
