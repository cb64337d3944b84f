/**
 * numpy (OpenBLAS, or whatever BLAS it was built with) as the reference for the machine's
 * practical matmul limit: a python3 subprocess reads the same inputs from temporary files, warms
 * up, times `a @ b` itself (perf_counter, median of the repeats) and prints the median with sampled
 * entries of the product, which are checked like every other peer's. Available where
 * `python3 -c 'import numpy'` works. Timings are not interleaved with ours (another process):
 * the bench runs this right after our timings of the same case.
 *
 * OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset in the subprocess only: a value set for another
 * machine would pin the wrong kernels.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = `
import sys, time, json
import numpy as np
a_path, b_path, n, dtype, repeats, idx = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), json.loads(sys.argv[6])
a = np.fromfile(a_path, dtype=dtype).reshape(n, n)
b = np.fromfile(b_path, dtype=dtype).reshape(n, n)
for _ in range(2):
    c = a @ b
times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    c = a @ b
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
m = len(times) // 2
median = times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2
flat = c.reshape(-1)
print(json.dumps({"ms": median, "values": [float(flat[i]) for i in idx], "config": np.__version__}))
`;

let available: boolean | undefined;

/** Whether python3 with numpy runs here (checked once). */
export function numpyAvailable(): boolean {
  if (available === undefined) {
    try {
      execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore', env: numpyEnv(), timeout: 30_000 });
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

function numpyEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** Median ms of an n x n x n matmul in numpy, and the product's entries at `idx`. */
export function numpyMatmul(a: Float32Array | Float64Array, b: Float32Array | Float64Array, n: number, repeats: number, idx: number[]): { ms: number; values: number[] } {
  const dir = mkdtempSync(join(tmpdir(), 'tg-numpy-'));
  try {
    const aPath = join(dir, 'a.bin'), bPath = join(dir, 'b.bin');
    writeFileSync(aPath, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    writeFileSync(bPath, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    const dtype = a instanceof Float64Array ? 'float64' : 'float32';
    const out = execFileSync('python3', ['-c', SCRIPT, aPath, bPath, String(n), dtype, String(repeats), JSON.stringify(idx)], {
      encoding: 'utf8', env: numpyEnv(), timeout: 600_000, maxBuffer: 1 << 24,
    });
    return JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number; values: number[] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
