/**
 * The policy for tests that need a WebGPU adapter (Node, Deno or browser):
 * - adapter present: the tests run;
 * - no adapter and CI set: the suite FAILS with the provisioning instructions
 *   (CI must never go green by skipping the GPU path);
 * - no adapter locally: the suite is skipped, loudly (console.warn).
 *
 * @example
 *   import { describeGpu } from './gpu-available.ts';
 *   await describeGpu('matmul on WebGPU', (gpu) => {
 *     it('multiplies', async () => { const { device } = await acquireDevice(); ... });
 *   });
 */
import { afterAll, describe, it } from 'vitest';
import { acquireDevice, PROVISION_HINT, releaseDevice } from '../../kernels/webgpu/device.ts';

export interface Availability {
  available: boolean;
  /** Adapter description when available; why not, otherwise. */
  detail: string;
}

/** CI=true (or any value but '', '0', 'false') makes missing adapters an error. */
export const inCI = ((v) => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false')(
  process.env.CI,
);

let nodeProbe: Promise<Availability> | null = null;

/**
 * Whether this Node process gets a WebGPU adapter (Dawn). Cached; the shared
 * device it acquires is released by describeGpu's afterAll.
 */
export function probeGpu(): Promise<Availability> {
  nodeProbe ??= acquireDevice().then(
    (d) => ({ available: true, detail: d.adapterInfo }),
    (e: Error) => ({ available: false, detail: e.message }),
  );
  return nodeProbe;
}

/**
 * Applies the policy above to any availability check (Node, Deno, browser):
 * runs `fn` inside describe(name) when available, otherwise fails or skips.
 */
export function describeIfAvailable(
  name: string,
  availability: Availability,
  fn: (availability: Availability) => void,
): void {
  if (availability.available) {
    describe(name, () => fn(availability));
    return;
  }
  // Most details already carry the provisioning hint (acquireDevice's error does).
  const hint = availability.detail.includes(PROVISION_HINT) ? '' : `\n${PROVISION_HINT}`;
  const message = `${name}: ${availability.detail}${hint}`;
  if (inCI) {
    describe(name, () => {
      it('has a WebGPU adapter (CI requires one)', () => {
        throw new Error(message);
      });
    });
    return;
  }
  console.warn(`\n!!! SKIPPING ${message.replace(/\n/g, '\n!!! ')}\n!!! (With CI set, this is a failure, not a skip.)\n`);
  describe.skip(name, () => fn(availability));
}

/**
 * describe() for Node tests that use the WebGPU device: probes once, applies the
 * policy, and releases the shared device after the suite so the worker can exit.
 */
export async function describeGpu(name: string, fn: (availability: Availability) => void): Promise<void> {
  const availability = await probeGpu();
  describeIfAvailable(name, availability, (a) => {
    afterAll(async () => {
      await releaseDevice();
      nodeProbe = null;
    });
    fn(a);
  });
}
