package store

import (
	"context"
	"fmt"
	"strings"
)

// Open opens (and creates or migrates) the store a database URL names:
//
//	sqlite://PATH or sqlite:PATH        an SQLite file, created when missing
//	postgres://... or postgresql://...  a PostgreSQL database (pgx URL)
//
// sqlite:///var/lib/peercall/directory.db is an absolute path and
// sqlite://directory.db a relative one. A PostgreSQL URL may carry
// search_path=SCHEMA to keep the tables in a schema of their own.
//
// An SQLite database gets an integrity check (PRAGMA quick_check) first;
// OpenWith can skip it.
func Open(ctx context.Context, dsn string) (Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (Store, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	switch strings.ToLower(scheme) {
	case "sqlite":
		if !ok {
			break
		}
		return openSQLite(ctx, strings.TrimPrefix(rest, "//"), o)
	case "postgres", "postgresql":
		return OpenPostgres(ctx, dsn)
	}
	if !ok || strings.ContainsAny(scheme, "/\\. ") {
		scheme = ""
	}
	return nil, fmt.Errorf("store: unsupported database URL (scheme %q): use sqlite://PATH, sqlite:PATH, or postgres://USER:PASSWORD@HOST:PORT/DB (postgresql:// also works)", scheme)
}
