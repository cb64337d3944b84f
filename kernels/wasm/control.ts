/**
 * The shared control block at the start of the kernels' memory: how the calling thread hands a
 * batch of jobs to the worker threads and learns that they are done. Worker-side code
 * (worker.js, plain JavaScript so that it runs unbundled in Node, Deno and browsers) uses the same
 * word indices; keep the two in step.
 *
 * Protocol (all words Int32, accessed with Atomics):
 * - GEN is a sequence lock: the caller makes it odd, writes KIND/DESC/JOB0/TOTAL and resets NEXT
 *   and DONE, then makes it even and notifies. A worker reads GEN (even), the fields, then GEN
 *   again, and retries if it changed.
 * - NEXT = (tag << 15) | ticket with tag = (GEN / 2) mod 2^16: a worker takes a ticket by
 *   compare-and-swap only while the tag is its own and ticket < TOTAL, so a worker that read an
 *   old batch and was descheduled cannot take a job of a newer one.
 * - Each finished job adds 1 to DONE; the caller, having taken jobs itself until none are left,
 *   waits until DONE = TOTAL. A failed job sets ERROR and writes its message at ERROR_TEXT.
 */
export const CTL = {
  GEN: 0, KIND: 1, DESC: 2, JOB0: 3, TOTAL: 4, NEXT: 5, DONE: 6, ERROR: 7, READY: 8, ERROR_LEN: 9,
} as const;

/** Byte offsets in the kernels' memory. */
export const LAYOUT = {
  /** The control words above. */
  control: 0,
  /** UTF-8 text of the first worker error. */
  errorText: 256,
  errorTextBytes: 768,
  /** Job descriptors (the calling thread writes one per batch). */
  desc: 1024,
  /** Per-thread scratch starts here (64 KiB aligned). */
  scratch: 65536,
} as const;

/** Most jobs in one batch: the ticket field of NEXT has 15 bits. */
export const MAX_BATCH = 0x7fff;

/** Kernel kinds a batch can name (index into KERNEL_EXPORTS). */
export const KERNEL_EXPORTS = ['gemm_f32', 'gemm_f64', 'im2col', 'binary_f32', 'binary_f64', 'where_f32', 'where_f64', 'colsum_f32', 'colsum_f64'] as const;
export type KernelName = (typeof KERNEL_EXPORTS)[number];
