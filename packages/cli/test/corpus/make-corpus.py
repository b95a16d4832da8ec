#!/usr/bin/env python3
"""Builds the layer-tar corpus of the tar-index kernel parity test (index-kernel.test.ts).

  make-corpus.py --list         print the planned tars as JSON (name, aufs, tool, mirrors; no files written)
  make-corpus.py OUTDIR         build the source trees and every tar into OUTDIR and write
                                OUTDIR/manifest.json

Every tar is written by a real tool (GNU tar, bsdtar, Python's tarfile, busybox tar, git
archive) from a deterministic source tree made here. Nothing is committed: the test calls this
script into a fresh temporary directory. A tool that is missing skips its tars with the reason
recorded in the manifest; when running as root, tools packaged for Debian are installed with
apt-get first. Building needs root (chown to large ids, mknod, security.* and trusted.* xattrs).

manifest.json: {"tars": [TAR...], "skipped": [{"name", "reason", "installable"}]} where TAR is
  name        the corpus name (also the test's name)
  file        absolute path of the layer as it is given to the indexers (.tar or .tar.gz)
  gzip        true when `file` is gzip-compressed
  aufs        index with --aufs
  tool        human description of the tool and options that made it
  source      absolute path of the source tree (the reference content of sparse members)
  notes       what is special about this tar
  mirrors     the tar holds everything about `source` (its model must equal the source tree)
"""
import glob
import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile

# ---------------------------------------------------------------------------------- the plan

# (name, aufs, tool id, description). Order = test order.
PLAN = [
    ("gnu-gnu", False, "gnu", "GNU tar --format=gnu --sparse (full tree)"),
    ("gnu-oldgnu", False, "gnu", "GNU tar --format=oldgnu --sparse (full tree)"),
    ("gnu-pax", False, "gnu", "GNU tar --format=posix --xattrs --acls --sparse (full tree)"),
    ("gnu-pax-gzip", False, "gnu", "gzip -n of the gnu-pax tar"),
    ("gnu-pax-sparse-0.0", False, "gnu", "GNU tar --format=posix --sparse-version=0.0 (sparse tree)"),
    ("gnu-pax-sparse-0.1", False, "gnu", "GNU tar --format=posix --sparse-version=0.1 (sparse tree)"),
    ("gnu-pax-sparse-1.0", False, "gnu", "GNU tar --format=posix --sparse-version=1.0 (sparse tree)"),
    ("gnu-gnu-times", False, "gnu", "GNU tar --format=gnu (times tree: negative, 1901 and far-future mtimes)"),
    ("gnu-pax-times", False, "gnu", "GNU tar --format=posix (times tree)"),
    ("gnu-ustar", False, "gnu", "GNU tar --format=ustar (ustar tree)"),
    ("gnu-v7", False, "gnu", "GNU tar --format=v7 (v7 tree)"),
    ("gnu-no-eof", False, "gnu", "the gnu-ustar tar with its end-of-archive blocks cut off"),
    ("gnu-implicit-parents", False, "gnu", "GNU tar --no-recursion of files only, a directory after its contents"),
    ("gnu-label", False, "gnu", "GNU tar --format=gnu --label=... (a V volume header first; ustar tree)"),
    ("gnu-incremental", False, "gnu", "GNU tar --format=gnu --listed-incremental (D dumpdir entries, atime/ctime in the header; full tree)"),
    ("gnu-absolute-names", False, "gnu", "GNU tar --format=posix -P of an absolute path (leading '/', no parent entries)"),
    ("gnu-append-layer", False, "gnu", "GNU tar --format=posix, then tar -r of changed members (later entries replace earlier ones)"),
    ("bsdtar-pax", False, "bsdtar", "bsdtar --format=pax (full tree)"),
    ("bsdtar-paxr", False, "bsdtar", "bsdtar default format, restricted pax (full tree)"),
    ("bsdtar-pax-times", False, "bsdtar", "bsdtar --format=pax (times tree)"),
    ("bsdtar-gnutar", False, "bsdtar", "bsdtar --format=gnutar (full tree)"),
    ("bsdtar-ustar", False, "bsdtar", "bsdtar --format=ustar (ustar tree)"),
    ("bsdtar-v7", False, "bsdtar", "bsdtar --format=v7 (v7 tree)"),
    ("py-gnu", False, "python", "Python tarfile GNU_FORMAT (full tree, no root entry)"),
    ("py-pax", False, "python", "Python tarfile PAX_FORMAT with SCHILY.xattr records (full tree, no root entry)"),
    ("py-pax-global", False, "python", "Python tarfile PAX_FORMAT with a global header setting uid, gid, mtime and an xattr"),
    ("py-gnu-times", False, "python", "Python tarfile GNU_FORMAT (times tree)"),
    ("py-pax-times", False, "python", "Python tarfile PAX_FORMAT (times tree; float mtimes)"),
    ("py-pax-libarchive-xattr", False, "python", "Python tarfile PAX_FORMAT with LIBARCHIVE.xattr records only (%-encoded names, base64 values)"),
    ("py-pax-libarchive-xattr-short", False, "python", "Python tarfile PAX_FORMAT with LIBARCHIVE.xattr records only: values of 2, 3 and 3000 bytes"),
    ("py-ustar", False, "python", "Python tarfile USTAR_FORMAT (ustar tree)"),
    ("busybox", False, "busybox", "busybox tar -c (ustar tree)"),
    ("git-archive", False, "git", "git archive --format=tar (pax global header with the commit id)"),
    ("oci-whiteouts", True, "gnu", "GNU tar --format=posix of an OCI-style layer with .wh. files, indexed with --aufs"),
    ("oci-whiteouts-plain", False, "gnu", "the oci-whiteouts tar indexed without --aufs"),
    ("oci-python-whiteouts", True, "python", "Python tarfile OCI layer: no root entry, whiteouts in implicit directories, --aufs"),
    ("synthetic-layer", False, "gnu", "GNU tar --format=posix of a synthetic layer of a few MB"),
    ("node-tar", False, "node-tar", "node-tar (npm tar 7, the CLI package's dev dependency; ustar tree)"),
    ("debootstrap-rootfs-gzip", False, "debootstrap", "a Debian bookworm minbase rootfs (debootstrap), GNU tar --format=posix --xattrs, gzip"),
    ("umoci-base", False, "umoci", "umoci repack: the first layer of an OCI image (gzip; ustar tree)"),
    ("umoci-diff", True, "umoci", "umoci repack: a second layer deleting a file and a directory (OCI whiteouts), indexed with --aufs (gzip)"),
]

