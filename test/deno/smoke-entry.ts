// Deno entry for the WebGPU smoke test: prints one JSON SmokeReport on stdout.
// Run: node_modules/.bin/deno run --allow-read --allow-env test/deno/smoke-entry.ts
import { smokeReport } from '../webgpu/smoke-kernel.ts';

console.log(JSON.stringify(await smokeReport()));
