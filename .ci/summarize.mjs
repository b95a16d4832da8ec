// Prints one closing line for the whole CI run: the vitest summaries of every package
// (turbo's `npm test` output) plus the VS Code end-to-end result, summed.
import { readFileSync } from 'node:fs';

const totals = { passed: 0, failed: 0, skipped: 0 };
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
  for (const line of text.split('\n')) {
    const vitest = /\bTests\s+(.*)\(\d+\)\s*$/.exec(line);
    const e2e = /\be2e: (\d+) passed, (\d+) failed/.exec(line);
    const part = vitest ? vitest[1] : e2e ? `${e2e[1]} passed | ${e2e[2]} failed` : undefined;
    if (!part) continue;
    for (const [, n, kind] of part.matchAll(/(\d+) (passed|failed|skipped)/g)) totals[kind] += Number(n);
  }
}
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
