#!/usr/bin/env bash
# The loopback demo (`make demo`, after `make build` put the binaries in
# bin/): starts a directory on 127.0.0.1, sets up two users, alice and bob,
# in their own home directories, registers and logs in both, shows what a
# taken name and a wrong password do, and looks a user up. Then bob runs his
# node on a port given to `run --listen` (answering automatically), alice
# runs hers likewise and calls him by name for 5 s, speaking a recording; bob's node records what it heard to
# bin/demo/bob-heard.wav. AUDIO=default uses the sound card on both sides
# instead. Every process is stopped and the temporary files removed on
# exit, whatever happens.
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
bob_pid=""
alice_pid=""
AUDIO=${AUDIO:-}                 # "default": the sound card instead of WAV files
OUT=${OUT:-$BIN/demo}            # where bob's recording is kept
BOB_PORT=${BOB_PORT:-$((17000 + RANDOM % 2000))}
ALICE_PORT=${ALICE_PORT:-$((19000 + RANDOM % 2000))}
CALL_SECONDS=${CALL_SECONDS:-5}
BOB_UI=127.0.0.1:$((BOB_PORT + 1))  # bob's web interface (ui.listen)

cleanup() {
	local status=$?
	if [ -n "$alice_pid" ] && kill -0 "$alice_pid" 2>/dev/null; then
		kill -INT "$alice_pid" 2>/dev/null || true
		wait "$alice_pid" 2>/dev/null || true
	fi
	if [ -n "$bob_pid" ] && kill -0 "$bob_pid" 2>/dev/null; then
		kill -INT "$bob_pid" 2>/dev/null || true
		wait "$bob_pid" 2>/dev/null || true
	fi
	if [ "$status" -ne 0 ] && [ -s "$work/bob-run.out" ]; then
		echo "--- bob's node:" >&2
		sed 's/^/    /' "$work/bob-run.out" >&2
	fi
	if [ -n "$dir_pid" ] && kill -0 "$dir_pid" 2>/dev/null; then
		kill "$dir_pid" 2>/dev/null || true
		wait "$dir_pid" 2>/dev/null || true
	fi
	if [ "$status" -ne 0 ] && [ -s "$work/directory.err" ]; then
		echo "--- the directory's log:" >&2
		sed 's/^/    /' "$work/directory.err" >&2
	fi
	if [ -n "${KEEP:-}" ]; then echo "demo: the homes are kept in $work" >&2; else rm -rf "$work"; fi
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

# Both nodes listen on loopback, on ports given to `run --listen` (nothing
# is written into config.toml): each node checks in at the directory with
# the addresses it really has, which is how the other finds it.

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

if [ "$AUDIO" = "default" ]; then
	speech=default
	heard=default
	alice_heard=default
else
	mkdir -p "$OUT"
	cp internal/testaudio/testdata/alice.wav "$work/alice-says.wav"
	speech="wav:$work/alice-says.wav"
	heard="wav:$OUT/bob-heard.wav"
	alice_heard="wav:$OUT/alice-heard.wav"
	rm -f "$OUT/bob-heard.wav" "$OUT/alice-heard.wav"
fi

step "8. bob runs his node on port $BOB_PORT: it checks in at the directory, answers calls automatically"
"$PEERCALL" --home "$work/bob" run --listen "127.0.0.1:$BOB_PORT" --auto-answer --ui "$BOB_UI" --audio-in "${AUDIO:-tone:440}" --audio-out "$heard" >"$work/bob-run.out" 2>&1 &
bob_pid=$!
deadline=$((SECONDS + START_TIMEOUT))
until pc bob status >/dev/null 2>&1; do
	kill -0 "$bob_pid" 2>/dev/null || { bob_pid=""; fail "bob's node exited (its output follows)"; }
	[ "$SECONDS" -lt "$deadline" ] || fail "bob's node did not answer \`status\` within ${START_TIMEOUT}s"
	sleep 0.2
done
sed 's/^/    /' "$work/bob-run.out"
expect 0 pc bob status
expect 0 pc bob ui

step "9. alice runs her node on port $ALICE_PORT and calls bob by name for ${CALL_SECONDS}s"
"$PEERCALL" --home "$work/alice" run --listen "127.0.0.1:$ALICE_PORT" --audio-in "$speech" --audio-out "$alice_heard" >"$work/alice-run.out" 2>&1 &
alice_pid=$!
deadline=$((SECONDS + START_TIMEOUT))
until pc alice status >/dev/null 2>&1; do
	kill -0 "$alice_pid" 2>/dev/null || { alice_pid=""; fail "alice's node exited: $(cat "$work/alice-run.out")"; }
	[ "$SECONDS" -lt "$deadline" ] || fail "alice's node did not answer \`status\` within ${START_TIMEOUT}s"
	sleep 0.2
done
summary=$(pc alice call bob --duration "${CALL_SECONDS}s" --audio-in "$speech" --audio-out "$alice_heard" --json) ||
	fail "alice's call to bob exited $?"
printf '%s\n' "$summary" | sed 's/^/    /'
printf '%s' "$summary" | grep -q '"packets_received": [1-9]' || fail "alice received no audio packets"

step "10. bob's side of the call"
sleep 0.5
sed -n '/incoming call\|connected\|ended\|packets\|authentication/p' "$work/bob-run.out" | sed 's/^/    /'

step "11. alice calls a user who does not exist: exit 4"
expect 4 pc alice call nobody-here --duration 1s --audio-in silence --audio-out null

step "12. bob stops his node; alice's call: exit 4, offline"
kill -INT "$bob_pid"
wait "$bob_pid" || fail "bob's node did not stop cleanly"
bob_pid=""
expect 4 pc alice call bob --duration 1s --audio-in silence --audio-out null

step "Done"
echo "    each user's web interface: run their node, then open the link \`ui\` prints (it works once):"
echo "      peercall --home DIR/bob run --ui $BOB_UI &   peercall --home DIR/bob ui"
echo "      peercall --home DIR/alice run --ui 127.0.0.1:$((BOB_PORT + 2)) &   peercall --home DIR/alice ui"
echo "    (KEEP=1 make demo keeps the homes, DIR, and prints where they are)"
if [ "$AUDIO" = "default" ]; then
	echo "    the call ran on the sound cards"
else
	echo "    alice spoke internal/testaudio/testdata/alice.wav; what bob heard is in $OUT/bob-heard.wav"
	echo "    (bob sent a 440 Hz tone; what alice heard is in $OUT/alice-heard.wav)"
fi
