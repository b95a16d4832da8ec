import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { formatXxd } from '../src/hexdump/format.js';
import { HexDump as HexDumpClass, isHexdump, parseHexdump, xxdRunsInWasm, type HexDump } from '../src/hexdump/parse.js';
import { bytesOf } from './fixtures.js';

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Every byte maps to a text range holding its two hex digits, and that range maps back. */
function mappingProblem(d: HexDump, text: string): string | undefined {
  const lines = text.split('\n');
  for (const seg of d.map.segments) {
    for (let i = 0; i < seg.bytes.length; i++) {
      const off = seg.offset + i;
      const r = d.rangeOfByte(off);
      if (!r) return `byte ${off} has no range`;
      const line = lines[r.line]!;
      if (line.trim() === '*') continue;
      if (parseInt(line.slice(r.start, r.end), 16) !== seg.bytes[i]) return `byte ${off}: text ${line.slice(r.start, r.end)} is not ${seg.bytes[i]}`;
      if (d.offsetAt(r.line, r.start) !== off || d.offsetAt(r.line, r.end - 1) !== off) return `byte ${off}: its range maps back to ${d.offsetAt(r.line, r.start)}`;
      const a = d.asciiOfByte(off);
      if (a) {
        if (d.offsetAt(a.line, a.start) !== off) return `ascii of byte ${off} maps back to ${d.offsetAt(a.line, a.start)}`;
        const b = seg.bytes[i]!;
        if (line[a.start] !== (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')) return `ascii of byte ${off} is ${line[a.start]}`;
      }
    }
  }
  return undefined;
}

function checkMapping(d: HexDump, text: string): void {
  expect(mappingProblem(d, text)).toBeUndefined();
}

const image = bytesOf('basic-4k.erofs');

describe('xxd writer', () => {
  // xxd 2022-01-14 output for these bytes with these options (checked against the real tool below when present).
  it('writes the default layout with image offsets', () => {
    const b = image.subarray(1024, 1024 + 20);
    expect(formatXxd(b, 1024)).toBe(
      '00000400: e2e1 f5e0 5022 d26d 0700 0000 0c00 2a00  ....P".m......*.\n' +
      '00000410: 7a00 0000                                z...\n',
    );
    expect(formatXxd(b, 1024, { group: 1, cols: 8 })).toBe(
      '00000400: e2 e1 f5 e0 50 22 d2 6d  ....P".m\n' + '00000408: 07 00 00 00 0c 00 2a 00  ......*.\n' + '00000410: 7a 00 00 00              z...\n',
    );
  });

  it.skipIf(!has('xxd'))('matches xxd byte for byte', () => {
    const b = image.subarray(1000, 1300);
    const cases: [string[], { cols?: number; group?: number }][] = [
      [[], {}],
      [['-g1'], { group: 1 }],
      [['-c', '12'], { cols: 12 }],
      [['-c', '12', '-g1'], { cols: 12, group: 1 }],
      [['-g4', '-c', '32'], { cols: 32, group: 4 }],
    ];
    for (const [args, o] of cases) {
      expect(formatXxd(b, 1000, o)).toBe(execFileSync('xxd', [...args, '-o', '1000'], { input: b }).toString());
    }
  });
});

describe('parser', () => {
  const head = image.subarray(0, 9000);

  it('reads back what the writer wrote, in every layout', () => {
    for (const o of [{}, { group: 1 }, { cols: 12 }, { cols: 32, group: 4 }, { autoskip: true }, { cols: 7, group: 3 }]) {
      const text = formatXxd(head, 0, o);
      const d = parseHexdump(text);
      expect(d.format).toBe('xxd');
      expect(d.problems).toEqual([]);
      expect(d.map.segments).toHaveLength(1);
      expect(Buffer.from(d.map.segments[0]!.bytes).equals(Buffer.from(head))).toBe(true);
      checkMapping(d, text);
    }
  });

  it('reads hexdump -C with * lines and the closing offset line', () => {
    const text = [
      '00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|',
      '*',
      '00000400  e2 e1 f5 e0 50 22 d2 6d  07 00 00 00 0c 00 2a 00  |....P".m......*.|',
      '00000410  7a 00 00                                          |z..|',
      '00000413',
    ].join('\n');
    const d = parseHexdump(text);
    expect(d.format).toBe('hexdump-C');
    expect(d.map.segments.map((s) => [s.offset, s.bytes.length])).toEqual([[0, 0x413]]);
    expect(d.map.u32(0x400)).toBe(0xe0f5e1e2);
    expect(d.rangeOfByte(0x100)).toEqual({ line: 1, start: 0, end: 1 });
    expect(d.rangeOfByte(0x401)).toEqual({ line: 2, start: 13, end: 15 });
    expect(d.rangeOfByte(0x408)).toEqual({ line: 2, start: 35, end: 37 });
    expect(d.rangesOf(0x406, 0x412)).toEqual([
      { line: 2, start: 28, end: 58 },
      { line: 3, start: 10, end: 15 },
    ]);
    checkMapping(d, text);
  });

  it('reads od -A x -t x1z', () => {
    const text = '000400 e2 e1 f5 e0 50 22 d2 6d 07 00 00 00 0c 00 2a 00  >....P".m......*.<\n000410 7a 00  >z.<\n000412\n';
    const d = parseHexdump(text);
    expect(d.format).toBe('od');
    expect(d.map.segments.map((s) => [s.offset, s.bytes.length])).toEqual([[0x400, 18]]);
    checkMapping(d, text);
  });

  it.skipIf(!has('hexdump') || !has('od') || !has('xxd'))('reads the real tools\' output', () => {
    for (const [cmd, args, fmt] of [
      ['hexdump', ['-C'], 'hexdump-C'],
      ['od', ['-A', 'x', '-t', 'x1z'], 'od'],
      ['xxd', ['-a'], 'xxd'],
      ['xxd', ['-s', '1024', '-l', '128'], 'xxd'],
    ] as const) {
      const text = execFileSync(cmd, [...args], { input: head }).toString();
      const d = parseHexdump(text);
      expect(d.format).toBe(fmt);
      expect(d.problems).toEqual([]);
      const s = d.map.segments[0]!;
      expect(Buffer.from(s.bytes).equals(Buffer.from(head.subarray(s.offset, s.offset + s.bytes.length)))).toBe(true);
      checkMapping(d, text);
    }
  });

  it('collects hint lines and reports lines it does not understand', () => {
    const text = '# erofs: blksz=4096 meta_blkaddr=0 bogus=1\n00000480: 0400 0000 zz00\nhello world\n';
    const d = parseHexdump(text);
    expect(d.hint.blkszbits).toBe(12);
    expect(d.problems.map((p) => [p.line, p.start, p.end])).toEqual([
      [0, 35, 42],
      [1, 20, 24],
      [2, 0, 11],
    ]);
    expect(d.problems[1]!.message).toBe('"zz00" is not hex');
    expect(d.map.segments.map((s) => [s.offset, s.bytes.length])).toEqual([[0x480, 4]]);
  });

  it('detects dumps by content', () => {
    expect(isHexdump(formatXxd(head.subarray(0, 64)))).toBe(true);
    expect(isHexdump('00000000  00 01 02  |...|\n')).toBe(true);
    expect(isHexdump('000000 00 01 02  >...<\n')).toBe(true);
    expect(isHexdump('{"schemaVersion": 2}\n')).toBe(false);
    expect(isHexdump('/ 4096 40755 2 0 0 0 0.0 - - -\n')).toBe(false);
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (t) => {
        const d = parseHexdump(t);
        for (const s of d.map.segments) for (let i = 0; i < s.bytes.length; i++) expect(d.rangeOfByte(s.offset + i)).toBeDefined();
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 1 << 20 }), fc.array(fc.nat(), { maxLength: 5 }), (b, off, cuts) => {
        let text = formatXxd(b, off);
        for (const c of cuts) if (text.length) text = text.slice(0, c % text.length) + 'Z' + text.slice((c % text.length) + 1);
        parseHexdump(text);
      }),
      { numRuns: 300 },
    );
  });

  it('the fast path (lines shaped like the one before, read by position) agrees with the tokenizer on edited dumps', () => {
    const view = (d: HexDump, text: string) => {
      const out: unknown[] = [d.format, d.problems, d.lineCount, d.recordCount];
      for (const s of d.map.segments) out.push(s.offset, [...s.bytes]);
      for (const s of d.map.segments) for (let i = 0; i < s.bytes.length; i++) out.push(d.rangeOfByte(s.offset + i));
      for (let l = 0; l < d.lineCount; l++) for (let c = 0; c < 80; c += 3) out.push(d.offsetAt(l, c));
      return JSON.stringify(out) + text.length;
    };
    const EDITS = ['g', '\t', ' ', 'A', 'f', '  ', '', ':', '*'];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.constantFrom(0, 2, 4), fc.array(fc.record({ at: fc.nat(), edit: fc.constantFrom(...EDITS) }), { maxLength: 4 }), (b, group, edits) => {
        let text = group === 0 ? formatXxd(b) : formatXxd(b).replace(/^([0-9a-f]+: )((?:[0-9a-f]{4} ?)+)/gm, (_m, o: string, hexs: string) => o + hexs.replace(/ /g, '').replace(new RegExp(`(.{${group * 2}})`, 'g'), '$1 ').padEnd(hexs.length, ' '));
        for (const e of edits) if (text.length) text = text.slice(0, e.at % text.length) + e.edit + text.slice((e.at % text.length) + 1);
        const slow = view(new HexDumpClass(text, undefined, false), text);
        expect(view(new HexDumpClass(text, undefined, 'js'), text)).toBe(slow);
        expect(view(new HexDumpClass(text, undefined, 'wasm'), text)).toBe(slow);
      }),
      { numRuns: 500 },
    );
    // upper-case xxd (-u) and -c 8 widths take the fast path too
    const b = bytesOf('basic-4k.erofs').subarray(0, 4096);
    for (const text of [formatXxd(b).toUpperCase().replace(/^([0-9A-F]+): /gm, (_m, o: string) => `${o.toLowerCase()}: `), formatXxd(b)]) {
      const slow = view(new HexDumpClass(text, undefined, false), text);
      for (const mode of ['js', 'wasm', true] as const) {
        const d = new HexDumpClass(text, undefined, mode);
        expect(view(d, text)).toBe(slow);
        expect(d.runLines).toBeGreaterThan(d.lineCount - 10);
      }
    }
  });
});

