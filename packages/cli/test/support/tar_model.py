#!/usr/bin/env python3
"""What a layer tar says the tree is, as the tar-index kernel parity test expects to see it
through the kernel. Reads the archive with Python's tarfile and applies layer semantics.

Usage: tar_model.py [--aufs] [--source DIR] LAYER.tar[.gz]

Prints {"entries": [ENTRY...], "implicit": [{"path" (hex), "kind"}], "notes": [...]} where ENTRY has
the shape walk_tree.py prints (paths, names, targets and values as hex), so model.ts
`fromWalker` turns it into a TreeModel:
  path (hex, "/" = root), type, mode (type bits | the 12 permission bits), uid, gid, nlink
  (names of a non-directory; 2 + subdirectories for a directory), ino (one number per inode:
  hard links share it), size (regular files and symlinks), mtime (s, floor) and mtime_nsec,
  target (symlinks), rdev [major, minor] (devices), xattrs [[name, value]...] sorted, sha256
  (regular files).

Semantics (the same as a container runtime applying a layer):
  * paths: leading "/" and "./" and "." components are dropped, ".." climbs (never above the
    root); the trailing "/" of directories is ignored;
  * a later entry replaces an earlier one at the same path; a non-directory replacing a
    directory drops its subtree; a directory entry for an existing directory only updates its
    attributes (and replaces its xattrs);
  * hard links ('1') name an earlier member and share its inode;
  * GNU: a volume header ('V', tar --label) is not a member; a dumpdir ('D', incremental
    archives) is a directory whose data is the dump listing, not content; the atime/ctime that
    GNU headers keep where ustar has its prefix are not part of the name (tarfile would prepend
    them: corrected here);
  * mtime: the pax `mtime` record (exact decimal, local or global) or the header field;
  * xattrs: pax SCHILY.xattr.NAME (raw value) and LIBARCHIVE.xattr.NAME (NAME %-encoded, value
    base64), from local and global headers; POSIX ACLs in SCHILY.acl.access / SCHILY.acl.default
    text become system.posix_acl_access / _default (as extracting the tar sets them), except an
    access ACL that only repeats the mode;
  * with --aufs: `.wh..wh..opq` sets trusted.overlay.opaque=y on its directory; `.wh.NAME`
    becomes a character device 0:0 NAME, mode 0, owner and mtime of the whiteout entry, and
    gives its directory trusted.overlay.origin="" (an empty value);
  * user.* xattrs of inodes other than regular files and directories are listed by the
    kernel but cannot be read (ENODATA): the model predicts that error, as the walker reports it;
  * sparse members: size from the archive; the content digest comes from the same path below
    --source (tarfile's sparse support is incomplete), with a note.

What the tar does not say (listed in "implicit"; erofs-kit's choice: ADR 0008 for parents, the
defaults of a new directory in core's tree/node.ts for the root):
  * a parent directory without its own entry ("parent"): 0755, uid 0, gid 0, the mtime of
    the entry that needed it first, no xattrs;
  * the root when the archive has no entry for it ("root"): 0755, uid 0, gid 0, mtime 0.
"""
import base64
import errno
import hashlib
import json
import os
import stat
import sys
import tarfile
import urllib.parse
from decimal import Decimal, ROUND_FLOOR

GNUTYPE_DUMPDIR = b"D"  # GNU incremental: a directory, its data is the dump listing
GNUTYPE_VOLHDR = b"V"  # GNU volume label: not a member


def _frombuf_gnu_aware(cls, buf, encoding, errors):
    """TarInfo.frombuf, except that a GNU-magic header's bytes 345..500 are not a ustar prefix
    (GNU incremental archives keep atime and ctime there; tarfile would prepend them)."""
    obj = _frombuf(cls, buf, encoding, errors)
    if buf[257:265] == tarfile.GNU_MAGIC and obj.type not in tarfile.GNU_TYPES and buf[345:346] != b"\0":
        name = tarfile.nts(buf[0:100], encoding, errors)
        obj.name = name.rstrip("/") if obj.isdir() or obj.type == GNUTYPE_DUMPDIR else name
    return obj


_frombuf = tarfile.TarInfo.frombuf.__func__
tarfile.TarInfo.frombuf = classmethod(_frombuf_gnu_aware)