# Tars that hold everything about their source tree: the tar model must equal the source tree
# as the filesystem reports it (the test's self-check of the model and of the corpus).
MIRRORS = {"gnu-pax", "gnu-pax-gzip", "gnu-pax-sparse-0.0", "gnu-pax-sparse-0.1", "gnu-pax-sparse-1.0", "gnu-pax-times",
           "oci-whiteouts-plain", "synthetic-layer"}

# tool id -> (command to probe, Debian package or None)
TOOLS = {
    "gnu": (["tar", "--version"], "tar"),
    "bsdtar": (["bsdtar", "--version"], "libarchive-tools"),
    "python": ([sys.executable, "-c", "import tarfile"], None),
    "busybox": (["busybox", "tar", "--help"], "busybox"),
    "git": (["git", "--version"], "git"),
    "node-tar": (["node", "-e", "require('tar')"], None),
    "umoci": (["umoci", "--version"], "umoci"),
    "debootstrap": (["debootstrap", "--version"], "debootstrap"),
}

# node-tar is the project's own dev dependency: resolve it from packages/cli.
CLI_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# ---------------------------------------------------------------------------------- helpers


def det_bytes(seed, n):
    """n deterministic pseudo-random bytes for `seed`."""
    return hashlib.shake_256(seed.encode()).digest(n) if n else b""


CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("TAR_OPTIONS", "SOURCE_DATE_EPOCH")}


def run(cmd, cwd=None, ok=(0,)):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=CLEAN_ENV)
    if r.returncode not in ok:
        raise RuntimeError("%s exited %d: %s" % (" ".join(map(str, cmd)), r.returncode, r.stderr.decode(errors="replace").strip()))
    return r


def ns(sec, frac_ns=0):
    return sec * 1_000_000_000 + frac_ns


class Tree:
    """Builds a source tree; directory times are applied last, deepest first."""

    def __init__(self, root):
        self.root = os.fsencode(root)
        self.dir_times = []
        os.makedirs(self.root, exist_ok=True)

    def p(self, rel):
        rel = os.fsencode(rel)
        return os.path.join(self.root, rel) if rel else self.root

    def dir(self, rel, mode=0o755, uid=0, gid=0, mtime_ns=ns(1600000000), xattrs=()):
        path = self.p(rel)
        os.makedirs(path, exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        for k, v in xattrs:
            os.setxattr(path, k, v)
        self.dir_times.append((path, mtime_ns))

    def file(self, rel, data=b"", mode=0o644, uid=0, gid=0, mtime_ns=ns(1600000000), xattrs=()):
        path = self.p(rel)
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        for k, v in xattrs:
            os.setxattr(path, k, v)
        os.utime(path, ns=(mtime_ns, mtime_ns))

    def sparse(self, rel, size, segments, mtime_ns=ns(1600000000)):
        path = self.p(rel)
        with open(path, "wb") as f:
            f.truncate(size)
            for off, length in segments:
                f.seek(off)
                f.write(det_bytes("%s@%d" % (rel, off), length))
        os.chmod(path, 0o644)
        os.utime(path, ns=(mtime_ns, mtime_ns))

    def symlink(self, rel, target, uid=0, gid=0, mtime_ns=ns(1600000000), xattrs=()):
        path = self.p(rel)
        os.symlink(os.fsencode(target), path)
        os.chown(path, uid, gid, follow_symlinks=False)
        for k, v in xattrs:
            os.setxattr(path, k, v, follow_symlinks=False)
        os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)

    def link(self, existing, rel):
        os.link(self.p(existing), self.p(rel), follow_symlinks=False)

    def node(self, rel, kind, major=0, minor=0, mode=0o644, uid=0, gid=0, mtime_ns=ns(1600000000)):
        path = self.p(rel)
        os.mknod(path, kind | mode, os.makedev(major, minor))
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        os.utime(path, ns=(mtime_ns, mtime_ns))

    def finish(self):
        for path, t in sorted(self.dir_times, key=lambda x: -x[0].count(b"/")):
            os.utime(path, ns=(t, t))


def posix_acl(entries):
    """The system.posix_acl_* xattr value: version 2, then (tag, perm, id) entries."""
    out = (2).to_bytes(4, "little")
    for e in entries:
        out += e[0].to_bytes(2, "little") + e[1].to_bytes(2, "little") + (e[2] if len(e) > 2 else 0xFFFFFFFF).to_bytes(4, "little")
    return out


# A v2 file capability blob: cap_net_raw (13) in permitted, effective bit set.
CAPABILITY = bytes.fromhex("01000002") + (1 << 13).to_bytes(4, "little") + bytes(12)