describe('the WebAssembly run reader', () => {
  it('runs in Node, and reads a dump longer than one call\'s output exactly as the per-line path', () => {
    expect(xxdRunsInWasm()).toBe(true);
    // 1.25 MiB of bytes: more than one call writes, so the run is read in several calls;
    // a CRLF copy, and one with a bad digit and an offset jump in the middle.
    const b = new Uint8Array(1.25 * (1 << 20));
    for (let i = 0; i < b.length; i++) b[i] = (i * 2654435761) >>> 24;
    const lf = formatXxd(b, 0x40000);
    const edited = lf.replace('00140020:', '00140030:').replace(/^(00160010: )./m, '$1g');
    for (const text of [lf, lf.replace(/\n/g, '\r\n'), edited]) {
      const slow = new HexDumpClass(text, undefined, false);
      const fast = new HexDumpClass(text, undefined, 'wasm');
      // the run reader, not the per-line path, read nearly every line
      expect(slow.runLines).toBe(0);
      expect(fast.runLines).toBeGreaterThan(fast.lineCount - 10);
      expect(new HexDumpClass(text, undefined, 'js').runLines).toBe(fast.runLines);
      expect(fast.map.segments.map((s) => [s.offset, s.bytes.length])).toEqual(slow.map.segments.map((s) => [s.offset, s.bytes.length]));
      for (let k = 0; k < slow.map.segments.length; k++) expect(Buffer.compare(fast.map.segments[k]!.bytes, slow.map.segments[k]!.bytes)).toBe(0);
      expect(fast.problems).toEqual(slow.problems);
      expect(fast.lineCount).toBe(slow.lineCount);
      for (const line of [0, 1, 4095, 65536, 65537, 70000, slow.lineCount - 1]) for (const col of [0, 10, 12, 45, 52, 60]) expect(fast.offsetAt(line, col)).toBe(slow.offsetAt(line, col));
      for (const off of [0x40000, 0x40000 + 0x100000 - 1, 0x40000 + 0x100000, 0x140025, 0x160011]) expect(fast.rangeOfByte(off)).toEqual(slow.rangeOfByte(off));
    }
    expect(new HexDumpClass(edited, undefined, false).problems.length).toBeGreaterThan(0);
  });
});

