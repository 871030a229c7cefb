// Package crypto holds peercall's identity keys, the directory-signed identity
// certificates, password hashing (argon2id in PHC form), the on-disk keystore
// and short authentication strings. It does no network I/O.
package crypto