def build_tree(root, profile):
    """The source tree for `profile`: full (everything but negative mtimes), ustar (what ustar
    can hold), v7 (what v7 can hold), sparse (sparse files only), times (mtimes only)."""
    t = Tree(root)
    full = profile == "full"
    no_v7 = profile != "v7"
    if profile == "full":
        t.dir("", 0o750, uid=1, gid=2, mtime_ns=ns(1600000000, 500000000), xattrs=[("user.root", b"on the root")])
    else:
        t.dir("", 0o755, mtime_ns=ns(1600000000, 500000000))
    if profile == "times":
        t.dir("times", mtime_ns=ns(-86400, 250000000))  # a directory before 1970
        t.file("times/subsec", b"t", mtime_ns=ns(1700000000, 123456789))
        t.file("times/zero", b"t", mtime_ns=0)
        t.file("times/neg", b"t", mtime_ns=ns(-1))
        t.file("times/neg-subsec", b"t", mtime_ns=ns(-2, 750000000))  # -1.25 s
        t.file("times/1901", b"t", mtime_ns=ns(-2147483648))  # the oldest ext4 keeps
        t.file("times/future", b"t", mtime_ns=ns(8589934592))
        t.file("times/far-future", b"t", mtime_ns=ns(16000000000, 1))  # year 2477
        t.symlink("times/link-neg", "neg", mtime_ns=ns(-100, 999999999))
        t.finish()
        return
    if profile == "sparse":
        t.dir("sparse")
        t.sparse("sparse/holes", 3 * 1048576 + 100, [(0, 4096), (1048576, 8192), (3 * 1048576, 100)])
        t.sparse("sparse/all-hole", 2 * 1048576, [])
        t.sparse("sparse/head-only", 1048576, [(0, 513)])
        t.sparse("sparse/over-4g", 4 * 1024**3 + 1, [(0, 4096), (3 * 1024**3, 8192), (4 * 1024**3, 1)])  # 64-bit size
        t.file("sparse/dense", det_bytes("dense", 5000))
        t.finish()
        return
    # sizes around the 512-byte block
    t.dir("files", 0o755, mtime_ns=ns(1650000000))
    for n in (0, 1, 511, 512, 513, 1048576):
        t.file("files/size-%d" % n, det_bytes("size-%d" % n, n), mtime_ns=ns(1650000000))
    for m in (0o600, 0o755, 0o4755, 0o2755, 0o444, 0o000, 0o1644):
        t.file("files/mode-%04o" % m, b"mode %o\n" % m, mode=m)
    # directories: empty ones, sticky, private, setgid
    t.dir("dirs")
    t.dir("dirs/empty", 0o755, mtime_ns=ns(1500000000))
    t.dir("dirs/sticky", 0o1777)
    t.file("dirs/sticky/inside", b"x")
    t.dir("dirs/private", 0o700, uid=1000, gid=1000)
    t.dir("dirs/setgid", 0o2775, gid=50)
    t.dir("empty-top", 0o750, mtime_ns=ns(1400000000))
    t.file("dirs/empty-file", b"")
    # symlinks (Linux has no lchmod: always 0777)
    t.dir("links")
    t.symlink("links/rel", "../files/size-1")
    t.symlink("links/abs", "/etc/passwd")
    t.symlink("links/dangling", "nowhere/at/all")
    t.symlink("links/dir", "../dirs", mtime_ns=ns(1600000000, 250000000))
    t.symlink("links/target-99", "t" * 99)  # v7 and ustar hold up to 100
    if no_v7:
        t.symlink("links/target-100", "u" * 100)
    if full:
        t.symlink("links/target-101", "v" * 101)
        t.symlink("links/target-300", "/".join("segment-%02d" % i for i in range(28))[:300])
        t.symlink("links/target-1000", "/".join("w" * 9 for _ in range(100))[:1000])
    # hard links across directories, of an empty file, of a symlink
    t.dir("hard")
    t.dir("hard/other")
    t.dir("elsewhere")
    t.dir("elsewhere/deep")
    t.file("hard/orig", det_bytes("hard", 777), mode=0o640, uid=1234, gid=5678)
    t.link("hard/orig", "hard/same-dir")
    t.link("hard/orig", "hard/other/across")
    t.link("hard/orig", "elsewhere/deep/far")
    t.file("hard/empty", b"")
    t.link("hard/empty", "elsewhere/empty-link")
    if no_v7:
        t.link("links/rel", "hard/symlink-hardlink")
    # devices and fifos (not in v7)
    if no_v7:
        t.dir("dev")
        t.node("dev/null", stat.S_IFCHR, 1, 3, 0o666)
        t.node("dev/sda1", stat.S_IFBLK, 8, 1, 0o660, gid=6)
        t.node("dev/big", stat.S_IFCHR, 4095, 1048575, 0o600)
        t.node("dev/fifo", stat.S_IFIFO, mode=0o644, uid=33, gid=33)
    # long names
    t.dir("long")
    t.file("long/" + "a" * 90, b"90")  # "./long/" + 90 = 97: fits v7's 99
    if no_v7:
        t.file("long/" + "b" * 100, b"100")  # fills the ustar name field (no NUL)
        deep = "long/" + "/".join(("d%02d-" % i) + "x" * 35 for i in range(4))  # ~ 165 bytes
        acc = ""
        for part in deep.split("/")[1:]:
            acc = (acc + "/" + part) if acc else "long/" + part
            t.dir(acc)
        t.file(deep + "/file-in-a-deep-directory", b"deep")  # > 155: needs the ustar prefix split
    if full:
        t.file("long/" + "c" * 101, b"101")
        t.file("long/" + "e" * 200, b"200")  # one component > 155 (cannot be split)
        t.file("long/" + "n" * 255, b"255")  # the longest component Linux allows
        deeper = "long/" + "/".join(("q%02d-" % i) + "y" * 60 for i in range(5))
        acc = ""
        for part in deeper.split("/")[1:]:
            acc = (acc + "/" + part) if acc else "long/" + part
            t.dir(acc)
        t.file(deeper + "/" + "z" * 120, b"very deep")  # path > 400 bytes
    # owners
    t.dir("owners")
    t.file("owners/u70000", b"o", uid=70000, gid=70001)  # > 65535: extended inode
    t.file("owners/u2097151", b"o", uid=2097151, gid=2097151)  # the largest 7-digit octal
    if full:
        t.file("owners/u3000000", b"o", uid=3000000, gid=4000000)  # > 2097151: base-256 / pax
        t.file("owners/umax", b"o", uid=4294967294, gid=4294967294)
        t.dir("owners/dir-2097152", 0o755, uid=2097152, gid=2097152)
        t.symlink("owners/link-5000000", "target", uid=5000000, gid=5000001)
    # times (negative ones live in the "times" tree: mkfs.erofs refuses whole archives for them)
    t.dir("times", mtime_ns=ns(1700000000, 987654321))
    t.file("times/subsec", b"t", mtime_ns=ns(1700000000, 123456789))
    t.file("times/zero", b"t", mtime_ns=0)
    t.file("times/y2038", b"t", mtime_ns=ns(2147483648))
    if full:
        t.file("times/future", b"t", mtime_ns=ns(8589934592))  # 2242: beyond 11 octal digits
        t.symlink("times/link-subsec", "subsec", mtime_ns=ns(1700000000, 5))
    # xattrs
    t.dir("xattrs", xattrs=[("user.dir", b"yes"), ("trusted.dirmark", b"t")])
    t.file(
        "xattrs/user",
        b"x",
        xattrs=[("user.comment", b"hello world"), ("user.empty", b""), ("user.binary", bytes(range(256))), ("user.long", det_bytes("long-xattr", 2000))],
    )
    t.file("xattrs/capability", b"\x7fELF", mode=0o755, xattrs=[("security.capability", CAPABILITY)])
    t.file("xattrs/trusted", b"x", xattrs=[("trusted.overlay.redirect", b"/somewhere"), ("trusted.other", b"\x00\x01")])
    t.file("xattrs/none", b"x")
    t.file("xattrs/selinux", b"x", xattrs=[("security.selinux", b"system_u:object_r:bin_t:s0\0")])
    if full:
        # POSIX ACLs: an extended access ACL on a file, a default ACL on a directory
        t.dir("acl")
        t.file("acl/file", b"acl", mode=0o640, xattrs=[("system.posix_acl_access", posix_acl([(1, 6), (2, 4, 54321), (4, 4), (8, 6, 54322), (0x10, 6), (0x20, 0)]))])
        t.dir("acl/dir", 0o755, xattrs=[("system.posix_acl_default", posix_acl([(1, 7), (2, 5, 54321), (4, 5), (0x10, 5), (0x20, 5)]))])
    # names
    t.dir("names")
    t.file("names/ünïcødé-名前.txt", "ünïcødé\n".encode())
    t.file("names/with space", b"s")
    t.file("names/.hidden", b"h")
    if full:
        t.file("names/tab\there", b"t")
        t.file(b"names/latin1-\xe9\xff", b"l")  # not UTF-8
        t.file("names/" + "é" * 127 + "x", b"255 bytes of UTF-8")
        t.link("long/" + "c" * 101, "names/link-to-long")  # a hard link whose target needs a long link name
        t.symlink("names/symlink-latin1", b"target-\xe9\xff")
    # sparse files (tars made without sparse support store them dense)
    if full:
        t.dir("sparse")
        t.sparse("sparse/holes", 3 * 1048576 + 100, [(0, 4096), (1048576, 8192), (3 * 1048576, 100)])
        t.sparse("sparse/all-hole", 1048576, [])
    t.finish()


