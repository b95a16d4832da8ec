/**
 * The short fuzz run for CI: each target gets a time budget (FUZZ_SECONDS, default 12 s per
 * target, about a minute in all) of mutated fixtures, and every input must keep the
 * invariants of `harness.ts`. The unmutated seeds are checked first. A failure prints the
 * path of the failing input (saved under the system's temp directory) so it can be committed
 * under crashes/<target>/.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TARGETS, check, checkConfirmed, countAllocations, inputs, ociConversions } from './harness.js';

countAllocations();
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 12);

function save(target: string, input: Uint8Array): string {
  const dir = join(tmpdir(), 'erofs-kit-fuzz', target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, createHash('sha256').update(input).digest('hex').slice(0, 16));
  writeFileSync(file, input);
  return `${file} (${input.length} bytes)`;
}

describe.each(Object.values(TARGETS))('fuzz $name', (target) => {
  it('keeps the invariants on every seed', async () => {
    const seeds = target.seeds();
    expect(seeds.length).toBeGreaterThan(0);
    for (const seed of seeds) {
      const o = await check(target, seed);
      if (process.env.FUZZ_VERBOSE) console.log(target.name, seed.length, Math.round(o.ms), o.allocated);
      expect(o.violation?.message).toBeUndefined();
    }
  });

  it(`keeps the invariants on mutated seeds for ${SECONDS} s`, async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(inputs(target), async (input) => {
        runs++;
        const o = await checkConfirmed(target, input);
        if (o.violation) throw new Error(`${o.violation.kind}: ${o.violation.message.slice(0, 2000)}\ninput: ${save(target.name, input)}`);
      }),
      { numRuns: 1_000_000, interruptAfterTimeLimit: SECONDS * 1000, markInterruptAsFailure: false, endOnFailure: true, reporter: (r) => { if (r.failed) throw new Error(`after ${r.numRuns} runs (seed ${r.seed}): ${(r.errorInstance as Error | undefined)?.message ?? ''}`); } },
    );
    if (process.env.FUZZ_VERBOSE) console.log(target.name, 'runs', runs, target.name === 'oci-layout' ? `conversions ${ociConversions.count}` : '');
    expect(runs).toBeGreaterThan(0);
  }, (SECONDS + 60) * 1000);
});

describe('fuzz oci-layout seeds', () => {
  it('are valid images (an OCI layout with gzip layers, one with a nested index and plain layers, a docker-archive) that convert', async () => {
    const { readOci } = await import('../../src/oci/layout.js');
    const { tarFiles } = await import('../../src/oci/files.js');
    const { MemorySource } = await import('../../src/io/source.js');
    const kinds: string[] = [];
    for (const seed of TARGETS['oci-layout']!.seeds()) {
      const r = await readOci(await tarFiles(new MemorySource(seed)), { checkLayers: true });
      expect(r.problems).toEqual([]);
      expect(r.images[0]?.layers.map((l) => l.checked?.diffId === l.diffId)).toEqual([true, true]);
      kinds.push(r.kind);
    }
    expect(kinds).toEqual(['oci-layout', 'oci-layout', 'docker-archive']);
  });
});
