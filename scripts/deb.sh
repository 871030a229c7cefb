#!/usr/bin/env bash
# Builds bin/peercall_VERSION_ARCH.deb with dpkg-deb from `make install`
# into a staging root (PREFIX=/usr), and runs lintian on it when present.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${VERSION:-0.1.0}
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# Position-independent, stripped binaries, as Debian's hardening wants.
install -d "$stage/build"
go build -buildmode=pie -trimpath -ldflags "-s -w -linkmode=external -extldflags=-Wl,-z,relro,-z,now" -o "$stage/build/" ./cmd/...
PREFIX=/usr DESTDIR="$stage" BIN="$stage/build" bash scripts/install.sh
rm -rf "$stage/build"
mv "$stage/usr/share/doc/peercall" "$stage/usr/share/doc/peercall.tmp"
install -d "$stage/usr/share/doc/peercall" "$stage/DEBIAN"
cp "$stage/usr/share/doc/peercall.tmp/"* "$stage/usr/share/doc/peercall/"
rm -rf "$stage/usr/share/doc/peercall.tmp"
gzip -9n <<<"peercall ($version) unstable; urgency=medium

  * Package built from the repository.

 -- peercall maintainers <maintainers@peercall.invalid>  $(date -R)" >"$stage/usr/share/doc/peercall/changelog.gz"
cat >"$stage/usr/share/doc/peercall/copyright" <<'COPY'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: peercall
Files: *
Copyright: 2024-2026 peercall maintainers
License: see the repository
COPY
size=$(du -sk "$stage/usr" | cut -f1)
cat >"$stage/DEBIAN/control" <<CTRL
Package: peercall
Version: $version
Architecture: $arch
Maintainer: peercall maintainers <maintainers@peercall.invalid>
Installed-Size: $size
Depends: libc6, libportaudio2, libopus0, libwebrtc-audio-processing1 | libwebrtc-audio-processing-1-3
Section: net
Priority: optional
Homepage: https://peercall.invalid/
Description: peer-to-peer voice calls with contacts and a local web interface
 peercall finds users through a central directory and a Kademlia DHT and
 calls them peer to peer (Opus over WebRTC), through super-node relays
 when needed. The node serves a web interface on 127.0.0.1. Installing
 does not start anything: peercall autostart on enables the user unit.
CTRL
out="bin/peercall_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$out" >&2
echo "built $out" >&2
if command -v lintian >/dev/null; then lintian --no-tag-display-limit "$out" || true; fi
