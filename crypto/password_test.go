package crypto

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fastParams keep the tests quick; the defaults are exercised once below.
var fastParams = PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestDefaultPasswordParams(t *testing.T) {
	p := DefaultPasswordParams()
	if p.Memory < 19456 || p.Time < 2 || p.Threads < 1 || p.SaltLen < 16 || p.KeyLen < 32 {
		t.Fatalf("defaults %+v are below OWASP's argon2id minimum", p)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	enc, err := HashPassword("correct horse", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("encoded = %q, want the PHC argon2id prefix with the default params", enc)
	}
	parts := strings.Split(enc, "$")
	if len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Errorf("salt/hash are %d/%d base64 chars, want 22/43 (16/32 bytes, unpadded)", len(parts[4]), len(parts[5]))
	}
	ok, rehash, err := VerifyPassword("correct horse", enc, p)
	if !ok || rehash || err != nil {
		t.Fatalf("VerifyPassword = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestVerifyPassword(t *testing.T) {
	enc, err := HashPassword("s3cret pässword", fastParams)
	if err != nil {
		t.Fatal(err)
	}
	other := fastParams
	other.Time = 2
	tests := []struct {
		name       string
		password   string
		current    PasswordParams
		wantOK     bool
		wantRehash bool
	}{
		{"right password", "s3cret pässword", fastParams, true, false},
		{"wrong password", "s3cret password", fastParams, false, false},
		{"empty password", "", fastParams, false, false},
		{"prefix of password", "s3cret", fastParams, false, false},
		{"right password, time changed", "s3cret pässword", other, true, true},
		{"right password, weaker memory", "s3cret pässword", PasswordParams{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true, true},
		{"right password, threads changed", "s3cret pässword", PasswordParams{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true, true},
		{"right password, salt length changed", "s3cret pässword", PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 32, KeyLen: 32}, true, true},
		{"right password, key length changed", "s3cret pässword", PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 64}, true, true},
		{"wrong password, params changed", "nope", other, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(tt.password, enc, tt.current)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || rehash != tt.wantRehash {
				t.Fatalf("VerifyPassword = ok %v rehash %v, want %v %v", ok, rehash, tt.wantOK, tt.wantRehash)
			}
		})
	}
}

func TestHashPasswordSalted(t *testing.T) {
	a, _ := HashPassword("same", fastParams)
	b, _ := HashPassword("same", fastParams)
	if a == b {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestHashPasswordRejectsParams(t *testing.T) {
	tests := []PasswordParams{
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 7, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 9, SaltLen: 16, KeyLen: 32}, // below 8 KiB per thread
		{Memory: MaxPasswordMemory + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: MaxPasswordTime + 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 1024, Time: 1, Threads: MaxPasswordThreads + 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 1 << 20},
	}
	for _, p := range tests {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			if enc, err := HashPassword("x", p); err == nil {
				t.Fatalf("HashPassword accepted params: %q", enc)
			}
		})
	}
}

// A valid fast hash of "pw": salt "c29tZXNhbHRzb21lc2FsdA" is "somesaltsomesalt".
const knownPHC = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$"