WH = b".wh."
WH_OPQ = b".wh..wh..opq"


class Node:
    counter = 0

    def __init__(self, kind, mode, uid=0, gid=0, sec=0, nsec=0):
        Node.counter += 1
        self.ino = Node.counter
        self.kind = kind
        self.mode = mode
        self.uid, self.gid = uid, gid
        self.sec, self.nsec = sec, nsec
        self.size = 0
        self.target = None
        self.rdev = None
        self.xattrs = {}
        self.sha256 = None
        self.children = {} if kind == "dir" else None


def split(raw):
    """Components of a member path (bytes), or None when it climbs above the root."""
    out = []
    for part in raw.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            if not out:
                return None
            out.pop()
            continue
        out.append(part)
    return out


def exact_mtime(m):
    """(seconds, nanoseconds) of the member's mtime, exactly as recorded."""
    raw = m.pax_headers.get("mtime")
    if raw is not None:
        try:
            v = Decimal(raw)
        except Exception:
            v = None
        if v is not None and v.is_finite():
            sec = int(v.to_integral_value(rounding=ROUND_FLOOR))
            nsec = int(((v - sec) * 1_000_000_000).to_integral_value(rounding=ROUND_FLOOR))
            return sec, nsec
    return int(m.mtime), 0


def xattrs_of(m, notes, path):
    out = {}
    schily, libarchive = {}, {}
    for key, value in m.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            schily[key[len("SCHILY.xattr."):].encode("utf-8", "surrogateescape")] = value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote_to_bytes(key[len("LIBARCHIVE.xattr."):])
            libarchive[name] = base64.b64decode(value.encode("ascii", "surrogateescape") + b"==="[: (-len(value)) % 4])
    for name in sorted(set(schily) | set(libarchive)):
        if name in schily and name in libarchive and schily[name] != libarchive[name]:
            notes.append("%s: SCHILY.xattr and LIBARCHIVE.xattr disagree on %r; LIBARCHIVE (base64, lossless) used" % (path, name))
        out[name] = libarchive[name] if name in libarchive else schily[name]
    for kind in ("access", "default"):
        text = m.pax_headers.get("SCHILY.acl." + kind)
        if text is None:
            continue
        name = b"system.posix_acl_" + kind.encode()
        value = acl_from_text(text)
        if name in out:
            if value is not None and out[name] != value:
                notes.append("%s: SCHILY.acl.%s and the %s xattr disagree; the xattr used" % (path, kind, name.decode()))
        elif value is not None:
            out[name] = value
    return out


ACL_TAGS = {"user": (1, 2), "group": (4, 8)}  # (without qualifier, with qualifier)


def acl_from_text(text):
    """The system.posix_acl_* xattr value of a SCHILY.acl.* record (star/GNU tar/libarchive text:
    entries separated by "," or newlines, "tag:qualifier:perms[:id]"), or None when the ACL only
    repeats the mode (user::, group::, other:: alone), which leaves no xattr on extraction."""
    entries = []
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        f = item.split(":")
        tag, qual, perms = f[0], f[1], f[2]
        perm = (4 if "r" in perms else 0) | (2 if "w" in perms else 0) | (1 if "x" in perms else 0)
        if tag in ACL_TAGS:
            if qual == "":
                entries.append((ACL_TAGS[tag][0], perm, 0xFFFFFFFF))
            else:
                ident = int(f[3]) if len(f) > 3 and f[3] else int(qual)
                entries.append((ACL_TAGS[tag][1], perm, ident))
        elif tag == "mask":
            entries.append((0x10, perm, 0xFFFFFFFF))
        elif tag == "other":
            entries.append((0x20, perm, 0xFFFFFFFF))
        else:
            raise SystemExit("tar_model: unknown ACL entry %r" % item)
    entries.sort()
    if {t for t, _, _ in entries} <= {1, 4, 0x20}:
        return None
    out = (2).to_bytes(4, "little")
    for tag, perm, ident in entries:
        out += tag.to_bytes(2, "little") + perm.to_bytes(2, "little") + ident.to_bytes(4, "little")
    return out


