package crypto

import (
	"fmt"
	"regexp"
	"testing"
)

func TestShortAuthString(t *testing.T) {
	fpA := []byte("sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89")
	fpB := []byte("sha-256 10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE")
	fpM := []byte("sha-256 10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FF")
	format := regexp.MustCompile(`^[0-9]{3} [0-9]{3}$`)
	sas := ShortAuthString(fpA, fpB)
	tests := []struct {
		name  string
		a, b  []byte
		equal bool
	}{
		{"swapped order", fpB, fpA, true},
		{"same order", fpA, fpB, true},
		{"attacker's fingerprint", fpA, fpM, false},
		{"attacker's fingerprint, swapped", fpM, fpA, false},
		{"boundary moved", append(append([]byte(nil), fpA...), fpB[:1]...), fpB[1:], false},
		{"empty", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ShortAuthString(tt.a, tt.b)
			if !format.MatchString(got) {
				t.Fatalf("ShortAuthString = %q, want six digits as \"123 456\"", got)
			}
			if (got == sas) != tt.equal {
				t.Fatalf("ShortAuthString = %q, reference %q; want equal=%v", got, sas, tt.equal)
			}
		})
	}
	// A known answer pins the derivation so both ends of a call, built from
	// different versions, agree.
	if got, want := ShortAuthString([]byte("a"), []byte("b")), knownSAS; got != want {
		t.Errorf("ShortAuthString(a, b) = %q, want %q (the derivation changed)", got, want)
	}
}

// TestShortAuthStringSpread checks that codes spread over the whole range:
// 2000 distinct fingerprint pairs must give (nearly) 2000 distinct codes.
func TestShortAuthStringSpread(t *testing.T) {
	seen := map[string]bool{}
	const n = 2000
	for i := range n {
		seen[ShortAuthString([]byte(fmt.Sprint("local", i)), []byte("remote"))] = true
	}
	// Expected collisions among 2000 draws from 10^6: about 2.
	if len(seen) < n-10 {
		t.Fatalf("%d distinct codes from %d pairs", len(seen), n)
	}
}

// knownSAS is ShortAuthString("a", "b"), computed independently in Python:
// sha256(b"peercall-sas-v1\0" + pack(">I",1) + b"a" + pack(">I",1) + b"b").
const knownSAS = "660 076"
