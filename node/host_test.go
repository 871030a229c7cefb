package node

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/home"
)

// TestHostPortTaken: a configured port that another program holds is an
// error naming the port, unless free-port fallback is on (`call` with no
// running node), which listens elsewhere.
func TestHostPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if h, err := newHost(key, []string{taken}, false, nil, nil); err == nil {
		h.Close()
		t.Fatalf("listened on %s, which is taken", taken)
	} else if !errors.Is(err, ErrPortInUse) {
		t.Errorf("error %v, want ErrPortInUse", err)
	}
	h, err := newHost(key, []string{taken}, true, nil, nil)
	if err != nil {
		t.Fatalf("free-port fallback: %v", err)
	}
	defer h.Close()
	_, port, _ := net.SplitHostPort(taken)
	for _, a := range h.Addrs() {
		if p, err := a.ValueForProtocol(6 /* tcp */); err == nil && p == port {
			t.Errorf("fallback host listens on the taken port: %v", a)
		}
		if _, err := strconv.Atoi(port); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.Addrs()) < 2 {
		t.Errorf("fallback host addrs %v, want TCP and QUIC", h.Addrs())
	}
}

func TestListenMultiaddrs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"127.0.0.1:7070", []string{"/ip4/127.0.0.1/tcp/7070", "/ip4/127.0.0.1/udp/7070/quic-v1"}},
		{":7070", []string{"/ip4/0.0.0.0/tcp/7070", "/ip4/0.0.0.0/udp/7070/quic-v1"}},
		{"[::1]:0", []string{"/ip6/::1/tcp/0", "/ip6/::1/udp/0/quic-v1"}},
	}
	for _, tc := range tests {
		got, err := listenMultiaddrs([]string{tc.in}, false)
		if err != nil || len(got) != 2 || got[0].String() != tc.want[0] || got[1].String() != tc.want[1] {
			t.Errorf("%s: got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if ips := home.ListenIPs([]string{"127.0.0.1:7070"}); len(ips) != 1 || ips[0] != "127.0.0.1" {
		t.Errorf("ListenIPs of a loopback listener: %v", ips)
	}
	if ips := home.ListenIPs([]string{"0.0.0.0:7070"}); ips != nil {
		t.Errorf("ListenIPs of an unspecified listener: %v, want nil (every interface)", ips)
	}
}

// TestHostAddressNotLocal: a listen address that is not this machine's is
// reported as such (not as a busy port), with or without the free-port
// fallback, which cannot help.
func TestHostAddressNotLocal(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, fallback := range []bool{false, true} {
		h, err := newHost(key, []string{"203.0.113.77:7070"}, fallback, nil, nil)
		if err == nil {
			h.Close()
			t.Fatalf("listened on 203.0.113.77, a documentation address this machine does not have")
		}
		if !errors.Is(err, ErrNotLocalAddress) || errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "ip addr") {
			t.Errorf("fallback %t: error %v, want ErrNotLocalAddress saying what to do", fallback, err)
		}
	}
}
