// Package store persists the directory: users, password hashes, issued
// certificates and recently seen nodes. One Store interface has two
// implementations, SQLite (embedded, the default) and PostgreSQL (for several
// directory replicas), which pass one shared test suite.
package store
