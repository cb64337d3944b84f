/**
 * docs/neural-tangents-migration.md: every ```ts block of every section runs as written and prints
 * what its `// prints:` comments say (the README conventions, test/docs/code-blocks.ts); each
 * section has at least one runnable example; and every tangentgrad layer name the Layers tables
 * give exists in the models namespace.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as models from '../../models/index.ts';
import { codeBlocks, expectedOutput, runBlock } from './code-blocks.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const doc = readFileSync(path.join(repoRoot, 'docs/neural-tangents-migration.md'), 'utf8');
const SECTIONS = ['Layers', 'Kernel functions', 'Empirical kernels', 'Predictors', 'Transforms'];

/** The text of one '## ' section (up to the next '## ' heading). */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no section '## ${heading}'`);
  const next = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, next < 0 ? undefined : next);
}

const work = mkdtempSync(path.join(repoRoot, 'test/docs/.migration-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(SECTIONS)('docs/neural-tangents-migration.md: %s', (heading) => {
  const text = section(doc, heading);
  const runnable = codeBlocks(text).filter((b) => !b.noRun);

  it('has a runnable example', () => {
    expect(runnable.length).toBeGreaterThanOrEqual(1);
  });

  for (const block of runnable) {
    it(`block at section line ${block.line} runs and prints what it says`, () => {
      const r = runBlock(block, work, `${heading.replace(/\W+/g, '-')}-${block.line}`);
      expect(r.status === 0 ? '' : r.stderr).toBe('');
      expect(r.lines).toEqual(expectedOutput(block.code));
    });
  }
});

describe('docs/neural-tangents-migration.md: the Layers tables', () => {
  it('name only layers that exist', () => {
    // The tangentgrad column: the second cell of each table row; names are the identifiers called there.
    const rows = section(doc, 'Layers').split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---') && !l.startsWith('| stax'));
    const names = new Set<string>();
    for (const row of rows) {
      const cell = row.split(' | ')[1] ?? '';
      // (`apply(...)` is the layer method, not a layer.)
      for (const m of cell.matchAll(/`([A-Za-z]\w*)\(/g)) if (m[1] !== 'apply') names.add(m[1]);
    }
    expect(names.size).toBeGreaterThan(25);
    const ns = models as unknown as Record<string, unknown>;
    expect([...names].filter((n) => typeof ns[n] !== 'function')).toEqual([]);
  });
});
