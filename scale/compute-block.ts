/**
 * Computing one block task of a store and writing its chunks: the same code in every runner
 * (in-process, worker threads, BullMQ workers, array-job indices), which is what makes their
 * stores identical bit for bit.
 *
 * Analytic blocks call the model's kernel function (models/kernels) on the block's rows; a
 * diagonal block of a one-dataset store is evaluated as K(x_a) (the symmetric path, exactly
 * symmetric), every other block as K(x_a, x_b). Empirical blocks call linearize's empiricalNtk at
 * the stored parameters, traced over the outputs.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { AnyLayer, Params } from '../models/layer.ts';
import { empiricalNtk } from '../linearize/ntk.ts';
import type { ApplyFn } from '../linearize/linearize.ts';
import { buildModel } from './model-spec.ts';
import type { Block } from './blocks.ts';
import { KernelStore, type KernelName } from './store.ts';

export interface BlockResult {
  readonly block: Block;
  /** true when this call wrote the chunks; false when they were already present and verified. */
  readonly written: boolean;
}

function cpuBackend() {
  const cpu = tg.backendInstance('cpu');
  if (!cpu) throw new Error('kernel blocks: the CPU backend is not available');
  return cpu;
}

/** Builds the model parameters a store was made for: the tree of `init`, its leaves replaced by the stored values. */
export function storedParams(model: AnyLayer, store: KernelStore): Params {
  const { meta } = store;
  const { params } = model.init(tg.key(meta.seed ?? 0), [-1, ...meta.sampleShape], meta.dtype);
  const leaves = tg.treeLeaves(params);
  const total = leaves.reduce((s, l) => s + l.size, 0);
  const flat = store.params(total);
  let offset = 0;
  const cpu = cpuBackend();
  const out = tg.treeMap(params, (leaf: Tensor) => {
    const values = flat.subarray(offset, offset + leaf.size);
    offset += leaf.size;
    return tg.tensor(meta.dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values), leaf.shape, meta.dtype, cpu);
  }) as Params;
  for (const l of leaves) l.dispose();
  return out;
}

/** Computes the blocks of one store; holds the model (and parameters) between blocks. */
export class BlockComputer {
  readonly model: AnyLayer;
  private readonly params: Params | null;

  constructor(readonly store: KernelStore) {
    this.model = buildModel(store.meta.model);
    this.params = store.meta.mode === 'empirical' ? storedParams(this.model, store) : null;
  }

  /** The kernels of block `index` as [rows, cols] matrices, nothing written. */
  computeValues(index: number): { block: Block; values: Map<KernelName, Float64Array | Float32Array> } {
    const { meta } = this.store;
    const block = this.store.block(index);
    const cpu = cpuBackend();
    const a = this.store.inputRows('x1', block.row);
    const diagonal = meta.symmetric && block.row === block.col;
    const b = diagonal ? a : this.store.inputRows('x2', block.col);
    const asTensor = (x: { data: Float64Array; rows: number }) =>
      tg.tensor(meta.dtype === 'float64' ? Float64Array.from(x.data) : Float32Array.from(x.data), [x.rows, ...meta.sampleShape], meta.dtype, cpu);
    const values = tg.tidy(() => {
      const xa = asTensor(a);
      const xb = diagonal ? undefined : asTensor(b);
      const out = new Map<KernelName, Float64Array | Float32Array>();
      if (meta.mode === 'analytic') {
        const wantNtk = meta.kernels.includes('ntk');
        const k = this.model.kernel!(xa, xb, { get: wantNtk ? 'both' : 'nngp', blockSize: meta.blockSize });
        if (k.layout !== 'none' || k.nngp.rank !== 2) throw new Error(`kernel blocks: the model's kernel is per position pair (layout ${k.layout}, shape [${k.nngp.shape}]); end the model with Flatten or GlobalAvgPool`);
        for (const name of meta.kernels) out.set(name, (name === 'nngp' ? k.nngp : k.ntk!).dataSync() as Float64Array | Float32Array);
      } else {
        const e = meta.empirical!;
        const theta = empiricalNtk(this.model.apply as ApplyFn<Params | null>, this.params, xa, xb ?? xa, { trace: true, blockSize: e.innerBlock, method: e.method });
        out.set('ntk', theta.dataSync() as Float64Array | Float32Array);
      }
      return out;
    });
    return { block, values };
  }

  /**
   * Computes block `index` and writes its chunks, unless they are already there and verified
   * (another worker finished it): then nothing is written.
   */
  run(index: number): BlockResult {
    if (this.store.blockIsDone(index)) return { block: this.store.block(index), written: false };
    const { block, values } = this.computeValues(index);
    const B = this.store.meta.blockSize;
    for (const [name, v] of values) {
      // Edge blocks are padded to the full chunk shape (Zarr chunks are all the same size).
      const chunk = this.store.meta.dtype === 'float64' ? new Float64Array(B * B) : new Float32Array(B * B);
      if (block.rows === B && block.cols === B) chunk.set(v);
      else for (let r = 0; r < block.rows; r++) chunk.set(v.subarray(r * block.cols, (r + 1) * block.cols), r * B);
      this.store.writeChunk(name, [block.row, block.col], chunk);
    }
    return { block, written: true };
  }
}
