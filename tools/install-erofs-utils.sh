#!/usr/bin/env bash
# Installs the reference tools for differential tests: erofs-utils 1.8.6 as mkfs.erofs18,
# dump.erofs18 and fsck.erofs18. Debian 12 ships erofs-utils 1.5 (no tar index, no 512-byte
# blocks), so the binaries and the libraries they link come from Debian 13 ("trixie")
# packages, unpacked under $PREFIX and run through trixie's own dynamic loader; the system's
# libc is untouched. Needs root and the Debian mirror. Safe to run again: it only checks.
set -euo pipefail
PREFIX=${PREFIX:-/opt/erofs-utils-1.8}
BIN=${BIN:-/usr/local/bin}
WANT=1.8.6

if "$BIN/mkfs.erofs18" -V 2>/dev/null | grep -qF "$WANT"; then
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/sources" "$tmp/state/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs"
printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  >"$tmp/sources/trixie.sources"
apt=(apt-get -qq -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$tmp/sources"
  -o "Dir::State::Lists=$tmp/state/lists" -o "Dir::Cache::Archives=$tmp/cache/archives"
  -o APT::Sandbox::User=root)
"${apt[@]}" update
# erofs-utils and every shared library its binaries load, all from trixie.
(cd "$tmp/debs" && "${apt[@]}" download erofs-utils libc6 libdeflate0 liblz4-1 liblzma5 \
  libselinux1 libpcre2-8-0 libuuid1 libxxhash0 libzstd1 zlib1g)
mkdir -p "$PREFIX"
for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$PREFIX"; done
libdir=$PREFIX/usr/lib/x86_64-linux-gnu
for tool in mkfs dump fsck; do
  printf '#!/bin/sh\nexec %s --library-path %s %s "$@"\n' \
    "$libdir/ld-linux-x86-64.so.2" "$libdir" "$PREFIX/usr/bin/$tool.erofs" >"$BIN/$tool.erofs18"
  chmod 755 "$BIN/$tool.erofs18"
done
"$BIN/mkfs.erofs18" -V | grep -qF "$WANT" || { echo "installed erofs-utils is not $WANT" >&2; exit 1; }
"$BIN/mkfs.erofs18" -V
