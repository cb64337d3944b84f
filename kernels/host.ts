/**
 * The JavaScript runtime the kernels run in: Node, Deno or a browser (anything else with neither
 * `Deno` nor `process.versions.node`). One home for the check that WebGPU device acquisition
 * (Dawn in Node, navigator.gpu elsewhere) and the CPU worker pool (worker_threads in Node and
 * Deno, Web Workers in browsers) both make.
 */
export type Host = 'node' | 'deno' | 'browser';

export function detectHost(): Host {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  if (g.Deno !== undefined) return 'deno';
  if (g.process?.versions?.node !== undefined) return 'node';
  return 'browser';
}
