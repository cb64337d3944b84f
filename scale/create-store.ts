/**
 * Setting up a kernel store: checks the model spec, the inputs and the options, draws or takes the
 * parameters of an empirical kernel, and writes the store's metadata and inputs. No kernel block
 * is computed here; any runner then fills the store.
 */
import * as tg from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Params } from '../models/layer.ts';
import { buildModel, type ModelSpec } from './model-spec.ts';
import { KernelStore, type KernelName, type StoreDtype } from './store.ts';

export type HostBatch = Tensor | { readonly shape: readonly number[]; readonly data: ArrayLike<number> };

export interface CreateStoreOptions {
  /** The model as a JSON spec (scale/model-spec.ts). */
  model: ModelSpec;
  x1: HostBatch;
  /** Second dataset; omitted: the kernel of x1 with itself (upper triangle only). */
  x2?: HostBatch;
  /** 'analytic' (default): infinite-width NNGP / NTK; 'empirical': the NTK of the finite network at its parameters. */
  mode?: 'analytic' | 'empirical';
  /** Default ['nngp', 'ntk'] (analytic) or ['ntk'] (empirical, the only one it has). */
  kernels?: readonly KernelName[];
  /** Rows (and columns) per block = per Zarr chunk. Default 1000 (8 MB per float64 chunk). */
  blockSize?: number;
  /** Default 'float64'. */
  dtype?: StoreDtype;
  /** Seed of the empirical parameters (model.init(tg.key(seed))). Default 0. */
  seed?: number;
  /**
   * Empirical: parameters to use instead of drawing them from the seed: a tree like model.init's,
   * or all its leaves flattened and concatenated in tree order (tg.treeLeaves), e.g. from an .npy.
   */
  params?: Params | Float64Array;
  /** Empirical: empiricalNtk's method (default 'structured') and inner row block (default 64). */
  method?: 'structured' | 'contraction' | 'ntkvp';
  innerBlock?: number;
}

function hostBatch(what: string, x: HostBatch): { shape: number[]; data: Float64Array } {
  if (x instanceof tg.Tensor) return { shape: [...x.shape], data: Float64Array.from(x.dataSync()) };
  if (x === null || typeof x !== 'object' || !Array.isArray(x.shape)) throw new Error(`createKernelStore: ${what} must be a tensor or { shape, data }, got ${String(x)}`);
  const size = x.shape.reduce((a, b) => a * b, 1);
  if (x.data === undefined || x.data.length !== size) throw new Error(`createKernelStore: ${what} has shape [${x.shape.join(',')}] but ${x.data?.length} values`);
  const data = Float64Array.from(x.data);
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new Error(`createKernelStore: ${what} has a non-finite value at flat index ${i}`);
  return { shape: [...x.shape], data };
}

/**
 * Creates a kernel store at `root` (a folder, conventionally *.zarr) and returns it opened.
 * @example
 * const store = await createKernelStore('k.zarr', { model: [{ layer: 'Dense', out: 512, W_std: 1.5 }, 'Relu', { layer: 'Dense', out: 1 }], x1: { shape: [n, d], data } });
 * await runLocal(store.root, { workers: 4 });
 */
