package directory

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{"alice", "alice", nil},
		{"Alice", "alice", nil},
		{"ALICE", "alice", nil},
		{"ａｌｉｃｅ", "alice", nil}, // full width folds
		{"bob.smith", "bob.smith", nil},
		{"bob_smith-2.x", "bob_smith-2.x", nil},
		{"bob+x", "", ErrInvalidUsername},    // '+' is not allowed
		{"bob@home", "", ErrInvalidUsername}, // nor '@'
		{"bob/x", "", ErrInvalidUsername},    // '/' would split the DHT key
		{"a?b#c", "", ErrInvalidUsername},
		{".alice", "", ErrInvalidUsername}, // a symbol may not lead
		{"_alice", "", ErrInvalidUsername},
		{"Zoë", "zoë", nil},
		{"Zoe\u0308", "zoë", nil}, // NFC
		{"Ångström", "ångström", nil},
		{"Δημήτρης", "δημήτρης", nil},
		{"東京太郎", "東京太郎", nil},
		{"abc", "abc", nil},
		{strings.Repeat("a", 32), strings.Repeat("a", 32), nil},
		{"", "", ErrInvalidUsername},
		{"ab", "", ErrInvalidUsername},
		{"Ab", "", ErrInvalidUsername},
		{strings.Repeat("a", 33), "", ErrInvalidUsername},
		{strings.Repeat("é", 33), "", ErrInvalidUsername},
		{strings.Repeat("a", 1000), "", ErrInvalidUsername},
		{"alice smith", "", ErrInvalidUsername},
		{" alice", "", ErrInvalidUsername},
		{"alice\u00a0x", "", ErrInvalidUsername}, // no-break space
		{"alice\u3000x", "", ErrInvalidUsername}, // ideographic space
		{"alice\tx", "", ErrInvalidUsername},
		{"alice\nx", "", ErrInvalidUsername},
		{"ali\x00ce", "", ErrInvalidUsername},
		{"ali\x7fce", "", ErrInvalidUsername},
		{"alice\u200b", "", ErrInvalidUsername}, // zero-width space
		{"alice😀", "", ErrInvalidUsername},
		{"ali\xffce", "", ErrInvalidUsername},
		{"admin", "", ErrReservedUsername},
		{"Admin", "", ErrReservedUsername},
		{"ROOT", "", ErrReservedUsername},
		{"PeerCall", "", ErrReservedUsername},
		{"directory", "", ErrReservedUsername},
		{"support", "", ErrReservedUsername},
		{"operator", "", ErrReservedUsername},
		{"system", "", ErrReservedUsername},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Normalize(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Normalize(%q) = %q, %v; want error %v", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNormalizeErrorsSayTheRule(t *testing.T) {
	_, err := Normalize("ab")
	if err == nil || !strings.Contains(err.Error(), "3 to 32") || !strings.Contains(err.Error(), "minimum is 3") {
		t.Fatalf("error %q does not state the length rule", err)
	}
	_, err = Normalize("admin")
	if err == nil || !strings.Contains(err.Error(), "choose another name") {
		t.Fatalf("error %q does not say what to do", err)
	}
}

func TestSuggestions(t *testing.T) {
	tests := []struct {
		base string
		n    int
	}{
		{"alice", 3},
		{"alice", 20},
		{"bob", 40},
		{strings.Repeat("z", 32), 10},
		{strings.Repeat("é", 31), 10},
		{"admin", 5}, // reserved: suggestions from the stem
		{"ab", 5},    // too short
		{"a b", 5},   // invalid: falls back to a generic stem
		{"東京太郎", 5},
	}
	for _, tc := range tests {
		t.Run(tc.base, func(t *testing.T) {
			got := Suggestions(tc.base, tc.n)
			if len(got) < tc.n*3/4 || len(got) > tc.n {
				t.Fatalf("Suggestions(%q, %d) gave %d names: %q", tc.base, tc.n, len(got), got)
			}
			seen := map[string]bool{}
			for _, s := range got {
				n, err := Normalize(s)
				if err != nil || n != s {
					t.Errorf("suggestion %q is not a valid normalised name: %q, %v", s, n, err)
				}
				if s == tc.base {
					t.Errorf("suggestion %q repeats the base", s)
				}
				if seen[s] {
					t.Errorf("suggestion %q is repeated", s)
				}
				seen[s] = true
			}
		})
	}
	if got := Suggestions("alice", 3); got[0] != "alice2" || got[1] != "alice_1" || got[2] != "alice.x" {
		t.Errorf("first suggestions for alice = %q, want alice2, alice_1, alice.x", got)
	}
	if got := Suggestions("alice", 0); len(got) != 0 {
		t.Errorf("Suggestions(alice, 0) = %q", got)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"alice", "Alice", "ａｌｉｃｅ", "Zoe\u0308", "a b", "ab", "admin",
		"\x00\x01", "ali\xffce", "δημήτρης", "ﬀﬀﬀ", "ǅungla", "İstanbul", "\u0627\u0628\u062a", strings.Repeat("a", 33)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Normalize(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidUsername) && !errors.Is(err, ErrReservedUsername) {
				t.Fatalf("Normalize(%q) error %v wraps no sentinel", in, err)
			}
			return
		}
		if l := utf8.RuneCountInString(n); l < MinUsernameLen || l > MaxUsernameLen {
			t.Fatalf("Normalize(%q) = %q of %d characters", in, n, l)
		}
		if strings.ContainsAny(n, " \t\r\n\x00") {
			t.Fatalf("Normalize(%q) = %q contains a space or control", in, n)
		}
		again, err := Normalize(n)
		if err != nil || again != n {
			t.Fatalf("Normalize is not idempotent: %q -> %q -> %q, %v", in, n, again, err)
		}
		if IsReserved(n) {
			t.Fatalf("Normalize(%q) returned reserved %q", in, n)
		}
	})
}
