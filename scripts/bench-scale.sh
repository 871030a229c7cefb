#!/usr/bin/env bash
# make bench-scale: the scale figures of issue 16 (not part of make test).
#  1. relayed calls through one super-node pinned to one core: peercall's
#     relay (fast path), the same without it, bare pion/turn and Debian's
#     coturn (installed here when missing), RELAY_REPEAT runs each with the
#     order rotated (the spread is the noise of a shared machine);
#  2. no cascade: 30 % of 20 relays die under 400 calls (timeline);
#  3. the DHT at DHT_NODES (1000) nodes on libp2p's mocknet, 10 % of them
#     super-nodes, 20 ms links: publish and lookup latency and success,
#     steady and under 10 %/min churn, memory per node;
#  4. the login storm: STORM_CLIENTS (10000) directory clients at once against
#     the real directory on PostgreSQL (check in, renew, log in; shed with
#     Retry-After, back off): time until all are back, refusals, RSS, and
#     the p99 of lookups of online users meanwhile;
#  5. directory lookups per second over HTTP and HTTPS, SQLite and
#     PostgreSQL (100k users).
# JSON lines go to OUT (default bench-scale.jsonl, one object per run, field
# "bench" says which), the tables to stdout. RELAY_RT=1 repeats 1 with the
# generator and the server under SCHED_FIFO (root), RELAY_CALLS, RELAY_REPEAT
# and RELAY_TRAFFIC size it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/bench-scale.jsonl}
: >"$out"

if ! command -v turnserver >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends coturn
	else
		echo "bench-scale: coturn is missing and this is not root: run 'sudo apt-get install coturn' (its runs are skipped)" >&2
	fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/relay.test" ./relay/

# The generator on CPU 0, the server on CPU 1: the figure is the server's.
pin=(taskset -c 0)
servercpu=1
if [ "$(nproc)" -lt 2 ] || ! command -v taskset >/dev/null; then
	pin=()
	servercpu=-1
	echo "bench-scale: fewer than 2 CPUs or no taskset: server and generator are not pinned" >&2
fi

relayed() {
	(cd relay && "$@" "$tmp/relay.test" -test.run '^$' -test.bench 'BenchmarkRelayedCalls$' -test.benchtime 1x -test.timeout 90m \
		-relay.servercpu "$servercpu" -relay.calls "${RELAY_CALLS:-100,250,500,1000,2000}" -relay.repeat "${RELAY_REPEAT:-3}" \
		-relay.traffic "${RELAY_TRAFFIC:-5s}" -relay.json "$out" $rt) | grep -v '^\(goos\|goarch\|pkg\|cpu\|Benchmark\|--- BENCH\|PASS\)' || true
}
echo "== relayed calls (server CPU per packet, loss, p99 added delay)"
rt=
relayed "${pin[@]}"
# On a machine shared with other work, the scheduler's delays dominate
# loss and p99; RELAY_RT=1 runs the generator and the server under
# SCHED_FIFO too, which shows the servers' own delay (root).
if [ "${RELAY_RT:-0}" = 1 ]; then
	echo "== relayed calls, server and generator under SCHED_FIFO"
	rt=-relay.rt
	relayed chrt -f 10 "${pin[@]}"
fi

echo "== no cascade (30 % of the super-nodes die at once)"
(cd relay && PEERCALL_SCALE=1 PEERCALL_SCALE_JSON="$out" "$tmp/relay.test" -test.run 'TestNoCascade/large' -test.count 1 -test.timeout 10m) | grep -v '^PASS$' || true

echo "== DHT at scale (mocknet, link latency, churn)"
(cd presence && go test -run '^$' -bench 'BenchmarkDHTScale$' -benchtime 1x -timeout 60m . -dht.nodes "${DHT_NODES:-1000}" \
	-dht.phase "${DHT_PHASE:-60s}" -dht.latency "${DHT_LATENCY:-20ms}" -dht.churn "${DHT_CHURN:-0.10}" -dht.json "$out") |
	grep -v '^\(goos\|goarch\|pkg\|cpu\|Benchmark\|--- BENCH\|PASS\|ok \)' || true

echo "== login storm (10,000 directory clients back at once, real directory, real PostgreSQL)"
# PostgreSQL: scripts/postgres.sh starts a local server when none is set
# (without one the storm skips, saying so).
if [ -z "${PEERCALL_TEST_POSTGRES:-}" ]; then
	eval "$(bash scripts/postgres.sh)"
fi
go test -c -o "$tmp/directory.test" ./cmd/peercall-directory/
(cd cmd/peercall-directory && PEERCALL_SCALE=1 PEERCALL_SCALE_JSON="$out" STORM_CLIENTS="${STORM_CLIENTS:-10000}" \
	"$tmp/directory.test" -test.run 'TestLoginStormLong$' -test.count 1 -test.timeout 30m) | grep -v '^PASS$' || true

echo "== directory lookups (100k users, 64 clients, HTTPS; cpu-µs/lookup is server and clients together)"
(cd directory/server && go test -run '^$' -bench 'BenchmarkLookup100k64Clients' -benchtime "${LOOKUP_BENCHTIME:-5s}" .) |
	grep '^Benchmark' | tee "$tmp/lookup.txt" || true
awk '/^Benchmark/ { name=$1; sub(/-[0-9]+$/, "", name); for (i = 3; i < NF; i++) if ($(i+1) == "lookups/s") r=$i; else if ($(i+1) == "cpu-µs/lookup") c=$i;
	printf "{\"bench\":\"directory_lookup\",\"name\":\"%s\",\"lookups_per_s\":%s,\"cpu_us_per_lookup\":%s}\n", name, r, c }' "$tmp/lookup.txt" >>"$out"

echo "== JSON lines: $out"
cat "$out"
