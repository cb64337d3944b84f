/**
 * data/index.ts is browser-safe by construction: a default esbuild browser bundle of it (no
 * externals) succeeds and contains no Node builtin, while data/node.ts is where they live.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const entry = (p: string) => fileURLToPath(new URL(`../../data/${p}`, import.meta.url));

describe('data/ entry points', () => {
  it('data/index.ts bundles for the browser with no externals and reaches no node: module', async () => {
    const r = await build({ entryPoints: [entry('index.ts')], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent' });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((i) => i.startsWith('node:'))).toBe(false);
    expect(inputs.map((i) => i.replace(/^.*data\//, 'data/')).sort()).toEqual(['data/cifar10.ts', 'data/index.ts', 'data/mnist.ts', 'data/split.ts', 'data/tar.ts']);
  });

  it('data/node.ts does need Node builtins (so it must stay a separate entry)', async () => {
    await expect(build({ entryPoints: [entry('node.ts')], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' })).rejects.toThrow(/node:/);
  });
});
