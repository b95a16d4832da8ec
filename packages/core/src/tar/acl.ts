/**
 * POSIX ACLs written as text in pax records (`SCHILY.acl.access`, `SCHILY.acl.default`, as
 * star and bsdtar write them) turned into the binary value of the Linux xattrs
 * `system.posix_acl_access` / `system.posix_acl_default` that EROFS stores.
 *
 * Text: entries separated by ',' or newlines, each `tag:qualifier:perms[:id]` with tag
 * user/group/mask/other (or u/g/m/o), perms like `rw-`; named entries carry their numeric id
 * as a fourth field (or a numeric qualifier). Binary (linux/posix_acl_xattr.h): le32 version 2,
 * then per entry le16 e_tag, le16 e_perm, le32 e_id, sorted by tag then id.
 */
const ACL_USER_OBJ = 0x01;
const ACL_USER = 0x02;
const ACL_GROUP_OBJ = 0x04;
const ACL_GROUP = 0x08;
const ACL_MASK = 0x10;
const ACL_OTHER = 0x20;
const ACL_UNDEFINED_ID = 0xffffffff;
const POSIX_ACL_XATTR_VERSION = 2;

const TAGS: Record<string, [number, number]> = {
  user: [ACL_USER_OBJ, ACL_USER],
  u: [ACL_USER_OBJ, ACL_USER],
  group: [ACL_GROUP_OBJ, ACL_GROUP],
  g: [ACL_GROUP_OBJ, ACL_GROUP],
  mask: [ACL_MASK, ACL_MASK],
  m: [ACL_MASK, ACL_MASK],
  other: [ACL_OTHER, ACL_OTHER],
  o: [ACL_OTHER, ACL_OTHER],
};

/** The binary xattr value, or a reason the text cannot be converted. */
export function aclTextToXattr(text: string): Uint8Array | string {
  const entries: { tag: number; perm: number; id: number }[] = [];
  for (const raw of text.split(/[,\n]/)) {
    const item = raw.replace(/#.*/, '').trim();
    if (!item) continue;
    const f = item.split(':');
    const tags = TAGS[f[0]!];
    if (!tags || f.length < 3) return `ACL entry "${item}" is not tag:qualifier:perms`;
    const qualifier = f[1]!;
    const perms = f[2]!;
    if (!/^[r-][w-][x-]$/.test(perms)) return `ACL entry "${item}" has permissions "${perms}"`;
    const perm = (perms[0] === 'r' ? 4 : 0) | (perms[1] === 'w' ? 2 : 0) | (perms[2] === 'x' ? 1 : 0);
    if (qualifier === '' || tags[0] === ACL_MASK || tags[0] === ACL_OTHER) {
      entries.push({ tag: tags[0], perm, id: ACL_UNDEFINED_ID });
      continue;
    }
    const idText = f[3] ?? qualifier;
    if (!/^\d+$/.test(idText) || Number(idText) >= ACL_UNDEFINED_ID) return `ACL entry "${item}" names "${qualifier}" without a numeric id`;
    entries.push({ tag: tags[1], perm, id: Number(idText) });
  }
  if (entries.length === 0) return 'empty ACL';
  entries.sort((a, b) => a.tag - b.tag || a.id - b.id);
  const out = new Uint8Array(4 + 8 * entries.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, POSIX_ACL_XATTR_VERSION, true);
  entries.forEach((e, i) => {
    dv.setUint16(4 + 8 * i, e.tag, true);
    dv.setUint16(6 + 8 * i, e.perm, true);
    dv.setUint32(8 + 8 * i, e.id, true);
  });
  return out;
}
