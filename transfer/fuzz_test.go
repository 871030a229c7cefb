package transfer

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: every message from the network either decodes to one that
// encodes back to the same bytes, or is refused as malformed.
func FuzzDecode(f *testing.F) {
	f.Add(Offer{Size: 10, Cert: []byte("c"), Name: []byte("a.txt")}.Marshal())
	f.Add(Accept{Offset: ChunkSize}.Marshal())
	f.Add(Refuse{Reason: "no"}.Marshal())
	f.Add(Chunk{Offset: 0, Data: []byte("data")}.Marshal())
	f.Add(Done{}.Marshal())
	f.Add(Result{Status: StatusQuarantined, Name: "a", Reason: "scan"}.Marshal())
	f.Add([]byte{1, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		var again []byte
		switch {
		case m.Offer != nil:
			again = m.Offer.Marshal()
		case m.Accept != nil:
			again = m.Accept.Marshal()
		case m.Refuse != nil:
			again = m.Refuse.Marshal()
		case m.Chunk != nil:
			again = m.Chunk.Marshal()
		case m.Done != nil:
			again = m.Done.Marshal()
		case m.Result != nil:
			again = m.Result.Marshal()
		default:
			t.Fatal("decoded to no message")
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", b, m, again)
		}
	})
}

// FuzzSanitizeName: whatever the sender names a file, the result is one
// plain, visible name of at most 200 bytes, or a refusal.
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"../../.bashrc", "/etc/passwd", "a\x00b", "CON", strings.Repeat("x", 4000), "é.txt", `..\..\x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		name, _, err := SanitizeName(raw)
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("error %v", err)
			}
			return
		}
		switch {
		case name == "" || len(name) > maxSafeName:
			t.Fatalf("%q -> %q: length %d", raw, name, len(name))
		case !utf8.ValidString(name):
			t.Fatalf("%q -> %q: not UTF-8", raw, name)
		case strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, ".") || name == "..":
			t.Fatalf("%q -> %q: a path or hidden name", raw, name)
		}
		for _, c := range name {
			if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
				t.Fatalf("%q -> %q: control character %U", raw, name, c)
			}
		}
		if again, _, err := SanitizeName([]byte(name)); err != nil || again != name {
			t.Fatalf("%q -> %q -> %q, %v: not stable", raw, name, again, err)
		}
	})
}

// FuzzParsePolicy: a policy either parses to valid settings or is refused.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("[transfer]\nenabled = false\n"))
	f.Add([]byte("[transfer]\nmax_file_size = 100\nscan_command = [\"clamdscan\", \"{}\"]\nscan_timeout = \"30s\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParsePolicy(b)
		if err == nil {
			if verr := s.Validate("policy"); verr != nil {
				t.Fatalf("parsed an invalid policy: %v", verr)
			}
		}
	})
}

// TestChunkFrame: the in-place chunk frame is the framed CHUNK message.
func TestChunkFrame(t *testing.T) {
	for _, n := range []int{1, 100, ChunkSize} {
		frame := make([]byte, chunkFrameHeader+ChunkSize)
		data := bytes.Repeat([]byte{7}, n)
		copy(frame[chunkFrameHeader:], data)
		var want bytes.Buffer
		if err := writeMsg(&want, Chunk{Offset: 42, SHA256: sha256.Sum256(data), Data: data}.Marshal()); err != nil {
			t.Fatal(err)
		}
		if got := chunkFrame(frame, 42, n, sha256.Sum256(data)); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("%d bytes: frame differs", n)
		}
	}
}
