// Browser entry for the WebGPU smoke test (run by test/browser/harness.ts):
// acquires navigator.gpu's device, runs y = 2x + 1, returns a SmokeReport.
import { smokeReport, type SmokeReport } from '../test/webgpu/smoke-kernel.ts';

export default function smoke(): Promise<SmokeReport> {
  return smokeReport();
}
