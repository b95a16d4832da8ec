import { ByteMap, type InspectResult } from '../src/inspect/index.js';

/** Spans are sorted, never overlap, and cover exactly the present bytes. */
export function coverageProblem(r: InspectResult, map: ByteMap): string | undefined {
  const kinds = new Set(['field', 'padding', 'data', 'unknown']);
  let k = 0;
  for (const seg of map.segments) {
    let pos = seg.offset;
    while (pos < seg.offset + seg.bytes.length) {
      const s = r.spans[k++];
      if (!s) return `no span at ${pos}`;
      if (s.start !== pos) return `span ${s.path} starts at ${s.start}, expected ${pos}`;
      if (!(s.end > s.start)) return `empty span ${s.path} at ${s.start}`;
      if (!kinds.has(s.kind)) return `span ${s.path} has kind ${s.kind}`;
      pos = s.end;
    }
    if (pos !== seg.offset + seg.bytes.length) return `spans run past the segment end ${seg.offset + seg.bytes.length} to ${pos}`;
  }
  return k === r.spans.length ? undefined : `${r.spans.length - k} spans outside the present bytes`;
}
