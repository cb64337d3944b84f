/**
 * scale/: kernels bigger than one machine's memory, or computed on many machines. A kernel is a
 * Zarr v3 store of block chunks (scale/store.ts); runners fill it: a worker-thread pool here
 * (runLocal), BullMQ workers anywhere (runBullmq + startBullmqWorker), or array-job tasks
 * (runIndexTask). Node only (file system, threads).
 * @example
 * const store = await createKernelStore('k.zarr', { model: [{ layer: 'Dense', out: 512, W_std: 1.5 }, 'Relu', { layer: 'Dense', out: 1, W_std: 1.5 }], x1: { shape: [n, d], data }, blockSize: 1000 });
 * await runLocal(store.root, { workers: 4, progress: true });
 * const ntk = readKernelMatrix(store.root, 'ntk');      // or kernelRowBlocks / exportNpy
 */
export { buildModel, parseModelSpec, type LayerSpec, type ModelSpec } from './model-spec.ts';
export { createKernelStore, type CreateStoreOptions, type HostBatch } from './create-store.ts';
export { KernelStore, type KernelName, type KernelStoreMeta, type StoreDtype } from './store.ts';
export { blockAt, blockCount, type Block } from './blocks.ts';
export { BlockComputer, type BlockResult } from './compute-block.ts';
export { runLocal, type LocalRunOptions } from './local-runner.ts';
export { runBullmq, startBullmqWorker, redisConnection, redisClient, DEFAULT_QUEUE, type BullmqRunOptions, type BullmqWorkerOptions, type BullmqWorkerHandle, type BlockJobData, type BlockJobResult } from './bullmq-runner.ts';
export { runIndexTask, arrayTask, type IndexRunOptions } from './index-runner.ts';
export { readRowBlock, kernelRowBlocks, readKernelMatrix, readKernelTensor, exportNpy, type RowBlock } from './read-kernel.ts';
export { predictStored, type StoredPredictOptions, type StoredPrediction } from './predict-stored.ts';
export { readNpy, writeNpy, npyHeader } from './npy.ts';
export type { RunSummary } from './run-summary.ts';