class Model:
    def __init__(self, aufs, source):
        self.aufs = aufs
        self.source = os.fsencode(source) if source else None
        self.root = Node("dir", stat.S_IFDIR | 0o755)
        self.root_seen = False
        self.implicit = {}  # id(node) -> (node, kind)
        self.notes = []

    def lookup(self, parts):
        cur = self.root
        for p in parts:
            if cur.kind != "dir" or p not in cur.children:
                return None
            cur = cur.children[p]
        return cur

    def parent_dir(self, parts, m_time):
        cur = self.root
        for p in parts:
            nxt = cur.children.get(p)
            if nxt is None:
                nxt = Node("dir", stat.S_IFDIR | 0o755, 0, 0, *m_time)
                self.implicit[id(nxt)] = (nxt, "parent")
                cur.children[p] = nxt
            elif nxt.kind != "dir":
                raise SystemExit("tar_model: a member lies below a non-directory (%r); not a valid layer" % b"/".join(parts))
            cur = nxt
        return cur

    def set_dir_attrs(self, node, m, mtime, xattrs):
        node.mode = stat.S_IFDIR | (m.mode & 0o7777)
        node.uid, node.gid = m.uid, m.gid
        node.sec, node.nsec = mtime
        keep = {k: v for k, v in node.xattrs.items() if k.startswith(b"trusted.overlay.")}
        node.xattrs = dict(xattrs)
        node.xattrs.update(keep)
        self.implicit.pop(id(node), None)

    def add(self, tf, m):
        if m.type == GNUTYPE_VOLHDR:
            return
        raw = m.name.encode("utf-8", "surrogateescape")
        parts = split(raw)
        if parts is None:
            raise SystemExit("tar_model: %r climbs above the root" % raw)
        mtime = exact_mtime(m)
        xattrs = xattrs_of(m, self.notes, raw)
        if not parts:
            if not (m.isdir() or m.type == GNUTYPE_DUMPDIR):
                raise SystemExit("tar_model: the root entry %r is not a directory" % raw)
            self.set_dir_attrs(self.root, m, mtime, xattrs)
            self.root_seen = True
            return
        parent = self.parent_dir(parts[:-1], mtime)
        name = parts[-1]
        if self.aufs and name.startswith(WH):
            if name == WH_OPQ:
                parent.xattrs[b"trusted.overlay.opaque"] = b"y"
                return
            wh = Node("chr", stat.S_IFCHR | 0, m.uid, m.gid, *mtime)
            wh.rdev = (0, 0)
            parent.children[name[len(WH):]] = wh
            parent.xattrs.setdefault(b"trusted.overlay.origin", b"")
            return
        existing = parent.children.get(name)
        if m.islnk():
            tparts = split(m.linkname.encode("utf-8", "surrogateescape"))
            target = self.lookup(tparts) if tparts is not None else None
            if target is None or target.kind == "dir":
                raise SystemExit("tar_model: %r: hard link to %r, which is no earlier non-directory member" % (raw, m.linkname))
            parent.children[name] = target
            return
        if m.isdir() or m.type == GNUTYPE_DUMPDIR:
            if existing is not None and existing.kind == "dir":
                self.set_dir_attrs(existing, m, mtime, xattrs)
                return
            node = Node("dir", stat.S_IFDIR)
            self.set_dir_attrs(node, m, mtime, xattrs)
            parent.children[name] = node
            return
        if m.issym():
            node = Node("lnk", stat.S_IFLNK | (m.mode & 0o7777), m.uid, m.gid, *mtime)
            node.target = m.linkname.encode("utf-8", "surrogateescape")
            node.size = len(node.target)
        elif m.ischr() or m.isblk():
            node = Node("chr" if m.ischr() else "blk", (stat.S_IFCHR if m.ischr() else stat.S_IFBLK) | (m.mode & 0o7777), m.uid, m.gid, *mtime)
            node.rdev = (m.devmajor, m.devminor)
        elif m.isfifo():
            node = Node("fifo", stat.S_IFIFO | (m.mode & 0o7777), m.uid, m.gid, *mtime)
        elif m.isreg():
            node = Node("reg", stat.S_IFREG | (m.mode & 0o7777), m.uid, m.gid, *mtime)
            node.size = m.size
            node.sha256 = self.content(tf, m, raw, parts)
        else:
            raise SystemExit("tar_model: %r: unsupported member type %r" % (raw, m.type))
        node.xattrs = xattrs
        parent.children[name] = node

    def content(self, tf, m, raw, parts):
        if m.sparse is not None:
            if not self.source:
                raise SystemExit("tar_model: %r is sparse and no --source was given" % raw)
            src = os.path.join(self.source, b"/".join(parts))
            h = hashlib.sha256()
            with open(src, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            if os.path.getsize(src) != m.size:
                self.notes.append("%s: sparse member of %d bytes, source file has %d" % (raw, m.size, os.path.getsize(src)))
            verdict = ""
            if m.size <= 64 << 20:  # how tarfile itself reads it, for the record (not for huge files)
                own = hashlib.sha256()
                f = tf.extractfile(m)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    own.update(chunk)
                verdict = " (tarfile reads the same bytes)" if own.digest() == h.digest() else " (tarfile reads it differently)"
            self.notes.append("%s: sparse member (a map of %d entries): content taken from the source file%s" % (
                raw.decode("utf-8", "replace"), len(m.sparse), verdict))
            return h.hexdigest()
        h = hashlib.sha256()
        f = tf.extractfile(m)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        return h.hexdigest()

    def entries(self):
        names = {}  # ino -> number of names
        out = []
        stack = [(b"/", self.root)]
        seen = []
        while stack:
            path, node = stack.pop()
            seen.append((path, node))
            if node.kind == "dir":
                base = path if path.endswith(b"/") else path + b"/"
                for name in sorted(node.children, reverse=True):
                    stack.append((base + name, node.children[name]))
            else:
                names[node.ino] = names.get(node.ino, 0) + 1
        for path, node in seen:
            if node.kind == "dir":
                nlink = 2 + sum(1 for c in node.children.values() if c.kind == "dir")
            else:
                nlink = names[node.ino]
            sec, nsec = node.sec, node.nsec
            e = {
                "path": path.hex(),
                "type": node.kind,
                "mode": node.mode,
                "uid": node.uid,
                "gid": node.gid,
                "nlink": nlink,
                "ino": node.ino,
                "size": node.size,
                "mtime": sec,
                "mtime_nsec": nsec,
                "xattrs": sorted([k.hex(), v.hex()] for k, v in node.xattrs.items()),
            }
            if node.kind == "lnk":
                e["target"] = node.target.hex()
            if node.rdev is not None:
                e["rdev"] = list(node.rdev)
            if node.kind == "reg":
                e["sha256"] = node.sha256
            if node.kind not in ("reg", "dir"):
                # The kernel lists user.* names of other inodes but refuses to read them
                # (fs/xattr.c xattr_permission: ENODATA); walk_tree.py reports exactly this.
                refused = {"xattr " + k.hex(): "getxattr: %s (errno %d)" % (os.strerror(errno.ENODATA), errno.ENODATA)
                           for k in node.xattrs if k.startswith(b"user.")}
                if refused:
                    e["errors"] = refused
            out.append(e)
        return out

    def implicit_list(self):
        out = []
        if not self.root_seen:
            out.append({"path": b"/".hex(), "kind": "root"})
        paths = {}
        stack = [(b"", self.root)]
        while stack:
            path, node = stack.pop()
            if node.kind != "dir":
                continue
            paths[id(node)] = path or b"/"
            for name, c in node.children.items():
                stack.append((path + b"/" + name, c))
        for key, (node, kind) in self.implicit.items():
            if key in paths:  # still in the tree
                out.append({"path": paths[key].hex(), "kind": kind})
        return sorted(out, key=lambda x: x["path"])


def main(argv):
    aufs = False
    source = None
    args = argv[1:]
    while args and args[0].startswith("--"):
        if args[0] == "--aufs":
            aufs = True
            args = args[1:]
        elif args[0] == "--source" and len(args) > 1:
            source = args[1]
            args = args[2:]
        else:
            break
    if len(args) != 1:
        sys.stderr.write(__doc__)
        return 2
    model = Model(aufs, source)
    with tarfile.open(args[0], "r:*", encoding="utf-8", errors="surrogateescape") as tf:
        for m in tf:
            model.add(tf, m)
    json.dump({"entries": model.entries(), "implicit": model.implicit_list(), "notes": model.notes}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
