// Package connlimit bounds the TCP connections an HTTP server holds, per
// client address and in all, so that one address holding tens of
// thousands of idle keep-alive connections cannot starve the others: a
// net.Listener wrapper that refuses or recycles connections over the caps
// and closes idle ones early under pressure, counting each under a reason.
package connlimit
