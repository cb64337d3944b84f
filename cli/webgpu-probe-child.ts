/**
 * Run by cli/webgpu-probe.ts in a child process whose stderr is dropped: tries the library's own
 * WebGPU acquisition (Dawn in Node) and prints one JSON line, { found, reason }.
 */
import { initBackend } from '../index.ts';

const { backend, reason } = await initBackend();
console.log(JSON.stringify({ found: backend.name === 'webgpu', reason }));
process.exit(0);
