/**
 * Every input the fuzzer once broke an invariant with (test/fuzz/crashes/<target>/, described
 * in crashes/README.md) runs through its target again under the same invariants.
 */
import { describe, expect, it } from 'vitest';
import { TARGETS, check, countAllocations, crashInputs } from './harness.js';

countAllocations();

const cases = Object.values(TARGETS).flatMap((t) => crashInputs(t.name).map((c) => ({ target: t, ...c })));

describe('fuzz regressions', () => {
  it('has committed inputs', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  it.each(cases.map((c) => [`${c.target.name}/${c.name}`, c] as const))('%s keeps the invariants', async (_, c) => {
    const o = await check(c.target, c.bytes);
    expect(o.violation?.message).toBeUndefined();
  });
});
