/**
 * Vite config of the browser app: `npm run web` (dev server) and `npm run build:web` (static
 * files in app/dist, with relative URLs so any folder of any static host serves them).
 *
 * Both servers send the two headers that make the page cross-origin isolated, which the CPU
 * backend needs for SharedArrayBuffer (its worker threads); a static host should send them too
 * (see the README). Without them the app still runs: WebGPU is unaffected, the CPU runs one thread.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export const CROSS_ORIGIN_ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  publicDir: 'public',
  // The training worker imports the engine, which splits into chunks (the WebGPU backend loads lazily).
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Never inline assets as data: URLs: the CPU backend's thread script (kernels/wasm/worker.js)
    // must load from the page's origin (a CSP's worker-src 'self', and shared memory).
    assetsInlineLimit: 0,
    // Plotly alone is about 4.6 MB: one chunk by design, not a warning.
    chunkSizeWarningLimit: 6000,
  },
  server: { headers: CROSS_ORIGIN_ISOLATION },
  preview: { headers: CROSS_ORIGIN_ISOLATION },
});
