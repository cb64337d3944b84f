/**
 * Datasets as plain typed arrays (no dependency on the engine). Browser-safe: byte parsers and
 * splits only, no Node builtin. The Node file readers and the CIFAR-10 downloader are in
 * data/node.ts (`tangentgrad/data/node`).
 */
export * from './split.ts';
export * from './mnist.ts';
export * from './cifar10.ts';
export { readTar, type TarContents, type TarEntry } from './tar.ts';
