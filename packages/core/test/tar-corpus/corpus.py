#!/usr/bin/env python3
"""Tar differential corpus for packages/core/test/tar-differential.test.ts.

  corpus.py build OUTDIR        make a source tree and archives of it with every tar tool found;
                                writes OUTDIR/manifest.json (archives built, tools missing)
  corpus.py describe ARCHIVE    print, as JSON, what Python's tarfile (the oracle) reads in it

Nothing here is committed output: the test runs `build` into a fresh temp dir each time.
Byte strings are printed as hex so that non-UTF-8 names survive.
"""
import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.parse


def det_bytes(seed, n):
    """Deterministic pseudo-random bytes."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def write(path, data, mtime_ns=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def make_sparse(path, size, segments):
    """A file of `size` bytes whose only data are `segments` [(offset, length)]; the rest are holes."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
        for off, length in segments:
            f.seek(off)
            f.write(det_bytes(f"{path}:{off}", length))


def build_tree(root, notes):
    """The source tree. Returns names of optional parts that could not be made."""
    T = 1577836800  # 2020-01-01
    write(f"{root}/a.txt", b"hello\n", T * 10**9)
    write(f"{root}/empty", b"", T * 10**9)
    write(f"{root}/bin.dat", det_bytes("bin", 3000), T * 10**9)
    write(f"{root}/block-exact", det_bytes("exact", 1024), T * 10**9)
    write(f"{root}/dir/sub/file", b"nested\n", T * 10**9)
    # a 100-byte name: the ustar name field is full, no NUL
    write(f"{root}/{'n' * 100}", b"hundred\n", T * 10**9)
    # > 100 bytes but splittable for ustar (prefix <= 155, name <= 100): 60/60/90 = 212 bytes
    write(f"{root}/{'d' * 60}/{'e' * 60}/{'f' * 90}", b"prefix\n", T * 10**9)
    # > 255 bytes: GNU L records or pax path only
    write(f"{root}/{'g' * 120}/{'h' * 120}/{'i' * 120}", b"very long\n", T * 10**9)
    write(f"{root}/ünïcødé.txt", b"utf-8 name\n", T * 10**9)
    # sub-second and negative mtimes (-86400.5 s is 1969-12-31T00:00:00.5 minus a second)
    write(f"{root}/subsec", b"subsec\n", T * 10**9 + 123456789)
    write(f"{root}/negative", b"negative\n", -86400 * 10**9 - 500000000)
    write(f"{root}/negative-whole", b"negative whole\n", -315619200 * 10**9)
    os.symlink("a.txt", f"{root}/link")
    os.symlink("t" * 150 + "/target", f"{root}/longlink")
    os.link(f"{root}/a.txt", f"{root}/hard")
    os.mkfifo(f"{root}/fifo")
    os.makedirs(f"{root}/emptydir")
    os.utime(f"{root}/fifo", ns=(T * 10**9, T * 10**9))
    try:
        os.mknod(f"{root}/chr", 0o600 | 0o020000, os.makedev(1, 3))
        os.mknod(f"{root}/blk", 0o600 | 0o060000, os.makedev(7, 300))
    except OSError as e:
        notes.append(f"devices: {e}")
    # sparse: 30 data segments (more than the 4 + 21 of one old GNU header and extension block)
    make_sparse(f"{root}/sparse/many", 1 << 20, [(i * 32768 + 4096, 4096) for i in range(30)])
    make_sparse(f"{root}/sparse/tail", 256 << 10, [((256 << 10) - 1000, 1000)])
    make_sparse(f"{root}/sparse/head", 256 << 10, [(0, 5000)])
    make_sparse(f"{root}/sparse/hole", 256 << 10, [])
    write(f"{root}/bigid", b"big ids\n", T * 10**9)
    try:
        os.chown(f"{root}/bigid", 3000000, 4000000)
    except OSError as e:
        notes.append(f"uid > 2097151: {e}")
    try:
        os.setxattr(f"{root}/a.txt", "user.test", b"hello")
        os.setxattr(f"{root}/bin.dat", "user.bin", b"\x00\xff\x01binary")
        os.setxattr(f"{root}/bin.dat", "user.empty", b"")
        os.setxattr(f"{root}/dir", "user.dir", b"on a directory")
    except OSError as e:
        notes.append(f"xattrs: {e}")
    # mtimes last (creating entries changes the directories' mtimes)
    for d, _, _ in os.walk(root):
        os.utime(d, ns=(T * 10**9, T * 10**9))


