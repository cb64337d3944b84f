/**
 * Whether a WebGPU adapter is usable here, asked in a child Node process whose stderr is dropped.
 * Dawn prints warnings from C++ straight to stderr for every Vulkan driver it rejects (Debian
 * 12's own lavapipe, for one), which no JavaScript setting silences; asking in a child first lets
 * the CLI's `--backend auto` fall back to the CPU with one clear line instead, without loading
 * Dawn at all. When an adapter is found the parent acquires it itself (Dawn may then repeat
 * warnings about other drivers it rejects).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ProbeResult {
  found: boolean;
  reason: string;
}

export function probeWebGpu(timeoutMs = 30_000): Promise<ProbeResult> {
  // The child is this folder's probe-child module, .ts from the sources (run with this process's
  // loader flags, e.g. tsx) or .js from the built package.
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const child = fileURLToPath(new URL(`./webgpu-probe-child${ext}`, import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [...process.execArgv, child], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (error, stdout) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(last) as ProbeResult;
        if (typeof r.found === 'boolean' && typeof r.reason === 'string') return resolve(r);
      } catch {
        // reported below
      }
      resolve({ found: false, reason: `the WebGPU probe failed (${error ? error.message.split('\n')[0] : `unexpected output: ${last}`})` });
    });
  });
}
