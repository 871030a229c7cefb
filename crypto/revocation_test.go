package crypto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func testRevocations(t testing.TB) *RevocationList {
	t.Helper()
	l, err := SignRevocationList(testDirKey, testIssued, []Revoked{
		{Serial: 9, Expires: testIssued.Add(time.Hour)},
		{Serial: 3, Expires: testIssued.Add(2 * time.Hour)},
		{Serial: 9, Expires: testIssued.Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRevocationListRoundTrip(t *testing.T) {
	l := testRevocations(t)
	if len(l.Entries) != 2 || l.Entries[0].Serial != 3 || l.Entries[1].Serial != 9 {
		t.Fatalf("entries %+v, want serials 3 and 9 sorted, duplicate dropped", l.Entries)
	}
	got, err := ParseRevocationList(l.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(testDirPub, testIssued); err != nil {
		t.Fatal(err)
	}
	for serial, want := range map[uint64]bool{3: true, 9: true, 4: false, 0: false} {
		if got.Revokes(serial) != want {
			t.Errorf("Revokes(%d) = %v, want %v", serial, !want, want)
		}
	}
	var none *RevocationList
	if none.Revokes(3) {
		t.Error("a nil list revokes something")
	}
}

func TestRevocationListRefused(t *testing.T) {
	valid := testRevocations(t).Marshal()
	flip := func(i int) []byte { b := bytes.Clone(valid); b[i] ^= 1; return b }
	other, _ := GenerateKey()
	unsorted := bytes.Clone(valid)
	// swap the two entries: serials no longer increasing
	copy(unsorted[21:37], valid[37:53])
	copy(unsorted[37:53], valid[21:37])
	huge := bytes.Clone(valid)
	binary.BigEndian.PutUint64(huge[13:21], MaxRevocations+1)
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrRevocationsMalformed},
		{"bad magic", flip(0), ErrRevocationsMalformed},
		{"bad version", flip(4), ErrRevocationsMalformed},
		{"truncated", valid[:len(valid)-1], ErrRevocationsMalformed},
		{"trailing byte", append(bytes.Clone(valid), 0), ErrRevocationsMalformed},
		{"unsorted", unsorted, ErrRevocationsMalformed},
		{"too many entries", huge, ErrRevocationsMalformed},
		{"tampered entry", flip(28), ErrRevocationsSignature},
		{"tampered signature", flip(len(valid) - 1), ErrRevocationsSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := ParseRevocationList(c.b)
			if err == nil {
				err = l.Verify(testDirPub, testIssued)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	l := testRevocations(t)
	if err := l.Verify(other.Public().(ed25519.PublicKey), testIssued); !errors.Is(err, ErrRevocationsSignature) {
		t.Fatalf("verified with another key: %v", err)
	}
	if err := l.Verify(testDirPub, testIssued.Add(-time.Hour)); !errors.Is(err, ErrRevocationsMalformed) {
		t.Fatalf("a list issued an hour in the future: %v", err)
	}
}

func FuzzParseRevocationList(f *testing.F) {
	valid := testRevocations(f).Marshal()
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add([]byte("PCRL\x01"))
	empty, _ := SignRevocationList(testDirKey, testIssued, nil)
	f.Add(empty.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseRevocationList(b)
		if err != nil {
			if l != nil {
				t.Fatal("error with a non-nil list")
			}
			return
		}
		if out := l.Marshal(); !bytes.Equal(out, b) {
			t.Fatalf("Marshal does not round-trip:\n in %x\nout %x", b, out)
		}
		_ = l.Verify(testDirPub, testIssued)
	})
}
