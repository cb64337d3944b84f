// A worker thread of the CPU backend's pool (kernels/wasm/pool.ts). Plain JavaScript on purpose:
// it is loaded by URL (relative to pool.ts) by worker_threads in Node and Deno and by Web Workers
// in browsers, unbundled and untranspiled, and a strict Content-Security-Policy allows it
// (no blob: or eval). It instantiates the kernels module over the shared memory, then takes jobs
// in a loop; see kernels/wasm/control.ts for the protocol (the word indices below must match CTL).
const GEN = 0, KIND = 1, DESC = 2, JOB0 = 3, TOTAL = 4, NEXT = 5, DONE = 6, ERROR = 7, READY = 8, ERROR_LEN = 9;
const ERROR_TEXT = 256, ERROR_TEXT_BYTES = 768;

/**
 * @param {{ module: WebAssembly.Module, memory: WebAssembly.Memory, id: number, scratch: number, kernels: string[] }} init
 * @param {(message: string) => void} tell sends a message to the creating thread (its event loop)
 */
function serve(init, tell) {
  const { module, memory, id, scratch, kernels } = init;
  const ctl = new Int32Array(memory.buffer, 0, 64);
  let fns;
  try {
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    fns = kernels.map((name) => instance.exports[name]);
  } catch (e) {
    // Not counted as ready: the calling thread and the other workers take every job.
    tell(`cpu worker ${id} could not start: ${e && e.message}`);
    return;
  }
  Atomics.add(ctl, READY, 1);
  let seen = 0;
  for (;;) {
    Atomics.wait(ctl, GEN, seen);
    const g = Atomics.load(ctl, GEN);
    if (g & 1) continue; // being written: wait for the even value
    const kind = Atomics.load(ctl, KIND), desc = Atomics.load(ctl, DESC), job0 = Atomics.load(ctl, JOB0), total = Atomics.load(ctl, TOTAL);
    if (Atomics.load(ctl, GEN) !== g) continue;
    seen = g;
    if (kind < 0) return; // shutdown
    const tag = (g >>> 1) & 0xffff;
    const fn = fns[kind];
    for (;;) {
      const cur = Atomics.load(ctl, NEXT);
      const ticket = cur & 0x7fff;
      if (cur >>> 15 !== tag || ticket >= total) break;
      if (Atomics.compareExchange(ctl, NEXT, cur, cur + 1) !== cur) continue;
      try {
        fn(desc, job0 + ticket, scratch);
      } catch (e) {
        report(memory, ctl, `cpu worker ${id}: ${kernels[kind]} job ${job0 + ticket} failed: ${e && e.message}`);
      }
      if (Atomics.add(ctl, DONE, 1) + 1 === total) Atomics.notify(ctl, DONE);
    }
  }
}

function report(memory, ctl, message) {
  if (Atomics.compareExchange(ctl, ERROR, 0, 1) !== 0) return;
  const bytes = new TextEncoder().encode(message).subarray(0, ERROR_TEXT_BYTES);
  new Uint8Array(memory.buffer, ERROR_TEXT, bytes.length).set(bytes);
  Atomics.store(ctl, ERROR_LEN, bytes.length);
}

if (typeof WorkerGlobalScope !== 'undefined' || typeof importScripts === 'function') {
  self.onmessage = (e) => serve(e.data, (m) => self.postMessage(m));
} else {
  const { parentPort } = await import('node:worker_threads');
  parentPort.once('message', (init) => {
    parentPort.unref();
    serve(init, (m) => parentPort.postMessage(m));
  });
}
