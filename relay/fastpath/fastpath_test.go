package fastpath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestParseChannelData(t *testing.T) {
	tests := []struct {
		name    string
		pkt     []byte
		ok      bool
		num     uint16
		payload string
	}{
		{"padded", []byte{0x40, 0x01, 0, 3, 'a', 'b', 'c', 0}, true, 0x4001, "abc"},
		{"unpadded", []byte{0x4f, 0xff, 0, 2, 'h', 'i'}, true, 0x4fff, "hi"},
		{"empty data", []byte{0x40, 0x00, 0, 0}, true, 0x4000, ""},
		{"short header", []byte{0x40, 0x00, 0}, false, 0, ""},
		{"length past end", []byte{0x40, 0x00, 0, 5, 'a'}, false, 0, ""},
		{"STUN", []byte{0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42}, false, 0, ""},
		{"number above range", []byte{0x50, 0x00, 0, 0}, false, 0, ""},
		{"number below range", []byte{0x3f, 0xff, 0, 0}, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			num, data, ok := ParseChannelData(tt.pkt)
			if ok != tt.ok || num != tt.num || string(data) != tt.payload {
				t.Errorf("ParseChannelData(%x) = %#x, %q, %v; want %#x, %q, %v", tt.pkt, num, data, ok, tt.num, tt.payload, tt.ok)
			}
		})
	}
}

func FuzzParseChannelData(f *testing.F) {
	f.Add([]byte{0x40, 0x01, 0, 3, 'a', 'b', 'c', 0})
	f.Add([]byte{0x00, 0x01, 0, 0})
	f.Add([]byte{0x4f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		num, data, ok := ParseChannelData(pkt)
		if !ok {
			if data != nil || num != 0 {
				t.Fatalf("refused %x but returned %#x, %x", pkt, num, data)
			}
			return
		}
		if num < minChannel || num > maxChannel {
			t.Fatalf("channel %#x out of range accepted", num)
		}
		if int(binary.BigEndian.Uint16(pkt[2:])) != len(data) || !bytes.Equal(pkt[headerSize:headerSize+len(data)], data) {
			t.Fatalf("data %x is not the declared %d bytes after the header of %x", data, binary.BigEndian.Uint16(pkt[2:]), pkt)
		}
	})
}

func TestFrame(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 80} {
		out := frame(nil, 0x4002, bytes.Repeat([]byte{7}, n))
		num, data, ok := ParseChannelData(out)
		if !ok || num != 0x4002 || len(data) != n || len(out)%4 != 0 {
			t.Errorf("frame of %d bytes: %x (parsed %#x, %d bytes, %v)", n, out, num, len(data), ok)
		}
	}
}

type testLeg struct{ name string }

func (testLeg) Allow(int, Leg) bool                      { return true }
func (testLeg) Forbidden(netip.AddrPort) bool            { return false }
func (testLeg) WriteToPeer([]byte, netip.AddrPort) error { return nil }

// TestTableHandOff: a client's channel is handed in process exactly while
// the peer is another allocation of the table with a channel bound back,
// through every change of channels and allocations.
func TestTableHandOff(t *testing.T) {
	ca, ra := netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("192.0.2.1:50000")
	cb, rb := netip.MustParseAddrPort("10.0.0.2:2000"), netip.MustParseAddrPort("192.0.2.1:50001")
	la, lb := &testLeg{"a"}, &testLeg{"b"}
	pkt := []byte{0x40, 0x01, 0, 1, 'x', 0, 0, 0}
	tb := NewTable()
	steps := []struct {
		name   string
		do     func()
		known  bool   // a's channel 0x4001 is known
		handed uint16 // b's channel number it is handed on, 0: to the peer
	}{
		{"no allocation", func() {}, false, 0},
		{"allocations, no channel", func() { tb.AddAlloc(ca, ra, la); tb.AddAlloc(cb, rb, lb) }, false, 0},
		{"a binds to b", func() { tb.AddChannel(ca, 0x4001, rb) }, true, 0},
		{"b binds back", func() { tb.AddChannel(cb, 0x4007, ra) }, true, 0x4007},
		{"b's channel deleted", func() { tb.RemoveChannel(cb, 0x4007) }, true, 0},
		{"b binds back on another number", func() { tb.AddChannel(cb, 0x4008, ra) }, true, 0x4008},
		{"b rebinds that number elsewhere", func() { tb.AddChannel(cb, 0x4008, netip.MustParseAddrPort("198.51.100.1:9")) }, true, 0},
		{"b binds back again", func() { tb.AddChannel(cb, 0x4009, ra) }, true, 0x4009},
		{"b's allocation gone", func() { tb.RemoveAlloc(lb) }, true, 0},
		{"b allocates again at the same address and binds", func() { tb.AddAlloc(cb, rb, lb); tb.AddChannel(cb, 0x4002, ra) }, true, 0x4002},
		{"a's allocation gone", func() { tb.RemoveAlloc(la) }, false, 0},
	}
	for _, st := range steps {
		st.do()
		e, to, num, data, ok := tb.route(pkt, ca)
		if ok != st.known {
			t.Fatalf("%s: known %v, want %v", st.name, ok, st.known)
		}
		if !ok {
			continue
		}
		if string(data) != "x" || e.peer != rb {
			t.Fatalf("%s: data %q to %v", st.name, data, e.peer)
		}
		if (to != nil) != (st.handed != 0) || num != st.handed {
			t.Fatalf("%s: handed to %v on %#x, want %#x", st.name, to, num, st.handed)
		}
	}
}
