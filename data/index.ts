/** Datasets as plain typed arrays (no dependency on the engine). */
export * from './split.ts';
export * from './mnist.ts';
export * from './cifar10.ts';
