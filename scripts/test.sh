#!/usr/bin/env bash
# Runs go vet, staticcheck and every test with the race detector. Starts the services the
# tests need (PostgreSQL) and exports where they are.
#
# PostgreSQL is required: when scripts/postgres.sh cannot start it, this
# script fails, saying why, so that CI never goes green with the PostgreSQL
# suite skipped. A developer without PostgreSQL may opt out explicitly with
# PEERCALL_NO_POSTGRES=1 (the PostgreSQL tests then skip, after a warning).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${PEERCALL_NO_POSTGRES:-}" = 1 ]; then
	unset PEERCALL_TEST_POSTGRES
	{
		echo "################################################################"
		echo "WARNING: PEERCALL_NO_POSTGRES=1: PostgreSQL is NOT tested."
		echo "WARNING: the directory's PostgreSQL store suite will skip; this"
		echo "WARNING: run proves nothing about the postgres backend."
		echo "################################################################"
	} >&2
elif out=$(bash scripts/postgres.sh); then
	eval "$out"
	export PEERCALL_TEST_POSTGRES
else
	echo "test.sh: PostgreSQL could not be started (scripts/postgres.sh said why, above), so the directory's PostgreSQL store suite cannot run." >&2
	echo "test.sh: fix the server (run as root: bash scripts/postgres.sh), point the tests at one (PEERCALL_TEST_POSTGRES=postgres://...), or, on a developer machine only, skip that suite with PEERCALL_NO_POSTGRES=1." >&2
	exit 1
fi

echo "== go vet" >&2
go vet ./...
echo "== staticcheck (pinned in go.mod: go tool staticcheck)" >&2
go tool staticcheck ./...
echo "== CGO_ENABLED=0 build (no PortAudio)" >&2
CGO_ENABLED=0 go build ./...
echo "== go test -race" >&2
go test -race -timeout 14m -count=1 ./...
# Offline quality measures (testutil.SkipOfflineUnderRace: one goroutine of
# DSP or codec arithmetic over seconds of audio) skip under -race, which only
# slows them, and run here without it.
echo "== offline audio quality measures (without -race)" >&2
go test -count=1 ./dsp/ ./voicemail/ ./internal/testaudio/
