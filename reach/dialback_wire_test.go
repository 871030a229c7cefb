package reach

import (
	"bytes"
	"errors"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

func TestAddrRangesCount(t *testing.T) {
	lab, err := ParseRanges([]string{"198.18.0.0/15", "127.0.0.0/8", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr             string
		none, withRanges bool
	}{
		{"/ip4/8.8.8.8/tcp/7070", true, true},
		{"/ip4/127.0.0.1/tcp/7070", false, true},
		{"/ip4/10.1.2.3/tcp/7070", false, true},
		{"/ip4/198.19.0.1/udp/7070/quic-v1", false, true},
		{"/ip4/100.64.0.1/tcp/7070", false, false},
		{"/ip4/192.168.1.2/tcp/7070", false, false},
		{"/ip4/8.8.8.8/tcp/7070/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit", false, false},
	} {
		a := ma.StringCast(tc.addr)
		if got := (Ranges{}).Counts(a); got != tc.none {
			t.Errorf("%s without reachable_ranges: counts %v, want %v", tc.addr, got, tc.none)
		}
		if got := lab.Counts(a); got != tc.withRanges {
			t.Errorf("%s with the lab's reachable_ranges: counts %v, want %v", tc.addr, got, tc.withRanges)
		}
	}
	if _, err := ParseRanges([]string{"10.0.0.0"}); err == nil {
		t.Error("a range without a prefix length was accepted")
	}
}

func TestDialbackWire(t *testing.T) {
	q := dialbackRequest{Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/7070"), ma.StringCast("/ip6/::1/tcp/7071")}}
	q.Nonce[0], q.Nonce[15] = 7, 9
	b, err := q.marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshalDialbackRequest(b)
	if err != nil || got.Nonce != q.Nonce || len(got.Addrs) != 2 || !got.Addrs[1].Equal(q.Addrs[1]) {
		t.Fatalf("request round trip: %+v, %v", got, err)
	}
	p := dialbackResponse{Nonce: q.Nonce, Code: dialbackOK, Index: 1}
	rb, _ := p.marshal()
	if gp, err := unmarshalDialbackResponse(rb); err != nil || gp != p {
		t.Fatalf("response round trip: %+v, %v", gp, err)
	}
	bad := func(b []byte, edit func([]byte) []byte) []byte { return edit(append([]byte(nil), b...)) }
	for _, tc := range []struct {
		name string
		req  bool
		b    []byte
	}{
		{"empty", true, nil},
		{"wrong version", true, bad(b, func(x []byte) []byte { x[0] = 2; return x })},
		{"response as request", true, rb},
		{"zero addresses", true, bad(b, func(x []byte) []byte { x[18] = 0; return x[:19] })},
		{"nine addresses", true, bad(b, func(x []byte) []byte { x[18] = 9; return x })},
		{"truncated address", true, b[:len(b)-1]},
		{"trailing byte", true, append(append([]byte(nil), b...), 0)},
		{"address not a multiaddr", true, bad(b, func(x []byte) []byte { x[21] = 0xff; return x })},
		{"ok without index", false, bad(rb, func(x []byte) []byte { x[19] = dialbackNone; return x })},
		{"failure with index", false, bad(rb, func(x []byte) []byte { x[18] = byte(dialbackFailed); return x })},
		{"unknown code", false, bad(rb, func(x []byte) []byte { x[18] = 9; return x })},
		{"control bytes", false, append(bad(rb, func(x []byte) []byte { x[18], x[19], x[21] = 1, dialbackNone, 1; return x }), 0x07)},
	} {
		var err error
		if tc.req {
			_, err = unmarshalDialbackRequest(tc.b)
		} else {
			_, err = unmarshalDialbackResponse(tc.b)
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", tc.name, err)
		}
	}
	// Frames: a length over the limit is refused before the body is read.
	if _, err := readDialbackFrame(bytes.NewReader([]byte{0xff, 0xff})); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized frame: %v", err)
	}
}

func FuzzDialbackRequest(f *testing.F) {
	q := dialbackRequest{Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/7070")}}
	b, _ := q.marshal()
	f.Add(b)
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := unmarshalDialbackRequest(b)
		if err != nil {
			return
		}
		out, err := q.marshal()
		if err != nil {
			t.Fatalf("decoded request does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, out)
		}
	})
}

func FuzzDialbackResponse(f *testing.F) {
	for _, p := range []dialbackResponse{{Code: dialbackOK, Index: 0}, {Code: dialbackFailed, Index: dialbackNone, Message: "no"}} {
		b, _ := p.marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := unmarshalDialbackResponse(b)
		if err != nil {
			return
		}
		out, err := p.marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs (%v):\n%x\n%x", err, b, out)
		}
	})
}