def build_oci_tree(root):
    """An OCI-style upper layer: whiteouts are empty 0000 files named .wh.NAME."""
    t = Tree(root)
    T = ns(1690000000)
    t.dir("", 0o755, mtime_ns=T)
    t.dir("etc", 0o755, mtime_ns=T)
    t.file("etc/.wh.removed.conf", b"", mode=0o000, mtime_ns=T)
    t.file("etc/kept.conf", b"kept\n", mtime_ns=T)
    t.dir("usr", 0o755, mtime_ns=T)
    t.file("usr/.wh..wh..opq", b"", mode=0o000, mtime_ns=T)
    t.dir("usr/local", 0o755, mtime_ns=T)
    t.file("usr/local/tool", b"#!/bin/sh\n", mode=0o755, mtime_ns=T)
    t.dir("var", 0o755, mtime_ns=T)
    t.file("var/.wh.cache", b"", mode=0o000, mtime_ns=T)  # whiteout of a directory below
    t.file("var/.wh.log", b"", mode=0o644, uid=1000, gid=1000, mtime_ns=ns(1690000001))
    t.file(".wh.top-removed", b"", mode=0o000, mtime_ns=T)
    t.dir("opaque-and-whiteout", 0o700, mtime_ns=T)
    t.file("opaque-and-whiteout/.wh..wh..opq", b"", mode=0o000, mtime_ns=T)
    t.file("opaque-and-whiteout/.wh.gone", b"", mode=0o000, mtime_ns=T)
    t.file("opaque-and-whiteout/new", b"new\n", mtime_ns=T)
    t.file("not-a-whiteout.wh.", b"z", mtime_ns=T)
    t.finish()


