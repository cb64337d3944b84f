/**
 * docs/neural-tangents-migration.md: every ```ts block under the sections this file owns
 * (Kernel functions, Empirical kernels, Predictors, Transforms) runs as written and prints what
 * its `// prints:` comments say, with the package imports pointed at the sources (the README's
 * doc-test convention, test/docs/readme.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const SECTIONS = ['Kernel functions', 'Empirical kernels', 'Predictors', 'Transforms'];
const SUBPATHS: Record<string, string> = { tangentgrad: 'index.ts', 'tangentgrad/models': 'models/index.ts', 'tangentgrad/linearize': 'linearize/index.ts' };

/** The ts blocks of the owned sections, with their section and line. */
function blocks(markdown: string): { section: string; line: number; code: string }[] {
  const lines = markdown.split('\n');
  const out: { section: string; line: number; code: string }[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.*)$/.exec(lines[i]);
    if (heading) section = heading[1].trim();
    if (!/^```ts\s*$/.test(lines[i])) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    if (SECTIONS.includes(section)) out.push({ section, line: i + 1, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return out;
}

const doc = readFileSync(path.join(repoRoot, 'docs/neural-tangents-migration.md'), 'utf8');
const found = blocks(doc);
const work = mkdtempSync(path.join(repoRoot, 'test/docs/.migration-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('docs/neural-tangents-migration.md', () => {
  it('has one runnable example per owned section', () => {
    expect(found.map((b) => b.section)).toEqual(SECTIONS);
  });

  for (const block of found) {
    it(`${block.section} (line ${block.line}) runs and prints what it says`, () => {
      const code = block.code.replace(/(from\s+)(['"])(tangentgrad(?:\/\w+)?)\2/g, (_all, pre: string, q: string, spec: string) => {
        const target = SUBPATHS[spec];
        if (!target) throw new Error(`migration doc imports '${spec}', not an entry point it may use`);
        return `${pre}${q}${path.relative(work, path.join(repoRoot, target)).split(path.sep).join('/')}${q}`;
      });
      const file = path.join(work, `block-${block.line}.mts`);
      writeFileSync(file, code);
      const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: repoRoot, encoding: 'utf8', timeout: 90_000 });
      expect(r.status === 0 ? '' : r.stderr).toBe('');
      const lines = r.stdout.split('\n').map((l) => l.trimEnd());
      if (lines[lines.length - 1] === '') lines.pop();
      expect(lines).toEqual([...block.code.matchAll(/\/\/ prints: ?(.*)$/gm)].map((m) => m[1].trimEnd()));
    });
  }
});
