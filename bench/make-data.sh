#!/usr/bin/env bash
# Builds the benchmark's input data outside the git tree.
#
#   sudo bash bench/make-data.sh [WORK_DIR]        (default /var/tmp/erofs-kit-bench,
#                                                  or $EROFS_BENCH_WORK)
#   sudo bash bench/make-data.sh --rootfs-only [WORK_DIR]
#                                                  only rootfs/ and rootfs.erofs (what CI makes
#                                                  for the VS Code performance test)
#   FORCE=1 sudo bash bench/make-data.sh          rebuild the small-file tree, the images
#                                                  and the tar
#                                                  (the debootstrap tree is always kept)
#
# Produces in WORK_DIR:
#   rootfs/          Debian bookworm, debootstrap --variant=minbase (cached)
#   rootfs.erofs     its EROFS image: 4 KiB blocks, uncompressed
#   rootfs-lz4hc.erofs, rootfs-zstd.erofs   the same, compressed (-zlz4hc, -zzstd)
#   small/           200,000 entries of deterministic small files (bench/gen-small-tree.mjs)
#   small.erofs      its EROFS image: 4 KiB blocks, uncompressed
#   *.erofs.log      mkfs output (a progress line per file)
#   files.tar        small/ as a pax tar
#   meta.erofs       tar-index image of files.tar (mkfs.erofs --tar=i); needs files.tar
#                    as its extra device when read
#   huge/            a few huge files: 2 x 256 MiB of incompressible bytes (AES-CTR of
#                    zeros, fixed key), 512 MiB of text, 1 empty file
#   rootfs.tar       rootfs/ as a GNU tar; huge.tar: huge/ as a pax tar
#   *.tar.gz         gzip -6 of files.tar, rootfs.tar and huge.tar
#
# Needs root (debootstrap), debootstrap, mkfs.erofs18 (erofs-utils 1.8.6), GNU tar, node.
set -euo pipefail
umask 022

ROOTFS_ONLY=0
if [[ ${1:-} == --rootfs-only ]]; then ROOTFS_ONLY=1; shift; fi
WORK=${1:-${EROFS_BENCH_WORK:-/var/tmp/erofs-kit-bench}}
SMALL_FILES=${SMALL_FILES:-200000}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
FORCE=${FORCE:-0}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MKFS=${MKFS_EROFS:-mkfs.erofs18}

need() { command -v "$1" >/dev/null || { echo "missing: $1 ($2)" >&2; exit 1; }; }
need "$MKFS" "run tools/install-erofs-utils.sh"
need debootstrap "apt-get install -y debootstrap"
need node "Node.js 20+"
need openssl "apt-get install -y openssl"
need gzip "apt-get install -y gzip"
tar --version | head -1 | grep -q GNU || { echo "GNU tar is needed" >&2; exit 1; }
if [[ $(id -u) -ne 0 ]]; then echo "run as root (debootstrap, device nodes)" >&2; exit 1; fi

mkdir -p "$WORK"
cd "$WORK"
log() { printf '\n== %s\n' "$*"; }

# (a) Debian rootfs ---------------------------------------------------------------
# debootstrap writes into rootfs.partial and the directory is renamed only on
# success, so an interrupted run is never mistaken for a finished one.
if [[ -d rootfs ]]; then
  log "rootfs/ present, skipping debootstrap"