def python_archives(out, root, made):
    """Archives written by Python's tarfile, incl. records only pax_headers can express."""
    T = 1577836800

    def info(name, data=b"", **kw):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mtime = T
        ti.mode = 0o644
        for k, v in kw.items():
            setattr(ti, k, v)
        return ti, data

    def extra(fmt):
        ents = []
        ents.append(info("py/" + "L" * 300, b"long via python\n"))
        lt = tarfile.TarInfo("py/longlink")
        lt.type = tarfile.SYMTYPE
        lt.linkname = "K" * 200
        lt.mtime = T
        ents.append((lt, b""))
        ents.append(info("py/bigid", b"x", uid=3000000, gid=4000000))
        ents.append(info("py/negmtime", b"y", mtime=-100000))
        if fmt == tarfile.PAX_FORMAT:
            ents.append(info("py/fracmtime", b"z", mtime=-86400.5))
            t, d = info("py/xattr", b"x")
            t.pax_headers = {
                "SCHILY.xattr.user.plain": "value",
                "SCHILY.xattr.user.empty": "",
                "LIBARCHIVE.xattr.user.enc%3Dname%25": base64.b64encode(b"\x00\x01\xfe").decode().rstrip("="),
                "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
                "comment": "ignored",
            }
            ents.append((t, d))
            dev = tarfile.TarInfo("py/chr-big")
            dev.type = tarfile.CHRTYPE
            dev.devmajor = 300
            dev.devminor = 70000
            dev.mtime = T
            ents.append((dev, b""))
        if fmt == tarfile.GNU_FORMAT:
            dev = tarfile.TarInfo("py/blk")
            dev.type = tarfile.BLKTYPE
            dev.devmajor = 8
            dev.devminor = 1
            dev.mtime = T
            ents.append((dev, b""))
        return ents

    for fmt, tag in ((tarfile.GNU_FORMAT, "gnu"), (tarfile.PAX_FORMAT, "pax"), (tarfile.USTAR_FORMAT, "ustar")):
        path = f"{out}/python.{tag}.tar"
        kw = {}
        if fmt == tarfile.PAX_FORMAT:
            # a global header: applies to every entry (Python writes it first)
            kw["pax_headers"] = {"comment": "global", "SCHILY.xattr.user.global": "everywhere"}
        with tarfile.open(path, "w", format=fmt, encoding="utf-8", **kw) as tf:
            for name in ("a.txt", "bin.dat", "dir", "link", "hard", "subsec", "sparse/many", "ünïcødé.txt", "d" * 60):
                tf.add(f"{root}/{name}", arcname=name)
            if fmt != tarfile.USTAR_FORMAT:
                for t, d in extra(fmt):
                    tf.addfile(t, io.BytesIO(d))
        made.append({"name": f"python.{tag}", "file": path, "tool": f"python {sys.version.split()[0]} tarfile", "root": root})