export async function createKernelStore(root: string, opts: CreateStoreOptions): Promise<KernelStore> {
  if (opts === null || typeof opts !== 'object') throw new Error('createKernelStore: options must be an object');
  const known = new Set(['model', 'x1', 'x2', 'mode', 'kernels', 'blockSize', 'dtype', 'seed', 'params', 'method', 'innerBlock']);
  for (const k of Object.keys(opts)) if (!known.has(k)) throw new Error(`createKernelStore: unknown option '${k}'`);
  const model = buildModel(opts.model);
  const mode = opts.mode ?? 'analytic';
  if (mode !== 'analytic' && mode !== 'empirical') throw new Error(`createKernelStore: mode must be 'analytic' or 'empirical', got '${String(mode)}'`);
  const kernels = [...(opts.kernels ?? (mode === 'analytic' ? ['nngp', 'ntk'] : ['ntk']))] as KernelName[];
  if (kernels.length === 0 || kernels.some((k) => k !== 'nngp' && k !== 'ntk') || new Set(kernels).size !== kernels.length) {
    throw new Error(`createKernelStore: kernels must be a non-empty list of distinct 'nngp' / 'ntk', got ${JSON.stringify(opts.kernels)}`);
  }
  if (mode === 'empirical' && kernels.includes('nngp')) throw new Error("createKernelStore: an empirical store has the NTK only (kernels: ['ntk'])");
  const blockSize = opts.blockSize ?? 1000;
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 16384) throw new Error(`createKernelStore: blockSize must be an integer in [1, 16384], got ${blockSize}`);
  const dtype = opts.dtype ?? 'float64';
  if (dtype !== 'float64' && dtype !== 'float32') throw new Error(`createKernelStore: dtype must be 'float64' or 'float32', got '${String(dtype)}'`);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`createKernelStore: seed must be a non-negative integer, got ${seed}`);
  const innerBlock = opts.innerBlock ?? 64;
  if (!Number.isInteger(innerBlock) || innerBlock < 1) throw new Error(`createKernelStore: innerBlock must be a positive integer, got ${innerBlock}`);
  const method = opts.method ?? 'structured';
  if (!['structured', 'contraction', 'ntkvp'].includes(method)) throw new Error(`createKernelStore: method must be structured, contraction or ntkvp, got '${method}'`);

  const x1 = hostBatch('x1', opts.x1);
  const x2 = opts.x2 === undefined ? null : hostBatch('x2', opts.x2);
  if (x1.shape.length < 2 || x1.shape[0] < 1) throw new Error(`createKernelStore: x1 must be a batch [N, ...sample] with N >= 1, got [${x1.shape.join(',')}]`);
  if (x2 && (x2.shape.length !== x1.shape.length || x2.shape.slice(1).some((d, i) => d !== x1.shape[i + 1]) || x2.shape[0] < 1)) {
    throw new Error(`createKernelStore: x1 [${x1.shape.join(',')}] and x2 [${x2.shape.join(',')}] must share every axis but the batch axis`);
  }
  // Check the model accepts the samples before anything is written.
  const sampleShape = x1.shape.slice(1);
  let params: Float64Array | null = null;
  if (mode === 'empirical') {
    const drawn = model.init(tg.key(seed), [-1, ...sampleShape], dtype).params;
    const want = tg.treeLeaves(drawn);
    if (opts.params instanceof Float64Array) {
      const total = want.reduce((sum, l) => sum + l.size, 0);
      if (opts.params.length !== total) throw new Error(`createKernelStore: flat params have ${opts.params.length} values; the model's parameters have ${total} (leaves ${want.map((l) => `[${l.shape}]`).join(', ')}, in that order)`);
      for (let i = 0; i < opts.params.length; i++) if (!Number.isFinite(opts.params[i])) throw new Error(`createKernelStore: params has a non-finite value at flat index ${i}`);
    }
    const given = opts.params instanceof Float64Array ? null : opts.params ?? drawn;
    const got = given === null ? want : tg.treeLeaves(given);
    if (got.length !== want.length || got.some((l, i) => l.shape.join() !== want[i].shape.join())) {
      throw new Error(`createKernelStore: params must be a tree like model.init's: leaves [${want.map((l) => `[${l.shape}]`).join(', ')}], got [${got.map((l) => `[${l.shape}]`).join(', ')}]`);
    }
    if (opts.params instanceof Float64Array) params = Float64Array.from(opts.params);
    else {
      params = new Float64Array(got.reduce((sum, l) => sum + l.size, 0));
      let o = 0;
      for (const l of got) {
        params.set(l.dataSync(), o);
        o += l.size;
      }
    }
    for (const l of want) l.dispose();
  } else {
    model.init(tg.key(0), [-1, ...sampleShape], dtype);
  }
  return KernelStore.create(root, {
    mode, kernels, model: opts.model, sampleShape, n1: x1.shape[0], n2: x2 ? x2.shape[0] : x1.shape[0], symmetric: x2 === null,
    blockSize, dtype, seed: mode === 'empirical' && opts.params === undefined ? seed : mode === 'empirical' ? null : seed,
    empirical: mode === 'empirical' ? { method, innerBlock } : null,
  }, x1.data, x2?.data ?? null, params);
}
