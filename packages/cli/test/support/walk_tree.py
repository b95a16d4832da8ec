#!/usr/bin/env python3
"""Walks a directory tree without following symlinks and prints one JSON document
describing every entry, as the kernel (or whatever filesystem holds the tree) reports it.

Usage: walk_tree.py ROOT

Output: {"root": ROOT, "entries": [ENTRY, ...]} where every ENTRY has
  path      hex of the path bytes relative to ROOT, starting with "/" (the root is "/")
  type      dir | reg | lnk | chr | blk | fifo | sock | unknown
  mode      st_mode (type bits and all 12 permission bits)
  uid, gid, nlink, ino, size
  mtime     seconds (floor, may be negative), mtime_nsec in [0, 1e9)
  target    hex of the symlink target bytes (symlinks only)
  rdev      [major, minor] (character and block devices only)
  xattrs    [[name hex, value hex], ...] sorted by name, from llistxattr/lgetxattr
  sha256    hex digest of the content (regular files only)
  errors    {field: "message"} for anything the filesystem refused to give us
Paths, names and values are bytes-exact: every byte string is printed as hex.
"""
import hashlib
import json
import os
import stat
import sys

TYPES = (
    (stat.S_ISDIR, "dir"),
    (stat.S_ISREG, "reg"),
    (stat.S_ISLNK, "lnk"),
    (stat.S_ISCHR, "chr"),
    (stat.S_ISBLK, "blk"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "sock"),
)


def type_of(mode):
    for test, name in TYPES:
        if test(mode):
            return name
    return "unknown"


def describe_error(e):
    code = getattr(e, "errno", None)
    name = os.strerror(code) if isinstance(code, int) else type(e).__name__
    return "%s (errno %s)" % (name, code)


def sha256_of(path):
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NOATIME", 0))
    try:
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            h.update(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()


def xattrs_of(path, errors):
    out = []
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        errors["xattrs"] = "listxattr: " + describe_error(e)
        return out
    for name in names:
        raw_name = os.fsencode(name)
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError as e:
            errors["xattr " + raw_name.hex()] = "getxattr: " + describe_error(e)
            continue
        out.append([raw_name.hex(), value.hex()])
    out.sort()
    return out


def describe(full, rel):
    st = os.lstat(full)
    kind = type_of(st.st_mode)
    sec, nsec = divmod(st.st_mtime_ns, 1_000_000_000)
    errors = {}
    entry = {
        "path": rel.hex(),
        "type": kind,
        "mode": st.st_mode,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "nlink": st.st_nlink,
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime": sec,
        "mtime_nsec": nsec,
    }
    if kind == "lnk":
        try:
            entry["target"] = os.readlink(full).hex()
        except OSError as e:
            errors["target"] = "readlink: " + describe_error(e)
    if kind in ("chr", "blk"):
        entry["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
    entry["xattrs"] = xattrs_of(full, errors)
    if kind == "reg":
        try:
            entry["sha256"] = sha256_of(full)
        except OSError as e:
            errors["sha256"] = "read: " + describe_error(e)
    if errors:
        entry["errors"] = errors
    return entry


def walk(root):
    entries = []
    # (full path, path relative to root starting with "/")
    stack = [(root, b"/")]
    while stack:
        full, rel = stack.pop()
        entry = describe(full, rel)
        entries.append(entry)
        if entry["type"] != "dir":
            continue
        try:
            names = sorted(os.listdir(full))
        except OSError as e:
            entry.setdefault("errors", {})["readdir"] = "listdir: " + describe_error(e)
            continue
        base = rel if rel.endswith(b"/") else rel + b"/"
        for name in reversed(names):
            stack.append((os.path.join(full, name), base + name))
    return entries


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: walk_tree.py ROOT\n")
        return 2
    root = os.fsencode(argv[1])
    if not stat.S_ISDIR(os.lstat(root).st_mode):
        sys.stderr.write("walk_tree.py: %s is not a directory\n" % argv[1])
        return 2
    json.dump({"root": argv[1], "entries": walk(root)}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
