/**
 * Checks an output folder before any work starts, so a bad `--out` fails at once with one clear
 * line instead of after a long study with a raw EACCES/EEXIST: an existing path must be a writable
 * folder; a missing one is created (with its missing parents) right away.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')}` : String(e);
}

/**
 * Makes sure `out` is a writable folder (creating it if needed) and returns its absolute path;
 * errors name the flag and the path.
 *
 * @example prepareOutDir('out/gp', '--out'); // creates out/gp, or throws "--out 'out/gp': ..."
 */
export function prepareOutDir(out: string, flag = '--out'): string {
  const abs = path.resolve(out);
  const fail = (why: string): never => {
    throw new Error(`${flag} '${out}': ${why}`);
  };
  let isDir: boolean | undefined;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') fail('cannot be created: a parent is a file');
    if (code !== 'ENOENT') fail(`cannot be read (${reason(e)})`);
  }
  if (isDir === false) fail('is a file, not a folder');
  if (isDir === undefined) {
    try {
      mkdirSync(abs, { recursive: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      fail(code === 'ENOTDIR' || code === 'EEXIST' ? 'cannot be created: a parent is a file' : `cannot be created (${reason(e)})`);
    }
  }
  // Permission bits do not tell the whole story (read-only mounts, ACLs): write a probe file.
  const probe = path.join(abs, `.tangentgrad-write-test-${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(probe, '');
  } catch (e) {
    fail(`is not writable (${reason(e)})`);
  } finally {
    rmSync(probe, { force: true });
  }
  return abs;
}