def build_synthetic_tree(root):
    """A few MB of layer: 30 directories of 40 files of varied sizes, some links, and many long
    symlinks."""
    t = Tree(root)
    t.dir("", 0o755, mtime_ns=ns(1680000000))
    t.dir("usr", mtime_ns=ns(1680000000))
    t.dir("usr/lib", mtime_ns=ns(1680000000))
    for d in range(30):
        dn = "usr/lib/pkg%02d" % d
        t.dir(dn, mtime_ns=ns(1680000000))
        for f in range(40):
            k = d * 40 + f
            size = (k * 7919) % 2048 if k % 10 else (k * 104729) % 20000
            t.file("%s/file%03d.so" % (dn, f), det_bytes("syn%d" % k, size), mode=0o755 if k % 3 == 0 else 0o644, mtime_ns=ns(1680000000 + k % 5))
        t.symlink("%s/current" % dn, "file000.so", mtime_ns=ns(1680000000))
        if d % 4 == 0:
            t.link("%s/file001.so" % dn, "%s/alias.so" % dn)
    t.file("usr/lib/big.bin", det_bytes("big", 1536 * 1024 + 17), mtime_ns=ns(1680000000))
    # 1000 symlinks with 450-byte inline targets (inode + target nearly fill a 512-byte block)
    t.dir("usr/share", mtime_ns=ns(1680000000))
    t.dir("usr/share/links", mtime_ns=ns(1680000000))
    for k in range(1000):
        t.symlink("usr/share/links/l%04d" % k, ("../" * 3 + "target-%04d-" % k).ljust(450, "x"), mtime_ns=ns(1680000000))
    t.finish()


# ---------------------------------------------------------------------------------- writers

GNU_COMMON = ["--numeric-owner", "--sort=name"]
PAX_STABLE = ["--pax-option=delete=atime,delete=ctime"]


def gnu_tar(out, src, *opts, members=(".",)):
    run(["tar", *GNU_COMMON, *opts, "-cf", out, "-C", src, *members])


def bsdtar(out, src, *opts):
    run(["bsdtar", "--numeric-owner", *opts, "-cf", out, "-C", src, "."])


def py_walk(src):
    """(relative path bytes, full path) of every entry below src, parents first, sorted."""
    out = []
    srcb = os.fsencode(src)
    for dirpath, dirnames, filenames in os.walk(srcb):
        dirnames.sort()
        rel = os.path.relpath(dirpath, srcb)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            out.append((name if rel == b"." else os.path.join(rel, name), full))
    return out


def py_tar(out, src, fmt, xattrs=False, pax_headers=None):
    """Every entry below src (no root entry), through TarFile.gettarinfo as `tar.add` would."""
    kw = {"format": fmt, "encoding": "utf-8", "errors": "surrogateescape"}
    if pax_headers:
        kw["pax_headers"] = pax_headers
    with tarfile.open(out, "w", **kw) as tf:
        for rel, full in py_walk(src):
            name = os.fsdecode(rel)
            ti = tf.gettarinfo(os.fsdecode(full), arcname=name)
            ti.uname = ti.gname = ""
            if xattrs:
                for k in os.listxattr(full, follow_symlinks=False):
                    v = os.getxattr(full, k, follow_symlinks=False)
                    ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
            if ti.isreg():
                with open(full, "rb") as f:
                    tf.addfile(ti, f)
            else:
                tf.addfile(ti)


def py_oci(out):
    """An OCI layer as a registry might serve it: no root entry, parents missing."""
    T = 1690000000
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        def add(name, type_=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, mtime=T, **extra):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.uid, ti.gid, ti.mtime, ti.size = type_, mode, uid, gid, mtime, len(data)
            for k, v in extra.items():
                setattr(ti, k, v)
            tf.addfile(ti, __import__("io").BytesIO(data) if data else None)
        add("a/b/.wh.deleted", mode=0o000, mtime=T + 5, uid=7, gid=8)  # a and a/b implicit
        add("a/b/kept", data=b"kept\n")
        add("c/.wh..wh..opq", mode=0o000)  # opaque in an implicit directory
        add("c/fresh", data=b"fresh\n", mtime=T + 9)
        add(".wh.rootgone", mode=0o000)
        add("d/", tarfile.DIRTYPE, mode=0o711, mtime=T + 3)
        add("d/.wh.x", mode=0o000)
        add("d/e/f/.wh..wh..opq", mode=0o000, mtime=T + 11)  # opaque deep in implicit directories
        add("d/.wh.restored", mode=0o000)
        add("d/restored", data=b"whiteout then file: the file wins\n")  # a later entry replaces
        add("g/dir-then-whiteout/", tarfile.DIRTYPE, mode=0o755)
        add("g/dir-then-whiteout/child", data=b"c")
        add("g/.wh.dir-then-whiteout", mode=0o000)  # replaces the directory and its child
        add("k/file", data=b"hard-linked, then whited out\n")
        add("k/link", tarfile.LNKTYPE, linkname="k/file")
        add("k/.wh.file", mode=0o000)  # the other name keeps the inode
        add("m/.wh..wh..opq", mode=0o000)  # the opaque marker before its directory's entry
        add("m/", tarfile.DIRTYPE, mode=0o700, mtime=T + 20)
        add("h/", tarfile.DIRTYPE, mode=0o775, uid=5, gid=6, mtime=T - 100)
        add("h/i/j", data=b"below an implicit directory whose parent is group-writable\n", uid=7)


def py_libarchive_xattrs(out, short=False):
    """xattrs as libarchive writes them (LIBARCHIVE.xattr.<%-encoded name>=<base64 value>), without
    the SCHILY.xattr duplicates libarchive adds, so that only the LIBARCHIVE form carries them.
    `short`: only values that mkfs.erofs 1.8.6 does not refuse (it decodes them wrongly)."""
    import base64
    import io
    import urllib.parse
    T = 1660000000
    if short:
        xattrs = [(b"user.two", b"ab"), (b"user.three", b"abc"), (b"trusted.long", det_bytes("libarchive-long", 3000))]
    else:
        xattrs = [
            (b"user.plain", b"plain value"),
            (b"user.binary", bytes(range(256))),
            (b"user.empty", b""),
            (b"user.a=b c%d", b"name with '=', ' ' and '%'"),
            (b"security.capability", CAPABILITY),
            (b"trusted.long", det_bytes("libarchive-long", 3000)),
        ]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, type_, data in (("x/", tarfile.DIRTYPE, b""), ("x/file", tarfile.REGTYPE, b"data\n"), ("x/empty", tarfile.REGTYPE, b"")):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime, ti.size = type_, 0o755 if type_ == tarfile.DIRTYPE else 0o644, T, len(data)
            for k, v in xattrs:
                ti.pax_headers["LIBARCHIVE.xattr." + urllib.parse.quote_from_bytes(k, safe="./_-")] = base64.b64encode(v).decode()
            tf.addfile(ti, io.BytesIO(data) if data else None)


