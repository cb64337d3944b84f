/**
 * docs/neural-tangents-migration.md, section "## Layers": every ```ts block runs as written and
 * prints what its `// prints:` comments say (the README conventions, test/docs/code-blocks.ts);
 * and every tangentgrad layer name the section's tables give exists in the models namespace.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as models from '../../models/index.ts';
import { codeBlocks, expectedOutput, runBlock } from './code-blocks.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const doc = readFileSync(path.join(repoRoot, 'docs/neural-tangents-migration.md'), 'utf8');

/** The text of one '## ' section (up to the next '## ' heading). */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no section '## ${heading}'`);
  const next = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, next < 0 ? undefined : next);
}

const layers = section(doc, 'Layers');
const work = mkdtempSync(path.join(repoRoot, 'test/docs/.migration-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('docs/neural-tangents-migration.md: Layers', () => {
  const blocks = codeBlocks(layers);
  it('has a runnable example per layer group', () => {
    expect(blocks.filter((b) => !b.noRun).length).toBeGreaterThanOrEqual(3);
  });

  for (const block of blocks.filter((b) => !b.noRun)) {
    it(`block at section line ${block.line} runs and prints what it says`, () => {
      const r = runBlock(block, work, `layers-${block.line}`);
      expect(r.stderr === '' || r.status === 0 ? '' : r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.lines).toEqual(expectedOutput(block.code));
    });
  }

  it('every layer named in the tables exists', () => {
    // The tangentgrad column: the second cell of each table row; names are the identifiers called there.
    const rows = layers.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---') && !l.startsWith('| stax'));
    const names = new Set<string>();
    for (const row of rows) {
      const cell = row.split(' | ')[1] ?? '';
      // (`apply(...)` is the layer method, not a layer.)
      for (const m of cell.matchAll(/`([A-Za-z]\w*)\(/g)) if (m[1] !== 'apply') names.add(m[1]);
    }
    expect(names.size).toBeGreaterThan(25);
    const ns = models as unknown as Record<string, unknown>;
    const missing = [...names].filter((n) => typeof ns[n] !== 'function');
    expect(missing).toEqual([]);
  });
});
