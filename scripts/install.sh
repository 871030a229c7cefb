#!/usr/bin/env bash
# Installs peercall into $DESTDIR$PREFIX (make install; make deb uses it):
# both binaries, the systemd user unit of `peercall run` and the hardened
# system unit of peercall-directory (neither is enabled: `peercall autostart
# on` enables the node for a user), the desktop entry, bash completion and the docs.
# Uninstalling (make uninstall) leaves every user's ~/.peercall in place.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BIN=${BIN:-bin}
bindir=$PREFIX/bin
if [ "$PREFIX" = /usr ]; then unitdir=/usr/lib/systemd; else unitdir=$PREFIX/lib/systemd; fi
root=$DESTDIR
sub() { sed "s#@BINDIR@#$bindir#g" "$1"; }
install -d "$root$bindir" "$root$unitdir/user" "$root$unitdir/system" \
	"$root$PREFIX/share/applications" "$root$PREFIX/share/doc/peercall" \
	"$root$PREFIX/share/bash-completion/completions"
install -m 0755 "$BIN/peercall" "$BIN/peercall-directory" "$root$bindir/"
sub packaging/peercall.service >"$root$unitdir/user/peercall.service"
sub packaging/peercall-directory.service >"$root$unitdir/system/peercall-directory.service"
sub packaging/peercall.desktop >"$root$PREFIX/share/applications/peercall.desktop"
chmod 0644 "$root$unitdir/user/peercall.service" "$root$unitdir/system/peercall-directory.service" \
	"$root$PREFIX/share/applications/peercall.desktop"
install -m 0644 packaging/peercall.bash-completion "$root$PREFIX/share/bash-completion/completions/peercall"
install -m 0644 README.md docs/*.md "$root$PREFIX/share/doc/peercall/"
echo "installed peercall into $root$PREFIX (units not enabled; run \`peercall autostart on\` to start the node with your session)" >&2
