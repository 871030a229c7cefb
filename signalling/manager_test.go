package signalling

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	ok := func(string, []byte) (string, error) { return "u", nil }
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error naming the setting
	}{
		{"no local peer", Config{CertificateCheck: ok}, "LocalPeer"},
		{"no certificate check", Config{LocalPeer: "a"}, "CertificateCheck"},
		{"negative max calls", Config{LocalPeer: "a", CertificateCheck: ok, MaxCalls: -1}, "MaxCalls"},
		{"negative timeout", Config{LocalPeer: "a", CertificateCheck: ok, RingTimeout: -time.Second}, "timeout"},
		{"message size too big", Config{LocalPeer: "a", CertificateCheck: ok, MaxMessageSize: MaxMessageSize + 1}, "MaxMessageSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.cfg)
			if err == nil {
				m.Close()
				t.Fatalf("New accepted %+v", tt.cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not name %s", err, tt.want)
			}
		})
	}
	m, err := New(Config{LocalPeer: "a", CertificateCheck: ok, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if m.cfg.MaxCalls != 1 || m.cfg.RingTimeout != 30*time.Second {
		t.Fatalf("defaults not applied: %+v", m.cfg)
	}
	if _, err := m.Call(context.Background(), "b", Invite{Certificate: []byte{1}, SDP: "v=0"}); err == nil || !strings.Contains(err.Error(), "Dial") {
		t.Fatalf("Call without Dial: %v", err)
	}
	m.Close()
	if err := m.HandleStream(context.Background(), "b", nopStream{}); err != ErrClosed {
		t.Fatalf("HandleStream after Close: %v", err)
	}
}

type nopStream struct{}

func (nopStream) Read([]byte) (int, error)    { return 0, io.EOF }
func (nopStream) Write(p []byte) (int, error) { return len(p), nil }
func (nopStream) Close() error                { return nil }

// BenchmarkCallSetup measures a whole call over net.Pipe: INVITE, RINGING,
// ACCEPT, HANGUP, with both state machines.
func BenchmarkCallSetup(b *testing.B) {
	l := newLab(b, pipeTransport, nil)
	defer l.close()
	b.ReportAllocs()
	for b.Loop() {
		caller, callee := l.active("alice", "bob")
		caller.Hangup(context.Background(), "")
		<-caller.Done()
		<-callee.Done()
		<-l.handled
	}
}
