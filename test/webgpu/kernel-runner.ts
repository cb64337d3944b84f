/**
 * A minimal runner for one ShaderProgram (upload, dispatch, read back), independent of the
 * WebGPU backend, for the generator tests (matmul-kernel, conv-kernel). It binds exactly as the
 * contract in kernels/wgsl/program.ts says: inputs, output, uniform block, one explicit layout.
 */
import type { ShaderProgram } from '../../kernels/wgsl/program.ts';
import { untilLost } from '../../kernels/webgpu/device.ts';
import { randomArray as sharedRandomArray } from '../random-array.ts';

const pipelines = new WeakMap<GPUDevice, Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; code: string }>>();

/** Compiles (cached by key; a key reused with different code is an error) and returns the pipeline. */
async function pipelineFor(device: GPUDevice, p: ShaderProgram) {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  const hit = cache.get(p.key);
  if (hit) {
    if (hit.code !== p.code) throw new Error(`program key '${p.key}' maps to two different WGSL texts`);
    return hit;
  }
  const entries: GPUBindGroupLayoutEntry[] = [];
  for (let i = 0; i < p.inputs; i++) entries.push({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } });
  entries.push({ binding: p.inputs, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } });
  if (p.uniforms.length) entries.push({ binding: p.inputs + 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
  device.pushErrorScope('validation');
  const layout = device.createBindGroupLayout({ entries });
  const module = device.createShaderModule({ code: p.code });
  const pipeline = device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module } });
  const err = await device.popErrorScope();
  if (err) {
    const info = await module.getCompilationInfo();
    const lines = info.messages.map((m) => `  ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
    throw new Error(`program '${p.key}' does not compile: ${err.message}\n${lines}\n${p.code}`);
  }
  const entry = { pipeline, layout, code: p.code };
  cache.set(p.key, entry);
  return entry;
}

const bytes16 = (n: number) => Math.max(16, Math.ceil(n / 16) * 16);

/** Runs `p` on `inputs` and returns the output (p.outputSize floats). */
export async function runProgram(device: GPUDevice, p: ShaderProgram, inputs: readonly Float32Array[]): Promise<Float32Array> {
  if (inputs.length !== p.inputs) throw new Error(`program '${p.key}' takes ${p.inputs} inputs, got ${inputs.length}`);
  const { pipeline, layout } = await pipelineFor(device, p);
  const buffers: GPUBuffer[] = [];
  const make = (size: number, usage: number) => {
    const b = device.createBuffer({ size: bytes16(size), usage });
    buffers.push(b);
    return b;
  };
  try {
    const ins = inputs.map((x) => {
      const b = make(x.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(b, 0, x as Float32Array<ArrayBuffer>);
      return b;
    });
    const outBytes = p.outputSize * 4;
    const out = make(outBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    // NaN-fill the output so an element the kernel never writes cannot pass.
    device.queue.writeBuffer(out, 0, new Float32Array(bytes16(outBytes) / 4).fill(NaN));
    const entries: GPUBindGroupEntry[] = ins.map((b, i) => ({ binding: i, resource: { buffer: b } }));
    entries.push({ binding: p.inputs, resource: { buffer: out } });
    if (p.uniforms.length) {
      const ub = make(p.uniforms.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(ub, 0, p.uniforms as Uint32Array<ArrayBuffer>);
      entries.push({ binding: p.inputs + 1, resource: { buffer: ub } });
    }
    const staging = make(outBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const enc = device.createCommandEncoder();
    if (p.dispatch.every((d) => d > 0)) {
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, device.createBindGroup({ layout, entries }));
      pass.dispatchWorkgroups(...p.dispatch);
      pass.end();
    }
    enc.copyBufferToBuffer(out, 0, staging, 0, bytes16(outBytes));
    device.queue.submit([enc.finish()]);
    await untilLost(device, staging.mapAsync(GPUMapMode.READ));
    const res = new Float32Array(staging.getMappedRange().slice(0, outBytes));
    staging.unmap();
    return res;
  } finally {
    for (const b of buffers) b.destroy();
  }
}

/**
 * Whether `device` runs the subgroup programs (GemmOptions.subgroups): it has the 'subgroups'
 * feature (Dawn enables it whenever the adapter offers it) and subgroups of at least 8
 * invocations, when the implementation reports their size.
 */
export function supportsSubgroupPrograms(device: GPUDevice): boolean {
  if (!device.features.has('subgroups')) return false;
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo;
  return (info?.subgroupMinSize ?? 8) >= 8;
}

/** Seeded float32 values in [-1, 1), shared with the CPU kernel tests. */
export function randomArray(length: number, seed: number): Float32Array {
  return sharedRandomArray('float32', length, seed) as Float32Array;
}
