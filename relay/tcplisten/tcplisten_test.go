package tcplisten

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestTracking: closing the listener closes the connections it accepted,
// and a connection closed before is forgotten.
func TestTracking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewTracking(ln)
	var clients []net.Conn
	var accepted []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
		a, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		accepted = append(accepted, a)
	}
	if err := accepted[0].Close(); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	n := len(l.conns)
	l.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d connections tracked after one of 3 closed, want 2", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("client %d: read %v after the listener closed, want EOF", i, err)
		}
	}
	if _, err := l.Accept(); err == nil {
		t.Error("Accept after Close succeeded")
	}
}

// TestChan: delivered connections are accepted in order; past the
// backlog or after Close, Deliver refuses; Close closes the waiting ones.
func TestChan(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}
	l := NewChan(addr)
	if l.Addr() != addr {
		t.Fatalf("Addr %v, want %v", l.Addr(), addr)
	}
	a, b := net.Pipe()
	defer b.Close()
	if !l.Deliver(a) {
		t.Fatal("Deliver refused the first connection")
	}
	if c, err := l.Accept(); err != nil || c != a {
		t.Fatalf("Accept = %v, %v; want the delivered connection", c, err)
	}
	var far []net.Conn
	for i := range ChanBacklog {
		x, y := net.Pipe()
		far = append(far, y)
		if !l.Deliver(x) {
			t.Fatalf("Deliver refused connection %d within the backlog", i)
		}
	}
	x, y := net.Pipe()
	defer y.Close()
	if l.Deliver(x) {
		t.Fatal("Deliver past the backlog accepted")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for i, y := range far {
		_ = y.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := y.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("waiting connection %d: read %v after Close, want EOF", i, err)
		}
	}
	if l.Deliver(x) {
		t.Error("Deliver after Close accepted")
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}
