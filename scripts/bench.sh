#!/usr/bin/env bash
# Runs every Go benchmark once (BENCHTIME, default 1x per benchmark's own
# sizing) and prints the results; benchmarks report their figures as metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
if out=$(bash scripts/postgres.sh); then eval "$out"; fi
go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-1x}" -timeout 60m ${PKG:-./...}
