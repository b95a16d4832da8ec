/**
 * The tolerant inspector: given bytes at known image offsets (a whole image, part of one, or
 * garbage) it attributes every present byte to a structure field, padding, file data or
 * `unknown`, lists the structures it found and the problems it saw. It never throws.
 */
import { hex } from '../errors.js';
import * as F from '../erofs/format.js';
import { EROFS_SUPER_OFFSET } from '../erofs/format.js';
import type { StructDef } from '../layout/struct.js';
import * as T from '../tar/format.js';
import { ByteMap } from './bytes.js';
import { ErofsInspector, hasErofsMagic, inspectAppendedDevices, type Geometry } from './erofs.js';
import { emptyHint, type ErofsHint } from './hint.js';
import { Annotator, type InspectResult } from './model.js';
import { findTarHeader, inspectTar } from './tar.js';

export interface InspectOptions {
  /** Geometry and requests from `# erofs:` hint lines. */
  hint?: ErofsHint;
}

/** Tables a `struct=NAME@OFFSET` request can name for a plain decode. */
const TABLES: Record<string, StructDef<unknown>> = Object.fromEntries(
  [F.superBlock, F.inodeCompact, F.inodeExtended, F.dirent, F.xattrIbodyHeader, F.xattrEntry, F.chunkIndex, F.blockMapEntry, F.deviceSlot, T.gnuSparseHeader]
    .map((d) => [d.name, d as StructDef<unknown>]),
);

/** Names a request may use: the table names plus `inode`, `dirents` and `tar`. */
export const REQUESTABLE = ['inode', 'dirents', 'tar', 'erofs_inode_compact', 'erofs_inode_extended', 'erofs_dirent', 'erofs_xattr_entry', 'posix_header', ...Object.keys(TABLES)].filter(
  (x, i, a) => a.indexOf(x) === i,
);

export function inspect(input: ByteMap | Uint8Array, options: InspectOptions = {}): InspectResult {
  const map = input instanceof ByteMap ? input : ByteMap.of(input);
  const ann = new Annotator(map);
  let format: InspectResult['format'] = 'unknown';
  try {
    format = run(ann, map, options.hint ?? emptyHint());
  } catch (e) {
    // A bug, not a property of the input: say so and keep what was found.
    ann.diag('error', 'invalid-value', `inspector error: ${(e as Error)?.message ?? String(e)}`, map.start, 0);
  }
  try {
    return ann.finish(format);
  } catch (e) {
    const bare = new Annotator(map);
    bare.diag('error', 'invalid-value', `inspector error: ${(e as Error)?.message ?? String(e)}`, map.start, 0);
    return bare.finish('unknown');
  }
}

