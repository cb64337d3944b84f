/**
 * Helper process of the atomic-report test: rewrites the report pair in a loop, each version's
 * JSON and HTML carrying the same number, until it is killed. Prints "ready" after the first pair.
 */
import { writeReport } from '../../cli/report.ts';

const out = process.argv[2];
for (let version = 0; ; version++) {
  await writeReport(out, { version }, { title: `version ${version}`, summary: [['version', String(version)]], plots: [] });
  if (version === 0) process.stdout.write('ready\n');
}
