/**
 * The empirical NTK runs on WebGPU: structured and NTK-vector-product kernels computed in float32
 * on the GPU equal the float64 Jacobian contraction on the CPU (dense, conv and residual models),
 * and f_lin evaluates there too.
 */
import { expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import type { Backend, Tensor } from '../../engine/index.ts';
import { linearize } from '../../linearize/linearize.ts';
import { empiricalNtk } from '../../linearize/ntk.ts';
import { convNet, mlp, residualNet, type TestNet } from '../linearize/nets.ts';
import { describeGpu } from './gpu-available.ts';
import { cpuBackend, expectNear, maxAbs } from './util.ts';

const toGpu = (t: Tensor, gpu: Backend) => tg.tensor(Float32Array.from(t.dataSync()), t.shape, 'float32', gpu);

await describeGpu('empirical NTK on WebGPU', () => {
  const builders: [string, (k: tg.Key) => TestNet][] = [
    ['mlp', (k) => mlp(k, [5, 16, 12], 2)],
    ['conv', (k) => convNet(k, 2)],
    ['residual', (k) => residualNet(k, 2)],
  ];
  for (const [name, build] of builders) {
    it(`${name}: structured and ntkvp (float32, GPU) equal the float64 contraction (CPU)`, async () => {
      tg.useBackend('cpu');
      const net = build(tg.key(3));
      const x1 = net.input(tg.key(4), 5);
      const x2 = net.input(tg.key(5), 3);
      const reference = empiricalNtk(net.apply, net.params, x1, x2, { method: 'contraction' }).dataSync();
      const linRef = linearize(net.apply, net.params)(tg.treeMap(net.params, (p) => tg.mul(p, 1.01)), x1).dataSync();
      const gpu = await tg.setBackend('webgpu');
      try {
        const params = tg.treeMap(net.params, (p) => toGpu(p, gpu));
        const g1 = toGpu(x1, gpu);
        const g2 = toGpu(x2, gpu);
        const scale = maxAbs(reference);
        for (const method of ['structured', 'ntkvp'] as const) {
          const theta = empiricalNtk(net.apply, params, g1, g2, { method, blockSize: 2 });
          expect(theta.backend.name).toBe('webgpu');
          expectNear(await theta.data(), reference, `${name} ${method}`, { rtol: 1e-3, atol: 1e-4 * scale });
          theta.dispose();
        }
        const lin = linearize(net.apply, params)(tg.treeMap(params, (p) => tg.mul(p, 1.01)), g1);
        expectNear(await lin.data(), linRef, `${name} f_lin`, { rtol: 1e-3, atol: 1e-4 * maxAbs(linRef) });
      } finally {
        tg.useBackend(cpuBackend().name);
      }
    });
  }
});
