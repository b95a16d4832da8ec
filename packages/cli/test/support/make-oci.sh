#!/bin/bash
# Makes an OCI image layout with umoci in $1/img, tag "t": three layers from rootfs trees
# (files of every type, owners, modes, xattrs, hard links; then deletions, a replaced
# directory, a rewritten file) and a fourth, hand-written tar added with `umoci raw add-layer`
# whose `.wh..wh..opq` makes a directory opaque. Needs root (device nodes, owners).
set -euo pipefail
cd "$1"
umoci init --layout img
umoci new --image img:t
B=bundle
R=$B/rootfs
step() { umoci repack --image img:t "$B"; rm -rf "$B"; umoci unpack --image img:t "$B" >/dev/null; }
umoci unpack --image img:t "$B" >/dev/null

# layer 1: the base tree
mkdir -p $R/etc $R/opt/keep/deep $R/data/sub $R/usr/bin $R/var/empty
echo hello > $R/etc/hostname
echo a > $R/opt/keep/a
echo b > $R/opt/keep/b
echo d > $R/opt/keep/deep/d
echo x > $R/data/x
echo y > $R/data/sub/y
head -c 200000 /dev/urandom > $R/usr/bin/big
ln $R/usr/bin/big $R/usr/bin/big-link
ln -s ../etc/hostname $R/usr/host
mkfifo $R/usr/fifo
mknod $R/usr/null c 1 3
mknod $R/usr/blk b 7 200
: > $R/usr/empty
chown 1000:1001 $R/etc/hostname
chown 5:6 $R/var/empty
chmod 4755 $R/usr/bin/big
chmod 1777 $R/var/empty
setfattr -n user.foo -v bar $R/etc/hostname
setfattr -n user.dir -v 1 $R/opt/keep
touch -h -d '2020-02-02 02:02:02.123456789' $R/usr/host
step

# layer 2: deletions (file, directory tree), a directory replaced by a file, a rewrite
rm $R/data/x
rm -r $R/data/sub
rm -r $R/opt/keep/deep
echo new > $R/etc/hostname
rm -r $R/var/empty
echo now-a-file > $R/var/empty
echo added > $R/opt/keep/added
chmod 700 $R/opt
step

# layer 3: a file replaced by a directory, a new hard link pair, a symlink retargeted
rm $R/usr/empty
mkdir $R/usr/empty
echo inside > $R/usr/empty/f
echo pair > $R/etc/p1
ln $R/etc/p1 $R/etc/p2
rm $R/usr/host
ln -s bin/big $R/usr/host
step

# layer 4 (hand-written): /opt/keep opaque, holding only z
mkdir -p l4/opt/keep
: > l4/opt/keep/.wh..wh..opq
echo z > l4/opt/keep/z
touch -d '2021-01-01 00:00:00' l4/opt l4/opt/keep l4/opt/keep/z l4/opt/keep/.wh..wh..opq
tar -C l4 -cf l4.tar --owner=0 --group=0 --numeric-owner --mode=go-w ./opt
umoci raw add-layer --image img:t l4.tar
rm -rf "$B" l4 l4.tar
