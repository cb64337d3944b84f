// `npm run build`: a clean dist/ from tsconfig.build.json (a stale file from a deleted source
// must not ship), then checks that the CLI is runnable as the package's bin.
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const { status } = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
if (status !== 0) process.exit(status ?? 1);

// Plain JavaScript loaded at run time by URL, next to the module that loads it; tsc does not copy it.
for (const asset of ['kernels/wasm/worker.js']) copyFileSync(join(root, asset), join(root, 'dist', asset));

const bin = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).bin.tangentgrad;
if (!readFileSync(join(root, bin), 'utf8').startsWith('#!/usr/bin/env node\n')) {
  console.error(`build: ${bin} must start with '#!/usr/bin/env node' (cli/main.ts's first line) to run as the tangentgrad bin`);
  process.exit(1);
}
