/**
 * The documented commands (README's kernel section, scale/deploy/*) use actions and flags the CLI
 * has: each `tangentgrad kernel <action> ...` found there is parsed by the CLI's own flag parser.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { parseFlags } from '../../cli/args.ts';
import { ACTIONS } from '../../cli/kernel-command.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const FILES = ['README.md', 'scale/deploy/docker-compose.yml', 'scale/deploy/kernel-indexed-job.yaml', 'scale/deploy/slurm-array.sh'];

/** The commands of a text: JSON-array commands flattened, shell comments and brackets dropped. */
function kernelCommands(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s#.*$/, '').replace(/["[\],]/g, ' ');
    for (const m of line.matchAll(/tangentgrad kernel (.*?)(?:&&|\)|$)/g)) out.push(m[1].trim().split(/\s+/));
  }
  return out;
}

it('every documented kernel command parses', () => {
  let count = 0;
  for (const file of FILES) {
    const commands = kernelCommands(readFileSync(`${repoRoot}/${file}`, 'utf8'));
    expect(commands.length, file).toBeGreaterThan(0);
    for (const [action, ...args] of commands) {
      if (action.startsWith('<')) continue; // usage lines: tangentgrad kernel <action>
      expect(ACTIONS[action], `${file}: tangentgrad kernel ${action}`).toBeDefined();
      expect(() => parseFlags(`kernel ${action}`, args, ACTIONS[action].flags), `${file}: ${action} ${args.join(' ')}`).not.toThrow();
      count++;
    }
  }
  expect(count).toBeGreaterThanOrEqual(14);
});