def debootstrap_tree(out, log):
    """A Debian bookworm minbase tree: $EROFS_CORPUS_ROOTFS when it names one (the benchmark's
    WORK/rootfs, say), else debootstrap into the corpus directory (a few minutes, needs the
    Debian mirror: $DEBIAN_MIRROR, default deb.debian.org)."""
    given = os.environ.get("EROFS_CORPUS_ROOTFS")
    if given:
        if not os.path.isfile(os.path.join(given, "etc/debian_version")):
            raise RuntimeError("EROFS_CORPUS_ROOTFS=%s is not a Debian tree" % given)
        return given
    root = os.path.join(out, "src-debootstrap")
    if os.path.isfile(os.path.join(root, "etc/debian_version")):
        return root
    shutil.rmtree(root, ignore_errors=True)
    mirror = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
    log("debootstrap --variant=minbase bookworm (a few minutes)")
    run(["debootstrap", "--variant=minbase", "bookworm", root, mirror])
    for deb in glob.glob(os.path.join(root, "var/cache/apt/archives/*.deb")):
        os.unlink(deb)
    return root


def umoci_layers(out, tree):
    """An OCI image made with umoci: layer 1 = `tree`, layer 2 = a file and a directory deleted, a
    file added. Returns the two layer blobs (gzip tars). Built once per corpus."""
    layout = os.path.join(out, "src-umoci-layout")
    blobs = os.path.join(out, "src-umoci-layers.json")
    if os.path.exists(blobs):
        with open(blobs) as r:
            return json.load(r)
    for d in (layout, layout + "-b1", layout + "-b2"):
        shutil.rmtree(d, ignore_errors=True)
    run(["umoci", "init", "--layout", layout])
    run(["umoci", "new", "--image", layout + ":t"])
    b1 = layout + "-b1"
    run(["umoci", "unpack", "--image", layout + ":t", b1])
    run(["cp", "-a", tree + "/.", os.path.join(b1, "rootfs")])
    run(["umoci", "repack", "--image", layout + ":t", b1])
    b2 = layout + "-b2"
    run(["umoci", "unpack", "--image", layout + ":t", b2])
    rootfs = os.path.join(b2, "rootfs")
    os.unlink(os.path.join(rootfs, "links/rel"))
    shutil.rmtree(os.path.join(rootfs, "long"))
    with open(os.path.join(rootfs, "new-in-layer-2"), "wb") as w:
        w.write(b"added by the second layer\n")
    run(["umoci", "repack", "--image", layout + ":t", b2])
    with open(os.path.join(layout, "index.json")) as r:
        manifest_digest = json.load(r)["manifests"][0]["digest"]
    blob = lambda d: os.path.join(layout, "blobs", *d.split(":", 1))
    with open(blob(manifest_digest)) as r:
        layers = [blob(l["digest"]) for l in json.load(r)["layers"]]
    if len(layers) != 2:
        raise RuntimeError("umoci made %d layers, expected 2" % len(layers))
    with open(blobs, "w") as w:
        json.dump(layers, w)
    return layers


def gzip_file(src, out, level):
    """gzip -n: no name, mtime 0, so the same tar gives the same bytes."""
    with open(src, "rb") as i, open(out, "wb") as o:
        o.write(gzip.compress(i.read(), level, mtime=0))


