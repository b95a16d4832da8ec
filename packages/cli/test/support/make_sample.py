#!/usr/bin/env python3
"""Creates a small source tree exercising what the differential test compares: every file
type, all 12 permission bits, large ids, negative and sub-second mtimes, hardlinks,
non-UTF-8 names and symlink targets, xattrs of every kernel-visible namespace, files of
inline / block / multi-block sizes, and a directory spanning several blocks.

Usage: make_sample.py DIR   (DIR must not exist; needs root for devices and ownership)
"""
import os
import socket
import stat
import struct
import sys


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def main(root):
    os.mkdir(root)
    j = lambda *p: os.path.join(root, *p)

    # Regular files of assorted sizes.
    write(j("empty"), b"")
    write(j("small.txt"), b"hello, erofs\n")
    write(j("block4096"), bytes(range(256)) * 16)
    write(j("block4097"), bytes(range(256)) * 16 + b"!")
    write(j("multi.bin"), bytes((i * 7 + 3) & 0xFF for i in range(3 * 4096 + 1234)))
    write(j("zeros.bin"), bytes(20000))

    # Every special permission bit.
    write(j("setuid"), b"#!/bin/sh\n", 0o4755)
    write(j("setgid"), b"#!/bin/sh\n", 0o2711)
    write(j("sticky-exec"), b"x", 0o1777)
    write(j("no-perms"), b"secret", 0o000)
    os.mkdir(j("sticky-dir"))
    os.chmod(j("sticky-dir"), 0o1777)
    os.mkdir(j("setgid-dir"))
    os.chmod(j("setgid-dir"), 0o2750)

    # Ownership beyond 16 bits (forces extended inodes).
    write(j("big-ids"), b"ids\n")
    os.chown(j("big-ids"), 100000, 200000)
    write(j("owned"), b"owned\n")
    os.chown(j("owned"), 1000, 1001)

    # Hardlinks, one across directories.
    os.mkdir(j("links"))
    write(j("links", "a"), b"shared content\n")
    os.link(j("links", "a"), j("links", "b"))
    os.link(j("links", "a"), j("hardlink-top"))

    # Symlinks: short, long (not inline), dangling, non-UTF-8 target.
    os.symlink(b"small.txt", os.fsencode(j("sym-short")))
    os.symlink(b"x" * 300, os.fsencode(j("sym-long")))
    os.symlink(b"/nonexistent/target", os.fsencode(j("sym-dangling")))
    os.symlink(b"bad-\xff\xfe-target", os.fsencode(j("sym-binary")))

    # Special files.
    os.mknod(j("chr"), stat.S_IFCHR | 0o620, os.makedev(4, 64))
    os.mknod(j("blk"), stat.S_IFBLK | 0o660, os.makedev(259, 1048575 & 0xFFFFF))
    os.mknod(j("fifo"), stat.S_IFIFO | 0o600)
    for name, perm in (("chr", 0o620), ("blk", 0o660), ("fifo", 0o604)):
        os.chmod(j(name), perm)  # mknod applies the umask
    s = socket.socket(socket.AF_UNIX)
    s.bind(j("sock"))
    s.close()

    # Names: non-UTF-8 bytes, UTF-8, a backslash, the longest allowed.
    os.mkdir(j("names"))
    for name in (b"caf\xc3\xa9", b"raw-\xff\x80", b"back\\slash", b"n" * 255, b" space", b"-dash"):
        write(os.path.join(os.fsencode(j("names")), name), name)

    # A directory spanning several blocks.
    os.mkdir(j("many"))
    for i in range(600):
        write(j("many", "entry-%04d-%s" % (i, "p" * (i % 40))), b"%d\n" % i)

    # Xattrs in the kernel-visible namespaces (and a long value, and on a symlink).
    write(j("xattrs"), b"with xattrs\n")
    os.setxattr(j("xattrs"), "user.plain", b"value")
    os.setxattr(j("xattrs"), "user.empty", b"")
    os.setxattr(j("xattrs"), "user.binary", bytes(range(256)))
    os.setxattr(j("xattrs"), "trusted.overlay.opaque", b"y")
    os.setxattr(j("xattrs"), "security.capability", bytes.fromhex("0100000200000000000000000000000000000000"))
    os.setxattr(j("sticky-dir"), "user.dir", b"on a directory")
    os.setxattr(j("sym-short"), "trusted.on-symlink", b"1", follow_symlinks=False)
    for i in range(4):  # the same pair on several files: mkfs shares it
        write(j("shared-%d" % i), b"%d" % i)
        os.setxattr(j("shared-%d" % i), "user.shared", b"common value")
    # A POSIX ACL (system.posix_acl_access): user::rw- user:1000:r-- group::r-- mask::r-- other::---
    acl = struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, ident)
        for tag, perm, ident in ((0x01, 6, 0xFFFFFFFF), (0x02, 4, 1000), (0x04, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF))
    )
    write(j("acl"), b"acl\n", 0o640)
    os.setxattr(j("acl"), "system.posix_acl_access", acl)

    # Timestamps: negative, sub-second, far future (set last, children before parents).
    os.utime(j("small.txt"), ns=(0, 1_700_000_000_123_456_789))
    os.utime(j("multi.bin"), ns=(0, -1_000_000_000 * 86400 * 365 - 250_000_000))
    os.utime(j("big-ids"), ns=(0, 4_102_444_800_000_000_001))
    os.utime(j("sym-short"), ns=(0, 1_600_000_000_999_999_999), follow_symlinks=False)
    os.utime(j("block4096"), ns=(0, -1_000_000_000))  # whole negative seconds
    os.utime(j("setgid-dir"), ns=(0, -86_400_000_000_000))
    os.utime(j("fifo"), ns=(0, 1_500_000_000_000_000_000))
    os.utime(j("names"), ns=(0, 1_650_000_000_500_000_000))
    os.utime(root, ns=(0, 1_690_000_000_000_000_000))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: make_sample.py DIR\n")
        sys.exit(2)
    main(sys.argv[1])
