//go:build !linux

package fastpath

import (
	"net"
	"net/netip"
)

// batch is Linux's recvmmsg/sendmmsg; elsewhere a Conn reads one datagram
// per system call.
type batch struct{ n, next int }

func newBatch(*net.UDPConn) *batch { return nil }

func (*batch) read() error                           { return nil }
func (*batch) flush() error                          { return nil }
func (*batch) datagram(int) ([]byte, netip.AddrPort) { return nil, netip.AddrPort{} }
func (*batch) queue([]byte, netip.AddrPort)          {}
