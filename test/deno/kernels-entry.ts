// Deno entry for the WebGPU kernel checks: prints one JSON KernelReport on stdout.
// Run: node_modules/.bin/deno run --allow-read --allow-env test/deno/kernels-entry.ts
import { kernelReport } from '../webgpu/portable-checks.ts';

console.log(JSON.stringify(await kernelReport()));
