#!/usr/bin/env bash
# Runs go vet and every test with the race detector. Starts the services the
# tests need (PostgreSQL) and exports where they are.
set -euo pipefail
cd "$(dirname "$0")/.."

if out=$(bash scripts/postgres.sh); then
	eval "$out"
else
	echo "warning: PostgreSQL could not be started; its store tests will skip (see above)" >&2
fi

echo "== go vet" >&2
go vet ./...
echo "== CGO_ENABLED=0 build (no PortAudio)" >&2
CGO_ENABLED=0 go build ./...
echo "== go test -race" >&2
go test -race -timeout 14m -count=1 ./...
