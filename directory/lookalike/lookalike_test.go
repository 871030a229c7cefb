package lookalike

import (
	"errors"
	"strings"
	"testing"

	"github.com/peercall/peercall/directory"
)

// norm is the directory's normalisation, which every name goes through
// before its skeleton is taken.
func norm(t *testing.T, name string) string {
	t.Helper()
	n, err := directory.Normalize(name)
	if err != nil {
		t.Fatalf("Normalize(%q): %v", name, err)
	}
	return n
}

func TestSkeletonsOfLookAlikes(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"\u0430lice", "alice"},                       // Cyrillic а
		{"alic\u0435", "alice"},                       // Cyrillic е
		{"b\u043eb", "bob"},                           // Cyrillic о
		{"\u0440\u0430\u0443\u0440\u0430l", "paypal"}, // Cyrillic р а у р а
		{"o\u0338bama", "\u00f8bama"},                 // o + U+0338 COMBINING LONG SOLIDUS OVERLAY, ø
		{"paypa1", "paypal"},                          // digit one
		{"\u0251lice", "alice"},                       // Latin small alpha
		{"\u0430\u0441\u0435", "ace"},                 // whole-script Cyrillic
	} {
		a, b := norm(t, tc.a), norm(t, tc.b)
		if a == b {
			t.Errorf("%q and %q normalise to one name %q; the test wants two", tc.a, tc.b, a)
			continue
		}
		if sa, sb := Skeleton(a), Skeleton(b); sa != sb {
			t.Errorf("Skeleton(%q) = %q, Skeleton(%q) = %q; want equal", a, sa, b, sb)
		}
	}
}

func TestSkeletonsOfDistinctNames(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"alice", "alicia"},
		{"bob", "bab"},
		{"zoë", "zoe"}, // a diaeresis is no look-alike of nothing
		{"東京太郎", "東京次郎"},
		{"anna", "anne"},
	} {
		if sa, sb := Skeleton(norm(t, tc.a)), Skeleton(norm(t, tc.b)); sa == sb {
			t.Errorf("Skeleton(%q) = Skeleton(%q) = %q; want different", tc.a, tc.b, sa)
		}
	}
}

func TestCheckScripts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ok      bool
		mention string
	}{
		{"alice", true, ""},
		{"zoë.ü", true, ""},
		{"o\u0338bama", true, ""},        // a combining mark goes with Latin
		{"\u0430\u0441\u0435", true, ""}, // all Cyrillic
		{"иван_42", true, ""},
		{"東京太郎", true, ""},
		{"やまだ太郎", true, ""},      // Hiragana + Han
		{"tokyo東京", true, ""},    // Latin + Han
		{"카카오talk", true, ""},    // Hangul + Latin
		{"shalomשלום", true, ""}, // Latin + Hebrew (Recommended, not Cyrillic/Greek)
		{"\u0430lice", false, "Cyrillic"},
		{"alic\u0435", false, "Cyrillic"},
		{"\u0440\u0430\u0443\u0440\u0430l", false, "Latin"},
		{"alpha\u03b2", false, "Greek"},           // Latin + Greek
		{"ивan\u05d0", false, "Hebrew"},           // three scripts
		{"東京\u0430", false, "Cyrillic"},           // Han + Cyrillic
		{"\u16a0\u16a2\u16a6abc", false, "Runic"}, // Latin + a script that is not Recommended
	} {
		err := CheckScripts(tc.name)
		switch {
		case tc.ok && err != nil:
			t.Errorf("CheckScripts(%q) = %v, want accepted", tc.name, err)
		case !tc.ok && (err == nil || !errors.Is(err, ErrMixedScripts) || !strings.Contains(err.Error(), tc.mention)):
			t.Errorf("CheckScripts(%q) = %v, want ErrMixedScripts naming %s", tc.name, err, tc.mention)
		}
	}
}

func TestVersionsNamed(t *testing.T) {
	if ConfusablesVersion == "" || ScriptsVersion == "" || strings.Count(ConfusablesVersion, ".") != 2 {
		t.Fatalf("data versions %q, %q: want x.y.z", ConfusablesVersion, ScriptsVersion)
	}
}

func FuzzSkeleton(f *testing.F) {
	for _, s := range []string{"alice", "\u0430lice", "o\u0338bama", "東京", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := directory.Normalize(name)
		if err != nil {
			return
		}
		s := Skeleton(n)
		if s == "" {
			t.Fatalf("Skeleton(%q) is empty", n)
		}
		if again := Skeleton(n); again != s {
			t.Fatalf("Skeleton(%q) is not deterministic: %q then %q", n, s, again)
		}
		_ = CheckScripts(n)
	})
}

// BenchmarkSkeleton: the skeleton of a name, taken at every registration
// (and for each suggestion checked).
func BenchmarkSkeleton(b *testing.B) {
	for _, name := range []string{"alice_smith", "\u0440\u0430\u0443\u0440\u0430l.support", "東京太郎"} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				Skeleton(name)
			}
		})
	}
}

func BenchmarkCheckScripts(b *testing.B) {
	for _, name := range []string{"alice_smith", "\u0430lice", "やまだ太郎"} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				CheckScripts(name)
			}
		})
	}
}
