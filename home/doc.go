// Package home is one client's home directory (--home, $PEERCALL_HOME or
// ~/.peercall): config.toml and its validation, the identity key, the
// certificate of the latest login, the lock a running node holds, and the
// names of the other files kept there. Every config.toml key is documented
// in docs/config.md, which a test of this package checks.
package home
