#!/usr/bin/env bash
# The loopback demo (`make demo`, after `make build` put the binaries in
# bin/): starts a directory on 127.0.0.1, sets up two users, alice and bob,
# in their own home directories, registers and logs in both, shows what a
# taken name and a wrong password do, and looks a user up. The directory is
# stopped and the temporary files removed on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
PEERCALL=$BIN/peercall
DIRECTORY=$BIN/peercall-directory
START_TIMEOUT=${START_TIMEOUT:-20} # seconds to wait for the directory

for b in "$PEERCALL" "$DIRECTORY"; do
	if [ ! -x "$b" ]; then
		echo "demo: $b is missing; run \`make build\` first (or \`make demo\`, which builds)" >&2
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/peercall-demo.XXXXXX")
dir_pid=""

cleanup() {
	local status=$?
	if [ -n "$dir_pid" ] && kill -0 "$dir_pid" 2>/dev/null; then
		kill "$dir_pid" 2>/dev/null || true
		wait "$dir_pid" 2>/dev/null || true
	fi
	if [ "$status" -ne 0 ] && [ -s "$work/directory.err" ]; then
		echo "--- the directory's log:" >&2
		sed 's/^/    /' "$work/directory.err" >&2
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "demo: FAILED: $*" >&2
	exit 1
}

step() {
	printf '\n== %s\n' "$*"
}

# expect CODE CMD...: runs CMD, shows its output indented, and fails the demo
# unless CMD exits with CODE.
expect() {
	local want=$1 rc=0 out
	shift
	out=$("$@" 2>&1) || rc=$?
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /'
	if [ "$rc" -ne "$want" ]; then
		fail "\`${*}\` exited $rc, expected $want"
	fi
	return 0
}

# pc USER ARGS...: peercall in USER's home.
pc() {
	local user=$1
	shift
	"$PEERCALL" --home "$work/$user" "$@"
}

# pc_pw USER PASSWORD ARGS...: peercall in USER's home, password on stdin.
pc_pw() {
	local user=$1 pw=$2
	shift 2
	printf '%s\n' "$pw" | "$PEERCALL" --home "$work/$user" "$@"
}

step "1. Start a directory on 127.0.0.1 (plain HTTP is allowed only on loopback)"
"$DIRECTORY" --insecure-http --listen 127.0.0.1:0 --data "$work/directory" \
	>"$work/directory.out" 2>"$work/directory.err" &
dir_pid=$!

deadline=$((SECONDS + START_TIMEOUT))
until grep -q '^listening on ' "$work/directory.out" 2>/dev/null; do
	if ! kill -0 "$dir_pid" 2>/dev/null; then
		dir_pid=""
		fail "the directory exited before it listened (its log follows)"
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		fail "the directory printed no 'listening on' line within ${START_TIMEOUT}s"
	fi
	sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/directory.out" | head -n1)
key=$(sed -n 's/^directory key: //p' "$work/directory.out" | head -n1)
[ -n "$key" ] || fail "the directory did not print its key"
echo "    directory at $url"
echo "    directory key $key"

step "2. alice pins the key the operator published; bob trusts it on first use"
expect 0 pc alice init --directory "$url" --directory-key "$key"
expect 0 pc bob init --directory "$url"
grep -qF "$key" "$work/bob/config.toml" || fail "bob pinned another key than the directory's"

alice_pw="alice-demo-$RANDOM-$RANDOM"
bob_pw="bob-demo-$RANDOM-$RANDOM"

step "3. Both register (passwords through --password-stdin, never on the command line)"
expect 0 pc_pw alice "$alice_pw" register Alice --password-stdin
expect 0 pc_pw bob "$bob_pw" register bob --password-stdin

step "4. bob tries to take the name alice: exit 3, with free names suggested"
expect 3 pc_pw bob "$bob_pw" register alice --password-stdin --json

step "5. Both log in: each node's identity key gets a certificate from the directory"
expect 0 pc_pw alice "$alice_pw" login alice --password-stdin
expect 0 pc_pw bob "$bob_pw" login bob --password-stdin

step "6. A wrong password: exit 6"
expect 6 pc_pw bob "not-bobs-password" login bob --password-stdin

step "7. bob looks alice up"
expect 0 pc bob users al

step "Done"
echo "    a directory, two registered users with certificates in their homes:"
for u in alice bob; do
	echo "    $u: $(ls "$work/$u" | tr '\n' ' ')"
done
echo "    (calls between them come with the node; the directory is stopped now)"