func knownHash(t testing.TB) string {
	t.Helper()
	h, err := parsePHC(knownPHC + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if err != nil {
		t.Fatal(err)
	}
	h.key = argonKey("pw", h)
	return h.String()
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good := knownHash(t)
	if ok, _, err := VerifyPassword("pw", good, fastParams); !ok || err != nil {
		t.Fatalf("baseline: %v %v", ok, err)
	}
	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"argon2d", strings.Replace(good, "argon2id", "argon2d", 1)},
		{"version 16", strings.Replace(good, "v=19", "v=16", 1)},
		{"no version", strings.Replace(good, "v=19$", "", 1)},
		{"params reordered", strings.Replace(good, "m=64,t=1,p=1", "t=1,m=64,p=1", 1)},
		{"leading zero", strings.Replace(good, "m=64", "m=064", 1)},
		{"plus sign", strings.Replace(good, "m=64", "m=+64", 1)},
		{"negative", strings.Replace(good, "t=1", "t=-1", 1)},
		{"extra param", strings.Replace(good, "p=1", "p=1,keyid=x", 1)},
		{"space", strings.Replace(good, "m=64", "m= 64", 1)},
		{"huge memory", strings.Replace(good, "m=64", "m=4194304", 1)},
		{"memory overflow", strings.Replace(good, "m=64", "m=99999999999", 1)},
		{"huge time", strings.Replace(good, "t=1", "t=100000", 1)},
		{"huge threads", strings.Replace(good, "p=1", "p=255", 1)},
		{"threads overflow uint8", strings.Replace(good, "p=1", "p=257", 1)},
		{"zero time", strings.Replace(good, "t=1", "t=0", 1)},
		{"zero threads", strings.Replace(good, "p=1", "p=0", 1)},
		{"padded salt", strings.Replace(good, "c29tZXNhbHRzb21lc2FsdA$", "c29tZXNhbHRzb21lc2FsdA==$", 1)},
		{"short salt", strings.Replace(good, "c29tZXNhbHRzb21lc2FsdA", "c29tZQ", 1)},
		{"non-canonical salt bits", strings.Replace(good, "c2FsdA$", "c2FsdB$", 1)},
		{"missing hash", knownPHC},
		{"trailing $", good + "$"},
		{"trailing newline", good + "\n"},
		{"too long", good + strings.Repeat("A", MaxPasswordHashLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword("pw", tt.enc, fastParams)
			if !errors.Is(err, ErrPasswordHashMalformed) || ok || rehash {
				t.Fatalf("VerifyPassword(%q) = %v, %v, %v; want ErrPasswordHashMalformed", tt.enc, ok, rehash, err)
			}
		})
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add(knownHash(f))
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrPasswordHashMalformed) {
				t.Fatalf("error %v does not wrap ErrPasswordHashMalformed", err)
			}
			return
		}
		if err := h.params.Validate(); err != nil {
			t.Fatalf("accepted out-of-bounds params: %v", err)
		}
		if h.String() != s {
			t.Fatalf("accepted non-canonical %q (canonical %q)", s, h.String())
		}
	})
}

// FuzzVerifyPassword runs the full verification, argon2 included, whenever
// the parsed cost is small, and otherwise checks that whatever the parser
// accepts is within the memory bound the argon2 call would allocate.
func FuzzVerifyPassword(f *testing.F) {
	f.Add("pw", knownHash(f))
	f.Add("", knownHash(f))
	f.Add("pw", "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("pw", "$argon2id$v=19$m=1048576,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, password, enc string) {
		h, err := parsePHC(enc)
		if err != nil {
			ok, rehash, verr := VerifyPassword(password, enc, fastParams)
			if ok || rehash || !errors.Is(verr, ErrPasswordHashMalformed) {
				t.Fatalf("malformed hash: VerifyPassword = %v, %v, %v", ok, rehash, verr)
			}
			return
		}
		if h.params.Memory > MaxPasswordMemory || h.params.Time > MaxPasswordTime || h.params.Threads > MaxPasswordThreads {
			t.Fatalf("parser accepted costly params %+v", h.params)
		}
		if h.params.Memory > 1024 || h.params.Time > 2 {
			return // within bounds but too slow to run on every fuzz input
		}
		ok, _, err := VerifyPassword(password, enc, fastParams)
		if err != nil {
			t.Fatal(err)
		}
		want := string(argonKey(password, h)) == string(h.key)
		if ok != want {
			t.Fatalf("VerifyPassword ok = %v, want %v", ok, want)
		}
	})
}

func BenchmarkHashPassword(b *testing.B) {
	p := DefaultPasswordParams()
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple", p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}

func BenchmarkVerifyPassword(b *testing.B) {
	p := DefaultPasswordParams()
	enc, err := HashPassword("correct horse battery staple", p)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := VerifyPassword("correct horse battery staple", enc, p); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}
