// Package server is the peercall directory HTTP API: registration with name
// suggestions, login that issues identity certificates, user lookup and
// search, bootstrap peers, login throttling, overload shedding and metrics.
//
// Every request body is decoded strictly (one JSON object of at most
// directory.MaxBodyBytes, known keys only, each once, right types) and every
// error is a directory.ErrorResponse. Logins are throttled per normalised name
// and per client address (failures cost four times a success); argon2id
// hashes run in a bounded number of slots, and a request that finds them all
// busy and the queue full is answered 503 overloaded with a jittered
// Retry-After at once, so a flood slows the service down but cannot exhaust
// its memory. The one goroutine the server starts prunes sightings older than
// the seen window (when the store can); Close stops it.
package server