def strip_eof(src, out):
    """Copies src without its end-of-archive zero blocks (and record padding)."""
    with tarfile.open(src) as tf:
        end = 0
        for m in tf:
            end = m.offset_data + (-(-m.size // 512) * 512 if m.isreg() else 0)
    with open(src, "rb") as f:
        data = f.read(end)
    with open(out, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------------- tools


def tool_present(tool):
    probe = TOOLS[tool][0]
    if probe is None:
        return False
    try:
        return subprocess.run(probe, cwd=CLI_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def ensure_tool(tool, log):
    """True when `tool` runs; as root, installs its Debian package first when missing."""
    if tool_present(tool):
        return True
    pkg = TOOLS[tool][1]
    if pkg and os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing %s (apt-get install -y %s)" % (tool, pkg))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", pkg], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not tool_present(tool):
            subprocess.run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", pkg], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return tool_present(tool)


def missing_reason(tool):
    if tool == "node-tar":
        return "node-tar (the npm package `tar`, a dev dependency of packages/cli) cannot be loaded: run npm ci"
    pkg = TOOLS[tool][1]
    return "%s not found%s" % (TOOLS[tool][0][0], " (Debian package %s; could not be installed)" % pkg if pkg else "")


def build(out):
    log = lambda msg: print("make-corpus: " + msg, file=sys.stderr)
    if os.geteuid() != 0:
        raise SystemExit("make-corpus: must run as root (chown to large ids, mknod, security.* xattrs)")
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    src = {p: os.path.join(out, "src-" + p) for p in ("full", "ustar", "v7", "sparse", "times", "oci", "synthetic")}
    for p in ("full", "ustar", "v7", "sparse", "times"):
        build_tree(src[p], p)
    build_oci_tree(src["oci"])
    build_synthetic_tree(src["synthetic"])

    tars, skipped = [], []
    present = {}
    for name, aufs, tool, desc in PLAN:
        if tool not in present:
            present[tool] = ensure_tool(tool, log)
        if not present[tool]:
            skipped.append({"name": name, "reason": missing_reason(tool), "installable": TOOLS[tool][1] is not None or tool == "node-tar"})
            log("SKIPPED %s: %s" % (name, missing_reason(tool)))
            continue
        f = os.path.join(out, name + ".tar")
        source, notes, gz = src["full"], "", False
        try:
            if name == "gnu-gnu":
                gnu_tar(f, src["full"], "--format=gnu", "--sparse")
            elif name == "gnu-oldgnu":
                gnu_tar(f, src["full"], "--format=oldgnu", "--sparse")
            elif name == "gnu-pax":
                gnu_tar(f, src["full"], "--format=posix", *PAX_STABLE, "--xattrs", "--xattrs-include=*", "--acls", "--sparse")
            elif name == "gnu-pax-gzip":
                plain = os.path.join(out, "gnu-pax.tar")
                if not os.path.exists(plain):
                    raise RuntimeError("gnu-pax.tar was not built")
                f = os.path.join(out, name + ".tar.gz")
                gzip_file(plain, f, 9)
                gz = True
            elif name.startswith("gnu-pax-sparse-"):
                gnu_tar(f, src["sparse"], "--format=posix", *PAX_STABLE, "--sparse-version=" + name.rsplit("-", 1)[1])
                source = src["sparse"]
            elif name == "gnu-gnu-times":
                gnu_tar(f, src["times"], "--format=gnu")
                source = src["times"]
            elif name == "gnu-pax-times":
                gnu_tar(f, src["times"], "--format=posix", *PAX_STABLE)
                source = src["times"]
            elif name == "bsdtar-pax-times":
                bsdtar(f, src["times"], "--format=pax")
                source = src["times"]
            elif name == "py-gnu-times":
                py_tar(f, src["times"], tarfile.GNU_FORMAT)
                source = src["times"]
            elif name == "py-pax-times":
                py_tar(f, src["times"], tarfile.PAX_FORMAT)
                source = src["times"]
            elif name == "gnu-ustar":
                gnu_tar(f, src["ustar"], "--format=ustar")
                source = src["ustar"]
            elif name == "gnu-v7":
                gnu_tar(f, src["v7"], "--format=v7")
                source = src["v7"]
            elif name == "gnu-no-eof":
                plain = os.path.join(out, "gnu-ustar.tar")
                strip_eof(plain, f)
                source = src["ustar"]
                notes = "no end-of-archive marker"
            elif name == "gnu-implicit-parents":
                members = ["hard/orig", "links/rel", "long/" + "a" * 90, "dev/fifo", "times/subsec", "dirs/sticky/inside", "dirs/sticky", "xattrs/user"]
                gnu_tar(f, src["full"], "--format=posix", *PAX_STABLE, "--xattrs", "--xattrs-include=*", "--no-recursion", members=members)
                notes = "no root entry, no parent entries except dirs/sticky, which follows its content"
            elif name == "gnu-label":
                gnu_tar(f, src["ustar"], "--format=gnu", "--label=erofs-kit corpus volume")
                source = src["ustar"]
                notes = "a GNU volume header (V) is a label, not a member"
            elif name == "gnu-incremental":
                gnu_tar(f, src["full"], "--format=gnu", "--sparse", "--listed-incremental=" + os.path.join(out, "gnu-incremental.snar"))
                notes = "directories are GNU dumpdir (D) entries"
            elif name == "gnu-absolute-names":
                run(["tar", *GNU_COMMON, "--format=posix", *PAX_STABLE, "-P", "-cf", f, os.path.join(src["v7"], "hard"), os.path.join(src["v7"], "links")])
                source = ""
                notes = "member names start with '/' and the absolute path of the source tree"
            elif name == "gnu-append-layer":
                layer = os.path.join(out, "src-append")
                run(["cp", "-a", src["ustar"], layer])
                gnu_tar(f, layer, "--format=posix", *PAX_STABLE)
                # change things, then append the new versions (tar -r)
                with open(os.path.join(layer, "files/size-513"), "wb") as w:
                    w.write(b"replaced by a later entry\n")
                os.chmod(os.path.join(layer, "dirs/sticky"), 0o755)
                os.unlink(os.path.join(layer, "links/rel"))
                with open(os.path.join(layer, "links/rel"), "wb") as w:
                    w.write(b"was a symlink\n")
                shutil.rmtree(os.path.join(layer, "long"))
                with open(os.path.join(layer, "long"), "wb") as w:
                    w.write(b"was a directory\n")
                os.unlink(os.path.join(layer, "hard/same-dir"))
                with open(os.path.join(layer, "hard/same-dir"), "wb") as w:
                    w.write(b"no longer a hard link\n")
                # the first name of a hard link group replaced: the other names keep the old inode
                os.unlink(os.path.join(layer, "hard/orig"))
                with open(os.path.join(layer, "hard/orig"), "wb") as w:
                    w.write(b"a new hard/orig\n")
                os.link(os.path.join(layer, "hard/orig"), os.path.join(layer, "hard/new-link"))
                os.chmod(layer, 0o700)
                changed = ["files/size-513", "links/rel", "long", "hard/same-dir", "dirs/sticky", "hard/orig", "hard/new-link", "."]
                for p in changed:
                    os.utime(os.path.join(layer, p), ns=(ns(1750000000), ns(1750000000)), follow_symlinks=False)
                run(["tar", *GNU_COMMON, "--format=posix", *PAX_STABLE, "--no-recursion", "-rf", f, "-C", layer, *changed])
                source = layer
                notes = ("duplicates: a file replaced, a directory's and the root's mode changed, a symlink and a directory replaced by files, "
                         "a hard link broken, the first name of a hard link group replaced and linked again")
            elif name == "bsdtar-pax":
                bsdtar(f, src["full"], "--format=pax")
            elif name == "bsdtar-paxr":
                bsdtar(f, src["full"])
            elif name == "bsdtar-gnutar":
                bsdtar(f, src["full"], "--format=gnutar")
                notes = "libarchive's gnutar writer leaves out dev/big (minor 1048575 too large) with a warning, exit status 0"
            elif name == "bsdtar-ustar":
                bsdtar(f, src["ustar"], "--format=ustar")
                source = src["ustar"]
            elif name == "bsdtar-v7":
                bsdtar(f, src["v7"], "--format=v7")
                source = src["v7"]
            elif name == "py-gnu":
                py_tar(f, src["full"], tarfile.GNU_FORMAT)
            elif name == "py-pax":
                py_tar(f, src["full"], tarfile.PAX_FORMAT, xattrs=True)
            elif name == "py-pax-global":
                py_tar(f, src["v7"], tarfile.PAX_FORMAT, xattrs=True, pax_headers={
                    "comment": "erofs-kit corpus", "uid": "4242", "gid": "2424", "mtime": "1234567890.5", "SCHILY.xattr.user.global": "from the global header"})
                source = src["v7"]
                notes = "global header: uid 4242, gid 2424, mtime 1234567890.5, user.global xattr, for every member without its own record"
            elif name.startswith("py-pax-libarchive-xattr"):
                py_libarchive_xattrs(f, short=name.endswith("-short"))
                source = ""
            elif name == "py-ustar":
                py_tar(f, src["ustar"], tarfile.USTAR_FORMAT)
                source = src["ustar"]
            elif name == "node-tar":
                js = ("require('tar').c({ file: process.argv[1], cwd: process.argv[2], sync: true, portable: false, noMtime: false }, ['.'])")
                # node-tar handles names as strings: the ustar tree has no non-UTF-8 names.
                run(["node", "-e", js, f, src["ustar"]], cwd=CLI_DIR)
                source = src["ustar"]
            elif name == "debootstrap-rootfs-gzip":
                root = debootstrap_tree(out, log)
                plain = os.path.join(out, "debootstrap-rootfs.tar")
                gnu_tar(plain, root, "--format=posix", *PAX_STABLE, "--xattrs", "--xattrs-include=*")
                f = os.path.join(out, name + ".tar.gz")
                gzip_file(plain, f, 6)
                os.unlink(plain)
                gz = True
                source = root
                notes = "a real distribution tree: setuid binaries, device nodes, hard links, long paths"
            elif name in ("umoci-base", "umoci-diff"):
                layers = umoci_layers(out, src["ustar"])
                f = os.path.join(out, name + ".tar.gz")
                shutil.copyfile(layers[0 if name == "umoci-base" else 1], f)
                gz = True
                source = src["ustar"] if name == "umoci-base" else ""
                if name == "umoci-diff":
                    notes = "whiteouts for links/rel and the directory long, a new file new-in-layer-2"
            elif name == "busybox":
                run(["busybox", "tar", "-c", "-f", f, "-C", src["ustar"], "."])
                source = src["ustar"]
            elif name == "git-archive":
                repo = os.path.join(out, "src-git")
                os.makedirs(repo)
                env = dict(os.environ, GIT_AUTHOR_DATE="1700000000 +0000", GIT_COMMITTER_DATE="1700000000 +0000",
                           GIT_AUTHOR_NAME="corpus", GIT_AUTHOR_EMAIL="corpus@example.invalid",
                           GIT_COMMITTER_NAME="corpus", GIT_COMMITTER_EMAIL="corpus@example.invalid",
                           GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
                for rel, data in (("README", b"git archive\n"), ("src/main.c", b"int main(){return 0;}\n"),
                                  ("p" * 60 + "/" + "q" * 70 + "/long-name.txt", b"long\n"), ("bin/run", b"#!/bin/sh\n")):
                    os.makedirs(os.path.dirname(os.path.join(repo, rel)) or repo, exist_ok=True)
                    with open(os.path.join(repo, rel), "wb") as w:
                        w.write(data)
                os.chmod(os.path.join(repo, "bin/run"), 0o755)
                os.symlink("src/main.c", os.path.join(repo, "link"))
                for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "corpus"]):
                    subprocess.run(["git", *cmd], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
                with open(f, "wb") as w:
                    subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=repo, env=env, check=True, stdout=w)
                source = repo
            elif name == "oci-whiteouts":
                gnu_tar(f, src["oci"], "--format=posix", *PAX_STABLE)
                source = src["oci"]
            elif name == "oci-whiteouts-plain":
                f = os.path.join(out, "oci-whiteouts.tar")
                if not os.path.exists(f):
                    raise RuntimeError("oci-whiteouts.tar was not built")
                source = src["oci"]
            elif name == "oci-python-whiteouts":
                py_oci(f)
                source = ""
            elif name == "synthetic-layer":
                gnu_tar(f, src["synthetic"], "--format=posix", *PAX_STABLE)
                source = src["synthetic"]
            else:
                raise RuntimeError("no recipe for " + name)
        except Exception as e:  # a tool that is present but fails is an error of the corpus
            raise SystemExit("make-corpus: %s: %s" % (name, e))
        tars.append({"name": name, "file": f, "gzip": gz, "aufs": aufs, "tool": desc, "source": source, "notes": notes, "mirrors": name in MIRRORS})
        log("built %s (%d bytes)" % (name, os.path.getsize(f)))
    with open(os.path.join(out, "manifest.json"), "w") as w:
        json.dump({"tars": tars, "skipped": skipped}, w, indent=1)


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        json.dump([{"name": n, "aufs": a, "tool": d, "mirrors": n in MIRRORS} for n, a, _, d in PLAN], sys.stdout)
        sys.stdout.write("\n")
        return 0
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    build(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