function run(ann: Annotator, map: ByteMap, hint: ErofsHint): InspectResult['format'] {
  let geo: Geometry | undefined;
  let format: InspectResult['format'] = 'unknown';
  const fromHint = ErofsInspector.geometryFromHint(hint);
  if (hasErofsMagic(map)) {
    format = 'erofs';
    geo = ErofsInspector.fromSuperblock(ann, map, hint) ?? fromHint;
  } else if (fromHint) {
    format = 'erofs';
    geo = fromHint;
    const magic = map.u32(EROFS_SUPER_OFFSET);
    if (magic !== undefined) {
      ann.diag('error', 'bad-magic', `no EROFS superblock: magic ${hex(magic)} at ${hex(EROFS_SUPER_OFFSET)}, expected ${hex(F.EROFS_SUPER_MAGIC)}; decoding from the hint line instead`, EROFS_SUPER_OFFSET, 4);
    }
  } else {
    const tarAt = findTarHeader(map);
    if (tarAt !== undefined) {
      format = 'tar';
      inspectTar(ann, map, tarAt);
    } else {
      const magic = map.u32(EROFS_SUPER_OFFSET);
      if (magic !== undefined) {
        ann.diag('error', 'bad-magic', `no EROFS superblock: magic ${hex(magic)} at ${hex(EROFS_SUPER_OFFSET)}, expected ${hex(F.EROFS_SUPER_MAGIC)} (bytes e2 e1 f5 e0); and no tar header either`, EROFS_SUPER_OFFSET, 4);
      } else if (map.length > 0 && hint.structs.length === 0) {
        ann.diag('info', 'not-found', `nothing to decode from: the dump does not include the superblock at ${hex(EROFS_SUPER_OFFSET)} and has no valid tar header; add a hint line such as "# erofs: blksz=4096 meta_blkaddr=0"`, map.start, 0);
      }
    }
  }
  let ins: ErofsInspector | undefined;
  if (geo) {
    ins = new ErofsInspector(ann, map, geo);
    // The packed inode first: it may hold the long xattr prefixes other inodes' xattrs use.
    if (geo.packedNid) ins.enqueue(geo.packedNid, '(packed inode)');
    if (geo.rootNid !== undefined) ins.enqueue(geo.rootNid, '/');
    for (const i of hint.inodes) ins.enqueue(i.nid, i.path);
  }
  for (const r of hint.structs) {
    request(ann, map, r.name, r.offset, () => {
      if (!ins) ins = new ErofsInspector(ann, map, ErofsInspector.geometryFromHint({ ...hint, blkszbits: hint.blkszbits ?? 12 })!);
      return ins;
    });
  }
  if (ins) {
    ins.run();
    if (geo?.from === 'hint' && hint.inodes.length === 0 && hint.structs.length === 0 && !ins.decodedAny) ins.probe();
    inspectAppendedDevices(ins);
  }
  return format;
}

function request(ann: Annotator, map: ByteMap, name: string, offset: number, erofs: () => ErofsInspector): void {
  if (!map.any(offset, 1)) {
    ann.diag('warning', 'out-of-bounds', `struct=${name}@${hex(offset)}: that offset is not in the dump`, map.start, 0);
    return;
  }
  switch (name) {
    case 'inode':
    case 'erofs_inode_compact':
    case 'erofs_inode_extended': {
      const ins = erofs();
      const rel = offset - ins.geo.metaBase;
      if (rel < 0 || rel % 32 !== 0) {
        ann.diag('warning', 'invalid-value', `struct=${name}@${hex(offset)}: inodes sit on 32-byte slots from meta_blkaddr (byte ${hex(ins.geo.metaBase)})`, offset, 0);
        return;
      }
      ins.enqueue(rel / 32, undefined);
      return;
    }
    case 'dirents':
    case 'erofs_dirent':
      erofs().dirBlockAt(offset);
      return;
    case 'erofs_xattr_entry':
      erofs().xattrAt(offset);
      return;
    case 'tar':
    case 'posix_header':
    case 'oldgnu_header':
    case 'v7_header':
      inspectTar(ann, map, offset);
      return;
    default: {
      const def = TABLES[name];
      if (!def) {
        ann.diag('warning', 'invalid-value', `struct=${name}: unknown structure (known: ${REQUESTABLE.join(', ')})`, offset, 0);
        return;
      }
      ann.structure('data', def.name, `requested at ${hex(offset)}`, offset, offset + def.size);
      ann.traceStruct(def, offset, `${def.name}@${hex(offset)}`);
    }
  }
}

export { ByteMap } from './bytes.js';
export type { Segment } from './bytes.js';
export { spanAt, spanIndexFrom } from './model.js';
export type { Annotation, InspectDiagnostic, InspectResult, Severity, Structure, StructureKind, Target } from './model.js';
export { layoutInspectors } from './erofs.js';
export type { ErofsInspectContext, Geometry, InspectedInode, LayoutInspector } from './erofs.js';
export { emptyHint, formatHint, imageHint, isHintLine, parseHint, parseHintLine } from './hint.js';
export type { ErofsHint, HintProblem } from './hint.js';