def build(out):
    os.makedirs(out, exist_ok=True)
    root = f"{out}/src"
    notes = []
    build_tree(root, notes)
    made = []
    missing = []

    def tool(name, cmd, archive, version_cmd, extra_ok=(0,)):
        """Runs `cmd ARCHIVE .` in the source tree; `extra_ok` lists exit codes that still mean an archive."""
        path = f"{out}/{archive}.tar"
        r = subprocess.run(cmd + [path, "."], capture_output=True, text=True, errors="replace", cwd=root)
        if r.returncode not in extra_ok or not os.path.exists(path) or os.path.getsize(path) == 0:
            missing.append({"tool": name, "archive": archive, "reason": f"exit {r.returncode}: {r.stderr.strip()[:300]}"})
            return
        ver = subprocess.run(version_cmd, capture_output=True, text=True, errors="replace").stdout.splitlines()
        made.append({"name": archive, "file": path, "tool": ver[0] if ver else name, "root": root, "stderr": r.stderr.strip()[:500]})

    gnu = shutil.which("tar")
    is_gnu = False
    if gnu:
        v = subprocess.run([gnu, "--version"], capture_output=True, text=True).stdout
        is_gnu = "GNU tar" in v
    if is_gnu:
        G = [gnu, "--sort=name", "--xattrs", "--xattrs-include=*"]
        # exit 2 = some files could not be stored in this format (long names in ustar/v7, ...):
        # the archive is still written and is what we compare.
        for fmt in ("gnu", "oldgnu", "pax", "ustar", "v7"):
            flags = G if fmt == "pax" else G[:2]
            tool("gnu-tar", flags + [f"--format={fmt}", "-cf"], f"gnu-tar.{fmt}", [gnu, "--version"], (0, 2))
        for fmt in ("gnu", "oldgnu"):
            tool("gnu-tar", [gnu, "--sort=name", "--sparse", f"--format={fmt}", "-cf"], f"gnu-tar.{fmt}-sparse", [gnu, "--version"], (0, 2))
        for ver in ("0.0", "0.1", "1.0"):
            tool("gnu-tar", [gnu, "--sort=name", "--sparse", "--format=pax", f"--sparse-version={ver}", "-cf"], f"gnu-tar.pax-sparse-{ver}", [gnu, "--version"], (0, 2))
        # base-256 numbers for ids too large for octal (gnu only)
        tool("gnu-tar", [gnu, "--sort=name", "--format=gnu", "--owner=big:3000000", "--group=big:4000000", "-cf"], "gnu-tar.gnu-bigid", [gnu, "--version"], (0, 2))
    else:
        missing.append({"tool": "gnu-tar", "reason": "GNU tar not found on PATH"})

    bsd = shutil.which("bsdtar")
    if bsd:
        for fmt in ("pax", "ustar", "gnutar", "v7tar"):
            xattrs = ["--xattrs"] if fmt == "pax" else []
            tool("bsdtar", [bsd, *xattrs, "--format", fmt, "-cf"], f"bsdtar.{fmt}", [bsd, "--version"], (0, 1))
    else:
        missing.append({"tool": "bsdtar", "reason": "bsdtar not found (apt-get install libarchive-tools)"})

    bb = shutil.which("busybox")
    if bb and subprocess.run([bb, "tar", "--help"], capture_output=True).returncode in (0, 1):
        tool("busybox", [bb, "tar", "-cf"], "busybox", [bb], (0, 1))
    else:
        missing.append({"tool": "busybox", "reason": "busybox not found (apt-get install busybox)"})

    python_archives(out, root, made)

    with open(f"{out}/manifest.json", "w") as f:
        json.dump({"archives": made, "missing": missing, "notes": notes}, f, indent=1)


def describe(path):
    out = []
    with tarfile.open(path, "r:", encoding="utf-8", errors="surrogateescape") as tf:
        for t in tf.getmembers():
            enc = lambda s: s.encode("utf-8", "surrogateescape").hex()
            xattrs = {}
            for k, v in t.pax_headers.items():
                if k.startswith("SCHILY.xattr."):
                    xattrs[k[len("SCHILY.xattr."):]] = v.encode("utf-8", "surrogateescape").hex()
            for k, v in t.pax_headers.items():
                if k.startswith("LIBARCHIVE.xattr."):
                    name = urllib.parse.unquote_to_bytes(k[len("LIBARCHIVE.xattr."):]).decode("utf-8", "replace")
                    xattrs[name] = base64.b64decode(v + "=" * (-len(v) % 4)).hex()
            sha = None
            if t.isreg():
                sha = hashlib.sha256(tf.extractfile(t).read()).hexdigest()
            out.append({
                "name": enc(t.name),
                "type": t.type.decode("latin-1"),
                "size": t.size,
                "mode": t.mode,
                "uid": t.uid,
                "gid": t.gid,
                "uname": t.uname,
                "gname": t.gname,
                "mtime": t.mtime,
                "paxMtime": t.pax_headers.get("mtime"),
                "linkname": enc(t.linkname),
                "devmajor": t.devmajor,
                "devminor": t.devminor,
                "offset": t.offset,
                "offset_data": t.offset_data,
                "sparse": [list(s) for s in t.sparse] if t.sparse is not None else None,
                "xattrs": xattrs,
                "sha256": sha,
            })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "build":
        build(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "describe":
        describe(sys.argv[2])
    else:
        sys.exit(__doc__)
