// Package server is the peercall directory HTTP API: registration with name
// suggestions, login that issues identity certificates, user lookup and
// search, bootstrap peers, login throttling, overload shedding and metrics.
package server
