// Package budget holds the directory's throttling tables: one token
// bucket per key (a name, an address, a node key), kept only while spent,
// so that a flood of new keys can never evict, and so reset, a key's
// spent budget; and the key a request is throttled by (its client
// address behind trusted proxies, an IPv6 client's /64); and Gate, the
// slots that bound the costly work running at once (hashes, writes).
package budget
