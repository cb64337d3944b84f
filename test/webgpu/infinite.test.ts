/**
 * The infinite-width layer runs on WebGPU: `net.kernel` (dense, conv with both position layouts,
 * pooling, residual and concatenation branches) computed in float32 on the GPU equals the float64
 * rules on the CPU (quadrature nonlinearities with Gauss-Hermite rules too), the results stay on
 * the device until read, and `monteCarloKernels` on the GPU
 * equals the same estimate computed on the CPU in float32.
 */
import { expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Backend, Tensor } from '../../engine/index.ts';
import { monteCarloKernels } from '../../linearize/monte-carlo.ts';
import {
  AvgPool,
  Conv,
  Dense,
  Elementwise,
  Erf,
  Flatten,
  GlobalAvgPool,
  Identity,
  Relu,
  Tanh,
  fanInConcat,
  fanInSum,
  fanOut,
  parallel,
  serial,
  type KernelLayer,
} from '../../models/index.ts';
import { describeGpu } from './gpu-available.ts';
import { cpuBackend, expectNear, maxAbs } from './util.ts';

const toGpu = (t: Tensor, gpu: Backend) => tg.tensor(Float32Array.from(t.dataSync()), t.shape, 'float32', gpu);

await describeGpu('infinite-width kernels on WebGPU', () => {
  const o = { W_std: 1.3, b_std: 0.2 };
  const so = { ...o, parameterization: 'standard' as const };
  // Odd sizes: 5x3 images, 3 and 2 samples, filters that do not divide them.
  const dense = () => tg.normal(tg.key(1), [5, 4], 'float64');
  const dense2 = () => tg.normal(tg.key(2), [3, 4], 'float64');
  const image = () => tg.normal(tg.key(3), [3, 5, 3, 2], 'float64');
  const image2 = () => tg.normal(tg.key(4), [2, 5, 3, 2], 'float64');
  const cases: { name: string; net: () => KernelLayer; x: () => Tensor; x2?: () => Tensor; opts?: { spatial?: 'full' | 'diagonal'; blockSize?: number } }[] = [
    { name: 'MLP Relu / Erf (both parameterizations)', net: () => serial(Dense(7, o), Relu(), Dense(5, so), Erf({ a: 1.2, b: 0.8, c: 0.1 }), Dense(2, so)), x: dense, x2: dense2 },
    { name: 'MLP, symmetric call in blocks of 2', net: () => serial(Dense(7, o), Erf(), Dense(5, o), Relu(), Dense(1, o)), x: dense, opts: { blockSize: 2 } },
    {
      name: 'CNN, diagonal layout: Conv SAME -> Relu -> strided dilated Conv -> Erf -> Flatten -> Dense',
      net: () => serial(Conv(4, [3, 2], { padding: 'SAME', ...o }), Relu(), Conv(3, [2, 2], { strides: [2, 1], dilation: [1, 2], padding: 'SAME', ...so }), Erf(), Flatten(), Dense(1, o)),
      x: image,
      x2: image2,
    },
    {
      name: 'CNN, full layout: Conv -> Relu -> AvgPool SAME -> Conv -> Erf -> GlobalAvgPool',
      net: () => serial(Conv(4, [3, 3], { padding: 'SAME', ...o }), Relu(), AvgPool([2, 2], [2, 1], 'SAME'), Conv(3, [2, 2], so), Erf(), GlobalAvgPool(), Dense(1, o)),
      x: image,
    },
    {
      name: 'residual sum and channel concatenation',
      net: () => serial(Conv(4, [2, 2], { padding: 'SAME', ...o }), fanOut(2), parallel(Identity(), serial(Relu(), Conv(4, [3, 3], { padding: 'SAME', ...o }))), fanInSum(), Relu(), fanOut(2), parallel(Conv(2, [1, 1], o), Conv(3, [2, 2], { padding: 'SAME', ...so })), fanInConcat(), Flatten(), Dense(1, so)),
      x: image,
      x2: image2,
      opts: { spatial: 'full' },
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
        expect(res.nngp.dtype).toBe('float32');
        expect(res.nngp.shape).toEqual(ref.nngp.shape);
        expect(res.layout).toBe(ref.layout);
        expectNear(await res.nngp.data(), refNngp, `${c.name} nngp`, { rtol: 1e-4, atol: 1e-5 * maxAbs(refNngp) });
        expectNear(await res.ntk!.data(), refNtk, `${c.name} ntk`, { rtol: 1e-4, atol: 1e-5 * maxAbs(refNtk) });
        tg.dispose([res.nngp, res.ntk]);
      } finally {
        tg.useBackend(cpuBackend().name);
      }
    });
  }

  it('Tanh and Elementwise by Gauss-Hermite quadrature: float32 on the GPU equals float64 on the CPU', async () => {
    tg.useBackend('cpu');
    const net = serial(Conv(3, [2, 2], { padding: 'SAME', ...o }), Tanh(), Conv(3, [2, 1], o), Elementwise((v) => tg.log1p(tg.exp(v)), 'softplus'), Flatten(), Dense(1, o));
    const x = image();
    const x2 = image2();
    const opts = { quadrature: 24 };
    const ref = net.kernel(x, x2, opts);
    const refNngp = ref.nngp.dataSync();
    const refNtk = ref.ntk!.dataSync();
    const gpu = await tg.setBackend('webgpu');
    try {
      const res = net.kernel(toGpu(x, gpu), toGpu(x2, gpu), opts);
      expect(res.ntk!.backend.name).toBe('webgpu');
      expectNear(await res.nngp.data(), refNngp, 'quadrature nngp', { rtol: 1e-4, atol: 1e-5 * maxAbs(refNngp) });
      expectNear(await res.ntk!.data(), refNtk, 'quadrature ntk', { rtol: 1e-4, atol: 1e-5 * maxAbs(refNtk) });
      tg.dispose([res.nngp, res.ntk]);
    } finally {
      tg.useBackend(cpuBackend().name);
    }
  });

  it("the 'auto' quadrature, which picks rules on the host, names the backend and the way out", async () => {
    tg.useBackend('cpu');
    const host = dense();
    const gpu = await tg.setBackend('webgpu');
    try {
      const x = toGpu(host, gpu);
      expect(() => serial(Dense(3), Tanh(), Dense(1)).kernel(x)).toThrow(/Tanh: the 'auto' quadrature .*webgpu backend cannot read synchronously; pass \{ quadrature: m \}/);
    } finally {
      tg.useBackend(cpuBackend().name);
    }
  });

  it('monteCarloKernels on the GPU equals the same draws on the CPU (float32)', async () => {
    tg.useBackend('cpu');
    const net = serial(Conv(6, [2, 2], { padding: 'SAME', ...o }), Relu(), Flatten(), Dense(3, o));
    const x = tg.cast(image(), 'float32');
    const opts = { samples: 3, key: tg.key(9), keepSamples: true };
    const ref = monteCarloKernels(net, x, undefined, opts);
    const refData = {
      nngp: ref.nngp.dataSync(),
      ntk: ref.ntk!.dataSync(),
      nngpStdErr: ref.nngpStdErr.dataSync(),
      ntkStdErr: ref.ntkStdErr!.dataSync(),
      sample: ref.perSample![2].ntk!.dataSync(),
    };
    const gpu = await tg.setBackend('webgpu');
    try {
      const mc = monteCarloKernels(net, toGpu(x, gpu), undefined, opts);
      expect(mc.ntk!.backend.name).toBe('webgpu');
      for (const [name, t] of [['nngp', mc.nngp], ['ntk', mc.ntk!], ['nngpStdErr', mc.nngpStdErr], ['ntkStdErr', mc.ntkStdErr!], ['sample', mc.perSample![2].ntk!]] as const) {
        const want = refData[name];
        expectNear(await t.data(), want, `monteCarloKernels ${name}`, { rtol: 1e-3, atol: 1e-4 * maxAbs(want) });
      }
      tg.dispose(mc);
    } finally {
      tg.useBackend(cpuBackend().name);
    }
  });
});
