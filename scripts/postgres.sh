#!/usr/bin/env bash
# Ensures a local PostgreSQL server on 127.0.0.1 for the directory store's
# tests and benchmarks, and prints, on stdout and nothing else:
#
#   export PEERCALL_TEST_POSTGRES='postgres://peercall:peercall@127.0.0.1:PORT/peercall_test?sslmode=disable'
#
# so that callers can `eval "$(bash scripts/postgres.sh)"`. It starts the
# Debian cluster (pg_ctlcluster) or creates one (pg_createcluster) when none
# exists, and creates the role `peercall` (password `peercall`) and the
# database `peercall_test` when missing. Idempotent; when the server already
# answers it only checks and prints. Everything else goes to stderr.
# When it cannot (not root and no server), it says why and exits 1.
#
# A PEERCALL_TEST_POSTGRES already set in the environment is used as is.
set -euo pipefail

role=peercall
password=peercall
database=peercall_test

say() { echo "postgres.sh: $*" >&2; }

print_export() { # port
	echo "export PEERCALL_TEST_POSTGRES='postgres://$role:$password@127.0.0.1:$1/$database?sslmode=disable'"
}

if [ -n "${PEERCALL_TEST_POSTGRES:-}" ]; then
	echo "export PEERCALL_TEST_POSTGRES='$PEERCALL_TEST_POSTGRES'"
	exit 0
fi

if ! command -v pg_lsclusters >/dev/null 2>&1; then
	say "PostgreSQL is not installed (no pg_lsclusters)."
	say "install it with:  sudo bash scripts/deps.sh   (or: sudo apt-get install -y postgresql)"
	exit 1
fi

# can_login PORT: the role and database exist and accept the password.
can_login() {
	PGPASSWORD=$password PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p "$1" -U "$role" -d "$database" \
		-XtAqc 'SELECT 1' >/dev/null 2>&1
}

# The cluster to use: the first online one, else the first one listed.
# Fields of `pg_lsclusters -h`: version cluster port status owner datadir log.
pick_cluster() {
	pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { print $1, $2, $3; found = 1; exit }
		END { if (!found) exit 1 }' ||
		pg_lsclusters -h 2>/dev/null | awk 'NR == 1 { print $1, $2, $3 }'
}

read -r ver name port < <(pick_cluster) || true

# Fast path: already running and set up.
if [ -n "${port:-}" ] && can_login "$port"; then
	print_export "$port"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	say "no PostgreSQL server accepts role '$role' on 127.0.0.1${port:+:$port}, and setting one up needs root."
	say "run as root:  sudo bash scripts/postgres.sh"
	say "or point the tests at a server:  export PEERCALL_TEST_POSTGRES='postgres://USER:PASS@HOST:PORT/DB?sslmode=disable'"
	exit 1
fi

if [ -z "${ver:-}" ]; then
	ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$ver" ]; then
		say "PostgreSQL server binaries are missing under /usr/lib/postgresql."
		say "install them with:  apt-get install -y postgresql"
		exit 1
	fi
	name=main
	say "creating PostgreSQL $ver cluster '$name'"
	pg_createcluster "$ver" "$name" >&2
	read -r ver name port < <(pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n { print $1, $2, $3 }')
fi

status=$(pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n { print $4 }')
if [ "$status" != online ]; then
	say "starting PostgreSQL $ver/$name on port $port"
	if ! pg_ctlcluster "$ver" "$name" start >&2; then
		say "could not start the cluster; see /var/log/postgresql/postgresql-$ver-$name.log"
		say "try by hand:  pg_ctlcluster $ver $name start"
		exit 1
	fi
fi

for _ in $(seq 1 60); do
	pg_isready -q -h 127.0.0.1 -p "$port" && break
	sleep 0.5
done
if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
	say "PostgreSQL $ver/$name does not answer on 127.0.0.1:$port after 30 s"
	say "see /var/log/postgresql/postgresql-$ver-$name.log, then:  pg_ctlcluster $ver $name restart"
	exit 1
fi

as_postgres() { runuser -u postgres -- psql -p "$port" -X -v ON_ERROR_STOP=1 -qtA "$@"; }

if [ "$(as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != 1 ]; then
	say "creating role $role"
	as_postgres -c "CREATE ROLE $role LOGIN PASSWORD '$password'" >&2
else
	# Make sure the password is the documented one (an older setup may differ).
	as_postgres -c "ALTER ROLE $role LOGIN PASSWORD '$password'" >&2
fi
if [ "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" != 1 ]; then
	say "creating database $database"
	as_postgres -c "CREATE DATABASE $database OWNER $role" >&2
fi

if ! can_login "$port"; then
	say "role $role still cannot log in to $database on 127.0.0.1:$port with its password."
	say "check host lines in /etc/postgresql/$ver/$name/pg_hba.conf (127.0.0.1/32 needs scram-sha-256 or md5)"
	exit 1
fi
print_export "$port"
