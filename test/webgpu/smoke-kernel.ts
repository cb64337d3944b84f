/**
 * The smallest end-to-end WebGPU check, shared by the Node, Deno and browser
 * smoke tests: upload x, dispatch y[i] = x[i] * 2 + 1, read y back.
 * Inputs are multiples of 1/8 so every result is exact in float32.
 */
import { acquireDevice, releaseDevice, untilLost } from '../../kernels/webgpu/device.ts';

export const SMOKE_N = 1000;
const WORKGROUP = 64;

const SHADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < arrayLength(&y)) { // the last workgroup runs past n
    y[i] = x[i] * 2.0 + 1.0;
  }
}`;

export function smokeInput(n = SMOKE_N): Float32Array<ArrayBuffer> {
  return Float32Array.from({ length: n }, (_, i) => (i - n / 2) / 8);
}

/** Runs the smoke shader on `device` and returns y. */
export async function runSmokeKernel(device: GPUDevice, x: Float32Array<ArrayBuffer> = smokeInput()): Promise<Float32Array> {
  const bytes = x.byteLength;
  const xBuf = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const yBuf = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    device.queue.writeBuffer(xBuf, 0, x);
    const pipeline = device.createComputePipeline({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: 'main' },
    });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: xBuf } },
        { binding: 1, resource: { buffer: yBuf } },
      ],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(x.length / WORKGROUP));
    pass.end();
    encoder.copyBufferToBuffer(yBuf, 0, staging, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await untilLost(device, staging.mapAsync(GPUMapMode.READ));
    const y = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    return y;
  } finally {
    xBuf.destroy();
    yBuf.destroy();
    staging.destroy();
  }
}

/** Describes the first wrong element, or returns null when y = 2x + 1 everywhere. */
export function smokeMismatch(x: Float32Array, y: Float32Array): string | null {
  if (y.length !== x.length) return `length ${y.length}, expected ${x.length}`;
  for (let i = 0; i < x.length; i++) {
    if (y[i] !== x[i] * 2 + 1) return `y[${i}] = ${y[i]}, expected ${x[i] * 2 + 1}`;
  }
  return null;
}

/** JSON the Deno and browser smoke entries report back to their vitest tests. */
export type SmokeReport =
  | { available: true; host: string; adapterInfo: string; n: number; mismatch: string | null; head: number[] }
  | { available: false; error: string };

/** Acquire, run, check, release: the whole smoke run as one serializable report. */
export async function smokeReport(): Promise<SmokeReport> {
  let acquired;
  try {
    acquired = await acquireDevice();
  } catch (e) {
    return { available: false, error: (e as Error).message };
  }
  try {
    const x = smokeInput();
    const y = await runSmokeKernel(acquired.device, x);
    return {
      available: true,
      host: acquired.host,
      adapterInfo: acquired.adapterInfo,
      n: y.length,
      mismatch: smokeMismatch(x, y),
      head: Array.from(y.subarray(0, 4)),
    };
  } finally {
    await releaseDevice();
  }
}