describe('offsets that go back', () => {
  it('every byte the map holds has its place in the text, from the record the map took it from', () => {
    // a `*` line repeats 0x00-0x0f up to 0x50; then lines go back to 0x20 and 0x30, whose
    // bytes lose to the repeat (earlier bytes win). Sorted by start, the records' ends are
    // 0x10, 0x50, 0x30, 0x40, 0x60: not monotonic.
    const text = [
      '00000000: 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f  ................',
      '*',
      '00000050: 5051 5253 5455 5657 5859 5a5b 5c5d 5e5f  PQRSTUVWXYZ[\\]^_',
      '00000020: ffff ffff ffff ffff ffff ffff ffff ffff  ................',
      '00000030: eeee eeee eeee eeee eeee eeee eeee eeee  ................',
    ].join('\n');
    const d = parseHexdump(text);
    expect(d.problems.some((p) => /goes back/.test(p.message))).toBe(true);
    expect(d.map.segments.map((s) => [s.offset, s.bytes.length])).toEqual([[0, 0x60]]);
    for (let o = 0; o < 0x60; o++) {
      const r = d.rangeOfByte(o);
      expect(r, `byte ${o}`).toBeDefined();
      expect(r!.line, `byte ${o}`).toBe(o < 0x10 ? 0 : o < 0x50 ? 1 : 2);
    }
  });
});

describe('repeat lines', () => {
  it('all `*` lines of a dump share one budget of expanded bytes', () => {
    const line = (off: number): string => `${off.toString(16).padStart(8, '0')}: 0102 0304 0506 0708 090a 0b0c 0d0e 0f10  ................`;
    const K = 1024;
    // three `*` lines, each standing for 512 KiB less one line, under a budget of 1 MiB
    const text = [line(0), '*', line(512 * K), '*', line(1024 * K), '*', line(1536 * K)].join('\n');
    const d = parseHexdump(text, { maxRepeat: 1024 * K });
    const total = d.map.segments.reduce((n, s) => n + s.bytes.length, 0);
    expect(total).toBeLessThanOrEqual(1024 * K + 4 * 16);
    const refused = d.problems.filter((p) => /in all are not expanded/.test(p.message));
    expect(refused.map((p) => p.line)).toEqual([5]);
    // the first two were expanded: their bytes repeat the line before them
    expect(d.map.segments[0]!.bytes.length).toBe(1024 * K + 16);
  });
});
