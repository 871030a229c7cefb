// Package dirlink is a running node's live link to the directory: it checks
// the node in (where it is, signed with its key, at start, on a change and
// periodically) and withdraws it at Close, renews the certificate before it
// expires, and fetches and caches the signed revocation list that presence
// lookups, INVITEs and relay credentials are checked against.
package dirlink
