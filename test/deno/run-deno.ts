/**
 * Runs a Deno entry file with the npm-installed deno binary and parses the JSON
 * it prints last on stdout. Reusable by every Deno-side test.
 *
 * @example
 *   const { json } = await runDeno('test/deno/smoke-entry.ts');
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DENO_BIN = join(ROOT, 'node_modules', '.bin', 'deno');

export interface DenoRun {
  json: unknown;
  stdout: string;
  stderr: string;
}

/** Null when the binary is usable, else why not (for the skip/fail policy). */
export function denoMissing(): string | null {
  return existsSync(DENO_BIN) ? null : `${DENO_BIN} not found: run \`npm install\` (deno is a devDependency)`;
}

export function runDeno(entry: string, args: string[] = [], timeoutMs = 60_000): Promise<DenoRun> {
  const file = resolve(ROOT, entry);
  return new Promise((resolvePromise, reject) => {
    execFile(
      DENO_BIN,
      ['run', '--allow-read', '--allow-env', file, ...args],
      {
        cwd: ROOT,
        timeout: timeoutMs,
        maxBuffer: 64 * 2 ** 20,
        // No update check and no permission prompts: tests must not touch the network or block.
        env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1', NO_COLOR: '1' },
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`deno ${entry} failed (${error.message.split('\n')[0]}):\n${stderr}`));
          return;
        }
        const last = stdout.trim().split('\n').pop() ?? '';
        try {
          resolvePromise({ json: JSON.parse(last), stdout, stderr });
        } catch {
          reject(new Error(`deno ${entry}: last stdout line is not JSON: ${last}\nstderr:\n${stderr}`));
        }
      },
    );
  });
}
