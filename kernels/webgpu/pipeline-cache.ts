/**
 * Pipelines by ShaderProgram.key and bind groups by (layout, uniform binding, buffer ids).
 *
 * Bind groups are worth caching: creating one costs ~55 us in Dawn (measured on lavapipe),
 * more than encoding a small dispatch. They repeat step after step in a training loop because
 * the buffer pool hands out the lowest-numbered free buffer, so a step gets the same buffers as
 * the step before last. Every program of the contract (program.ts) shares one explicit layout
 * per input count, with the uniform block at a dynamic offset into the backend's arena.
 */
import type { ShaderProgram } from '../wgsl/program.ts';
import type { GpuStorage } from './buffer-pool.ts';

export interface PipelineEntry {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly layoutId: number;
  readonly hasUniforms: boolean;
}

const BIND_GROUP_CACHE_SIZE = 8192;
const COMPUTE = 0x4; // GPUShaderStage.COMPUTE (a global only in some hosts)

export class PipelineCache {
  private readonly pipelines = new Map<string, PipelineEntry>();
  private readonly layouts = new Map<string, { layout: GPUBindGroupLayout; pipelineLayout: GPUPipelineLayout; id: number }>();
  private readonly groups = new Map<string, GPUBindGroup>();
  /** Bind-group keys per buffer id, so a destroyed buffer's groups are dropped. */
  private readonly groupsOfBuffer = new Map<number, string[]>();
  private groupKeyEntries = 0;
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly device: GPUDevice,
    /**
     * Runs creation inside error scopes; a failure is recorded under the label (the backend
     * prefixes the op and its shapes) and `failed` is called.
     */
    private readonly scoped: (label: string, fn: () => void, failed: () => void) => void,
  ) {}

  pipeline(program: ShaderProgram): PipelineEntry {
    const cached = this.pipelines.get(program.key);
    if (cached) return cached;
    const hasUniforms = program.uniforms.length > 0;
    const layout = this.layout(program.inputs, hasUniforms);
    let pipeline!: GPUComputePipeline;
    let entry: PipelineEntry | null = null;
    this.scoped(
      `compiling WGSL program '${program.key}'`,
      () => {
        const module = this.device.createShaderModule({ code: program.code, label: program.key });
        // No entryPoint: the contract's programs have exactly one compute entry point.
        pipeline = this.device.createComputePipeline({ layout: layout.pipelineLayout, compute: { module }, label: program.key });
      },
      // An invalid pipeline is not kept: the next use compiles again and reports its own error.
      () => {
        if (entry !== null && this.pipelines.get(program.key) === entry) this.pipelines.delete(program.key);
      },
    );
    entry = { pipeline, layout: layout.layout, layoutId: layout.id, hasUniforms };
    this.pipelines.set(program.key, entry);
    return entry;
  }

  /** The binding layout of program.ts, the uniform block with a dynamic offset. */
  private layout(inputs: number, hasUniforms: boolean) {
    const key = `${inputs}:${hasUniforms}`;
    let entry = this.layouts.get(key);
    if (!entry) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      for (let i = 0; i < inputs; i++) entries.push({ binding: i, visibility: COMPUTE, buffer: { type: 'read-only-storage' } });
      entries.push({ binding: inputs, visibility: COMPUTE, buffer: { type: 'storage' } });
      if (hasUniforms) entries.push({ binding: inputs + 1, visibility: COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } });
      const layout = this.device.createBindGroupLayout({ entries, label: `tangentgrad ${key}` });
      entry = { layout, pipelineLayout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }), id: this.layouts.size };
      this.layouts.set(key, entry);
    }
    return entry;
  }

  /** `uniformBinding` bytes of `arena` are bound for the uniform block (0 when the program has none). */
  bindGroup(entry: PipelineEntry, inputs: readonly GpuStorage[], out: GpuStorage, arena: GPUBuffer, uniformBinding: number): GPUBindGroup {
    let key = `${entry.layoutId}:${uniformBinding}`;
    for (const x of inputs) key += `,${x.id}`;
    key += `>${out.id}`;
    const hit = this.groups.get(key);
    if (hit) {
      this.hits++;
      return hit;
    }
    this.misses++;
    // Bounded: past the cap (or when the per-buffer index has collected many stale keys), start over.
    if (this.groups.size >= BIND_GROUP_CACHE_SIZE || this.groupKeyEntries >= 4 * BIND_GROUP_CACHE_SIZE) {
      this.groups.clear();
      this.groupsOfBuffer.clear();
      this.groupKeyEntries = 0;
    }
    // Whole buffers are bound (kernels take sizes from uniforms), so the group does not depend
    // on the tensor that currently lives in the buffer.
    const entries: GPUBindGroupEntry[] = inputs.map((x, i) => ({ binding: i, resource: { buffer: x.buffer } }));
    entries.push({ binding: inputs.length, resource: { buffer: out.buffer } });
    if (entry.hasUniforms) entries.push({ binding: inputs.length + 1, resource: { buffer: arena, offset: 0, size: uniformBinding } });
    let group!: GPUBindGroup;
    this.scoped('creating a bind group', () => {
      group = this.device.createBindGroup({ layout: entry.layout, entries });
    }, () => {
      if (this.groups.get(key) === group) this.groups.delete(key);
    });
    this.groups.set(key, group);
    this.groupKeyEntries += inputs.length + 1;
    for (const x of [...inputs, out]) {
      const keys = this.groupsOfBuffer.get(x.id);
      if (keys) keys.push(key);
      else this.groupsOfBuffer.set(x.id, [key]);
    }
    return group;
  }

  /** Forgets the groups of a buffer about to be destroyed. */
  dropBuffer(bufferId: number): void {
    const keys = this.groupsOfBuffer.get(bufferId);
    if (!keys) return;
    for (const k of keys) this.groups.delete(k);
    this.groupsOfBuffer.delete(bufferId);
  }

  stats(): { pipelines: number; bindGroupHits: number; bindGroupMisses: number } {
    return { pipelines: this.pipelines.size, bindGroupHits: this.hits, bindGroupMisses: this.misses };
  }
}