else
  log "debootstrap --variant=minbase bookworm (a few minutes)"
  rm -rf rootfs.partial
  debootstrap --variant=minbase bookworm rootfs.partial "$MIRROR"
  # drop the downloaded .debs: they are not part of an installed system
  rm -f rootfs.partial/var/cache/apt/archives/*.deb
  mv rootfs.partial rootfs
  rm -f rootfs.erofs
fi

# $1 image, $2.. mkfs arguments after the image
build_image() {
  local img=$1; shift
  if [[ -f $img && $FORCE != 1 ]]; then
    log "$img present, skipping"
    return
  fi
  log "$MKFS $img $*"
  rm -f "$img.tmp"
  # mkfs prints a progress line per file on stdout: keep it out of the terminal
  "$MKFS" "$img.tmp" "$@" >"$img.log"
  tail -n 20 "$img.log" | grep -v '^Processing' || true
  mv "$img.tmp" "$img"
}

build_image rootfs.erofs -b4096 rootfs/
if [[ $ROOTFS_ONLY == 1 ]]; then
  printf '%s: %s bytes\n' "$WORK/rootfs.erofs" "$(stat -c %s rootfs.erofs)"
  exit 0
fi
build_image rootfs-lz4hc.erofs -b4096 -zlz4hc rootfs/
build_image rootfs-zstd.erofs -b4096 -zzstd rootfs/

# (b) many small files ------------------------------------------------------------
if [[ -d small && $FORCE != 1 ]]; then
  log "small/ present, skipping"
else
  log "generating $SMALL_FILES small files"
  rm -rf small small.partial
  node "$HERE/gen-small-tree.mjs" small.partial "$SMALL_FILES"
  mv small.partial small
  rm -f small.erofs files.tar meta.erofs
fi

build_image small.erofs -b4096 small/

if [[ -f files.tar && $FORCE != 1 ]]; then
  log "files.tar present, skipping"
else
  log "tar --format=pax small/ -> files.tar"
  rm -f files.tar.tmp meta.erofs
  # sorted, numeric ids and no atime/ctime records, so the archive is reproducible
  tar --format=pax --sort=name --numeric-owner --owner=0 --group=0 \
    --pax-option=delete=atime,delete=ctime -C small -cf files.tar.tmp .
  mv files.tar.tmp files.tar
fi

build_image meta.erofs --tar=i files.tar

# (c) a few huge files -------------------------------------------------------------
if [[ -d huge && $FORCE != 1 ]]; then
  log "huge/ present, skipping"
else
  log "generating huge/ (1 GiB)"
  rm -rf huge huge.partial
  mkdir huge.partial
  # the producers die of SIGPIPE when head has enough: check the sizes instead
  set +o pipefail
  for i in 1 2; do
    openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv "0000000000000000000000000000000$i" </dev/zero 2>/dev/null \
      | head -c $((256 << 20)) >"huge.partial/random-$i.bin"
  done
  yes 'erofs-kit benchmark: a line of text that compresses well, repeated' | head -c $((512 << 20)) >huge.partial/text.log
  set -o pipefail
  for f in random-1.bin random-2.bin text.log; do
    [[ $(stat -c %s "huge.partial/$f") -gt $((255 << 20)) ]] || { echo "huge/$f came out short" >&2; exit 1; }
  done
  : >huge.partial/empty
  touch -d '2024-01-01 00:00:00 UTC' huge.partial/* huge.partial
  mv huge.partial huge
  rm -f huge.tar huge.tar.gz
fi

# tars of the trees, and their gzips ------------------------------------------------
# $1 tar, $2 source directory, $3.. extra tar options
make_tar() {
  local t=$1 dir=$2; shift 2
  if [[ -f $t && $FORCE != 1 ]]; then
    log "$t present, skipping"
    return
  fi
  log "tar $dir -> $t"
  rm -f "$t.tmp" "$t.gz"
  tar --sort=name --numeric-owner "$@" -C "$dir" -cf "$t.tmp" .
  mv "$t.tmp" "$t"
}
make_tar rootfs.tar rootfs
make_tar huge.tar huge --format=pax --pax-option=delete=atime,delete=ctime
for t in files.tar rootfs.tar huge.tar; do
  if [[ -f $t.gz && $FORCE != 1 ]]; then
    log "$t.gz present, skipping"
  else
    log "gzip -6 $t"
    gzip -6 -c "$t" >"$t.gz.tmp"
    mv "$t.gz.tmp" "$t.gz"
  fi
done

# sizes ----------------------------------------------------------------------------
log "sizes in $WORK"
count() { find "$1" | wc -l; }
printf '%-14s %10s %10s\n' "item" "size" "entries"
printf '%-14s %10s %10s\n' "rootfs/" "$(du -sh --apparent-size rootfs | cut -f1)" "$(count rootfs)"
printf '%-14s %10s %10s\n' "small/" "$(du -sh --apparent-size small | cut -f1)" "$(count small)"
printf '%-14s %10s %10s\n' "huge/" "$(du -sh --apparent-size huge | cut -f1)" "$(count huge)"
for f in rootfs.erofs rootfs-lz4hc.erofs rootfs-zstd.erofs small.erofs files.tar meta.erofs rootfs.tar huge.tar files.tar.gz rootfs.tar.gz huge.tar.gz; do
  printf '%-14s %10s\n' "$f" "$(du -h --apparent-size "$f" | cut -f1)"
done
