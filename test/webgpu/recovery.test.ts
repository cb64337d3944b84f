/** After the device is lost (here: released), reads fail clearly and setBackend('webgpu') starts afresh. */
import { expect, it } from 'vitest';
import * as tg from '../../engine/index.ts';
import { releaseDevice } from '../../kernels/webgpu/device.ts';
import { describeGpu } from './gpu-available.ts';

await describeGpu('WebGPU device loss', () => {
  it('rejects reads on the lost device and recovers with a new backend', async () => {
    const first = await tg.setBackend('webgpu');
    const x = tg.add(tg.tensor([1, 2, 3]), 1);
    expect(Array.from(await x.data())).toEqual([2, 3, 4]);
    const y = tg.mul(x, 2);
    await releaseDevice();
    await expect(y.data()).rejects.toThrow(/lost|destroyed|cannot run|failed/i);
    const second = await tg.setBackend('webgpu');
    expect(second).not.toBe(first);
    const z = tg.mul(tg.tensor([1, 2, 3]), 3);
    expect(Array.from(await z.data())).toEqual([3, 6, 9]);
    tg.useBackend('cpu');
  });
});
