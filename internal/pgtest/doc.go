// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the server named by PEERCALL_TEST_POSTGRES (which `make test`
// starts), dropped when the test ends. Without the variable, tests skip
// saying so, except under CI (CI=1), where they fail unless
// PEERCALL_NO_POSTGRES=1 opts out.
package pgtest
