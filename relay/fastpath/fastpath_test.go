package fastpath

import (
	"bytes"
	"encoding/binary"
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
