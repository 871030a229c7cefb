#!/usr/bin/env bash
# Fuzzes every Fuzz* target for FUZZTIME (default 20s) each.
set -euo pipefail
cd "$(dirname "$0")/.."
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "== $pkg $f" >&2
		go test -run '^$' -fuzz "^$f\$" -fuzztime "${FUZZTIME:-20s}" "$pkg"
	done
done
