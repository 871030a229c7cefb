package crypto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

var (
	testDirKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xd1}, 32))
	testDirPub  = testDirKey.Public().(ed25519.PublicKey)
	otherDirKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xd2}, 32))
	testPeerPub = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xa1}, 32)).Public().(ed25519.PublicKey)
	testIssued  = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

func issueTestCert(t testing.TB) *Certificate {
	t.Helper()
	c, err := IssueCertificate(testDirKey, "alice", testPeerPub, 42, testIssued, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueCertificateFields(t *testing.T) {
	issued := time.Date(2026, 11, 25, 13, 0, 0, 999_999_999, time.FixedZone("X", 3600))
	c, err := IssueCertificate(testDirKey, "bob", testPeerPub, 7, issued, 24*time.Hour+1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	wantIssued := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	if !c.Issued.Equal(wantIssued) || c.Issued.Location() != time.UTC {
		t.Errorf("Issued = %v, want %v (second precision, UTC)", c.Issued, wantIssued)
	}
	if want := wantIssued.Add(24*time.Hour + time.Second); !c.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v", c.Expires, want)
	}
	if c.Version != CertificateVersion || c.Username != "bob" || !c.PeerKey.Equal(testPeerPub) || c.Serial != 7 || len(c.Signature) != 64 {
		t.Errorf("unexpected certificate %+v", c)
	}
}

func TestIssueCertificateRejects(t *testing.T) {
	tests := []struct {
		name     string
		dirKey   ed25519.PrivateKey
		user     string
		peer     ed25519.PublicKey
		validity time.Duration
	}{
		{"empty username", testDirKey, "", testPeerPub, time.Hour},
		{"long username", testDirKey, string(bytes.Repeat([]byte("a"), 65)), testPeerPub, time.Hour},
		{"invalid utf8", testDirKey, "al\xffice", testPeerPub, time.Hour},
		{"control char", testDirKey, "ali\nce", testPeerPub, time.Hour},
		{"short peer key", testDirKey, "alice", testPeerPub[:31], time.Hour},
		{"zero validity", testDirKey, "alice", testPeerPub, 0},
		{"sub-second validity", testDirKey, "alice", testPeerPub, time.Millisecond},
		{"bad directory key", testDirKey[:10], "alice", testPeerPub, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := IssueCertificate(tt.dirKey, tt.user, tt.peer, 1, testIssued, tt.validity); err == nil {
				t.Fatalf("IssueCertificate succeeded: %+v", c)
			}
		})
	}
	if _, err := IssueCertificate(testDirKey, string(bytes.Repeat([]byte("é"), 32)), testPeerPub, 1, testIssued, time.Hour); err != nil {
		t.Errorf("64-byte UTF-8 username refused: %v", err)
	}
}

func TestCertificateVerify(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Certificate)
		key     ed25519.PublicKey
		now     time.Time
		wantErr error
	}{
		{"valid", nil, testDirPub, testIssued.Add(time.Hour), nil},
		{"valid at issue", nil, testDirPub, testIssued, nil},
		{"valid within skew", nil, testDirPub, testIssued.Add(-ClockSkew), nil},
		{"valid last second", nil, testDirPub, testIssued.Add(72*time.Hour - time.Second), nil},
		{"not yet valid", nil, testDirPub, testIssued.Add(-ClockSkew - time.Second), ErrCertificateNotYetValid},
		{"expired at expiry", nil, testDirPub, testIssued.Add(72 * time.Hour), ErrCertificateExpired},
		{"expired", nil, testDirPub, testIssued.Add(100 * time.Hour), ErrCertificateExpired},
		{"wrong directory key", nil, otherDirKey.Public().(ed25519.PublicKey), testIssued, ErrCertificateSignature},
		{"short directory key", nil, testDirPub[:16], testIssued, ErrCertificateSignature},
		{"forged signature", func(c *Certificate) { c.Signature[0] ^= 1 }, testDirPub, testIssued, ErrCertificateSignature},
		{"signed by other directory", func(c *Certificate) {
			c.Signature = ed25519.Sign(otherDirKey, c.signedMessage())
		}, testDirPub, testIssued, ErrCertificateSignature},
		{"signature without domain prefix", func(c *Certificate) {
			c.Signature = ed25519.Sign(testDirKey, c.appendUnsigned(nil))
		}, testDirPub, testIssued, ErrCertificateSignature},
		{"tampered username", func(c *Certificate) { c.Username = "mallory" }, testDirPub, testIssued, ErrCertificateSignature},
		{"tampered peer key", func(c *Certificate) { c.PeerKey = otherDirKey.Public().(ed25519.PublicKey) }, testDirPub, testIssued, ErrCertificateSignature},
		{"tampered expiry", func(c *Certificate) { c.Expires = c.Expires.Add(time.Hour) }, testDirPub, testIssued, ErrCertificateSignature},
		{"tampered serial", func(c *Certificate) { c.Serial++ }, testDirPub, testIssued, ErrCertificateSignature},
		{"forged and expired reports signature", func(c *Certificate) { c.Signature[5] ^= 1 }, testDirPub, testIssued.Add(1000 * time.Hour), ErrCertificateSignature},
		{"wrong version", func(c *Certificate) { c.Version = 2 }, testDirPub, testIssued, ErrCertificateVersion},
		{"version zero", func(c *Certificate) { c.Version = 0 }, testDirPub, testIssued, ErrCertificateVersion},
		{"truncated signature", func(c *Certificate) { c.Signature = c.Signature[:63] }, testDirPub, testIssued, ErrCertificateSignature},
		{"malformed username", func(c *Certificate) { c.Username = "" }, testDirPub, testIssued, ErrCertificateMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := issueTestCert(t)
			if tt.mutate != nil {
				tt.mutate(c)
			}
			err := c.Verify(tt.key, tt.now)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify: err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestCertificateVersionedSignatureCoversVersion(t *testing.T) {
	// A version-2 re-signing by the right key must still be refused as a version error.
	c := issueTestCert(t)
	c.Version = 2
	c.Signature = ed25519.Sign(testDirKey, c.signedMessage())
	if err := c.Verify(testDirPub, testIssued); !errors.Is(err, ErrCertificateVersion) {
		t.Fatalf("err = %v, want ErrCertificateVersion", err)
	}
	if _, err := ParseCertificate(c.Marshal()); !errors.Is(err, ErrCertificateVersion) {
		t.Fatalf("ParseCertificate: err = %v, want ErrCertificateVersion", err)
	}
}

func TestCertificateRoundTrip(t *testing.T) {
	for _, user := range []string{"a", "alice", "ünïcødé", string(bytes.Repeat([]byte("z"), 64))} {
		t.Run(user, func(t *testing.T) {
			c, err := IssueCertificate(testDirKey, user, testPeerPub, ^uint64(0), testIssued, 7*24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			b := c.Marshal()
			if len(b) > MaxCertificateSize {
				t.Fatalf("Marshal is %d bytes, over MaxCertificateSize", len(b))
			}
			got, err := ParseCertificate(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != c.Version || got.Username != c.Username || !got.PeerKey.Equal(c.PeerKey) ||
				!got.Issued.Equal(c.Issued) || !got.Expires.Equal(c.Expires) || got.Serial != c.Serial ||
				!bytes.Equal(got.Signature, c.Signature) {
				t.Fatalf("round trip changed the certificate:\n got %+v\nwant %+v", got, c)
			}
			if got.Issued.Location() != time.UTC {
				t.Error("parsed Issued is not UTC")
			}
			if !bytes.Equal(got.Marshal(), b) {
				t.Fatal("re-Marshal differs")
			}
			if err := got.Verify(testDirPub, testIssued.Add(time.Minute)); err != nil {
				t.Fatalf("parsed certificate does not verify: %v", err)
			}
		})
	}
}

// certBytes builds an encoding field by field, for malformed inputs.
type certBytes struct {
	magic            string
	version          byte
	user, peer, sig  []byte
	issued, expires  int64
	serial           uint64
	userLen, peerLen int // -1: use the real length
}

func (cb certBytes) encode() []byte {
	b := []byte(cb.magic)
	b = append(b, cb.version)
	lenOr := func(n, real int) byte {
		if n >= 0 {
			return byte(n)
		}
		return byte(real)
	}
	b = append(b, lenOr(cb.userLen, len(cb.user)))
	b = append(b, cb.user...)
	b = append(b, lenOr(cb.peerLen, len(cb.peer)))
	b = append(b, cb.peer...)
	b = binary.BigEndian.AppendUint64(b, uint64(cb.issued))
	b = binary.BigEndian.AppendUint64(b, uint64(cb.expires))
	b = binary.BigEndian.AppendUint64(b, cb.serial)
	b = append(b, byte(len(cb.sig)))
	return append(b, cb.sig...)
}

func validCertBytes() certBytes {
	return certBytes{magic: "PCCT", version: 1, user: []byte("alice"), peer: testPeerPub,
		sig: bytes.Repeat([]byte{9}, 64), issued: testIssued.Unix(), expires: testIssued.Unix() + 3600,
		serial: 1, userLen: -1, peerLen: -1}
}

func TestParseCertificateRejects(t *testing.T) {
	valid := issueTestCert(t).Marshal()
	mod := func(f func(*certBytes)) []byte {
		cb := validCertBytes()
		f(&cb)
		return cb.encode()
	}
	if _, err := ParseCertificate(mod(func(*certBytes) {})); err != nil {
		t.Fatalf("the builder's baseline must parse: %v", err)
	}
	tests := []struct {
		name    string
		b       []byte
		wantErr error
	}{
		{"empty", nil, ErrCertificateMalformed},
		{"magic only", []byte("PCCT"), ErrCertificateMalformed},
		{"wrong magic", append([]byte("XCCT"), valid[4:]...), ErrCertificateMalformed},
		{"truncated by one", valid[:len(valid)-1], ErrCertificateMalformed},
		{"truncated in username", valid[:8], ErrCertificateMalformed},
		{"trailing byte", append(append([]byte(nil), valid...), 0), ErrCertificateMalformed},
		{"oversized", append(append([]byte(nil), valid...), make([]byte, MaxCertificateSize)...), ErrCertificateMalformed},
		{"version 2", mod(func(c *certBytes) { c.version = 2 }), ErrCertificateVersion},
		{"version 0", mod(func(c *certBytes) { c.version = 0 }), ErrCertificateVersion},
		{"empty username", mod(func(c *certBytes) { c.user = nil }), ErrCertificateMalformed},
		{"65-byte username", mod(func(c *certBytes) { c.user = bytes.Repeat([]byte("a"), 65) }), ErrCertificateMalformed},
		{"invalid utf8 username", mod(func(c *certBytes) { c.user = []byte("a\xc3") }), ErrCertificateMalformed},
		{"control char username", mod(func(c *certBytes) { c.user = []byte("a\x00b") }), ErrCertificateMalformed},
		{"DEL in username", mod(func(c *certBytes) { c.user = []byte("a\x7fb") }), ErrCertificateMalformed},
		{"C1 control in username", mod(func(c *certBytes) { c.user = []byte("a\u0085b") }), ErrCertificateMalformed},
		{"31-byte peer key", mod(func(c *certBytes) { c.peer = c.peer[:31] }), ErrCertificateMalformed},
		{"33-byte peer key", mod(func(c *certBytes) { c.peer = append(append([]byte(nil), c.peer...), 0) }), ErrCertificateMalformed},
		{"peer length past end", mod(func(c *certBytes) { c.peerLen = 255 }), ErrCertificateMalformed},
		{"63-byte signature", mod(func(c *certBytes) { c.sig = c.sig[:63] }), ErrCertificateMalformed},
		{"65-byte signature", mod(func(c *certBytes) { c.sig = append(c.sig, 0) }), ErrCertificateMalformed},
		{"no signature", mod(func(c *certBytes) { c.sig = nil }), ErrCertificateMalformed},
		{"expires before issued", mod(func(c *certBytes) { c.expires = c.issued - 1 }), ErrCertificateMalformed},
		{"expires equals issued", mod(func(c *certBytes) { c.expires = c.issued }), ErrCertificateMalformed},
		{"negative issued", mod(func(c *certBytes) { c.issued = -1 }), ErrCertificateMalformed},
		{"year 10000", mod(func(c *certBytes) { c.expires = maxCertUnix + 1 }), ErrCertificateMalformed},
		{"max int64 expiry", mod(func(c *certBytes) { c.expires = 1<<63 - 1 }), ErrCertificateMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCertificate(tt.b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseCertificate: got %+v, err %v; want %v", c, err, tt.wantErr)
			}
		})
	}
}

// TestParseCertificateOnlyCanonical flips every bit of a valid encoding: each
// result is either refused or parses to a certificate whose Marshal is
// exactly that input (no second encoding of any certificate is accepted),
// and none of the accepted mutants verifies.
func TestParseCertificateOnlyCanonical(t *testing.T) {
	valid := issueTestCert(t).Marshal()
	for i := range valid {
		for bit := range 8 {
			b := append([]byte(nil), valid...)
			b[i] ^= 1 << bit
			c, err := ParseCertificate(b)
			if err != nil {
				continue
			}
			if !bytes.Equal(c.Marshal(), b) {
				t.Fatalf("byte %d bit %d: accepted a non-canonical encoding", i, bit)
			}
			if err := c.Verify(testDirPub, testIssued); err == nil {
				t.Fatalf("byte %d bit %d: a tampered certificate verifies", i, bit)
			}
		}
	}
}

func FuzzParseCertificate(f *testing.F) {
	valid := issueTestCert(f).Marshal()
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(append(append([]byte(nil), valid...), 0))
	f.Add([]byte{})
	f.Add([]byte("PCCT\x01"))
	f.Add(validCertBytes().encode())
	long, _ := IssueCertificate(testDirKey, string(bytes.Repeat([]byte("é"), 32)), testPeerPub, 1<<63, testIssued, time.Second)
	f.Add(long.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCertificate(b)
		if err != nil {
			if c != nil {
				t.Fatal("error with non-nil certificate")
			}
			return
		}
		if len(b) > MaxCertificateSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if out := c.Marshal(); !bytes.Equal(out, b) {
			t.Fatalf("Marshal does not round-trip:\n in %x\nout %x", b, out)
		}
		// Verify must not panic on anything the parser accepts.
		_ = c.Verify(testDirPub, testIssued)
	})
}

func BenchmarkVerifyCertificate(b *testing.B) {
	c := issueTestCert(b)
	now := testIssued.Add(time.Hour)
	for b.Loop() {
		if err := c.Verify(testDirPub, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/op")
}

func BenchmarkParseAndVerifyCertificate(b *testing.B) {
	raw := issueTestCert(b).Marshal()
	now := testIssued.Add(time.Hour)
	for b.Loop() {
		c, err := ParseCertificate(raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Verify(testDirPub, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/op")
}

func TestCertificateVerifyPeer(t *testing.T) {
	c := issueTestCert(t)
	other := otherDirKey.Public().(ed25519.PublicKey)
	tests := []struct {
		name    string
		peer    ed25519.PublicKey
		now     time.Time
		wantErr error
	}{
		{"right peer", testPeerPub, testIssued, nil},
		{"other peer", other, testIssued, ErrCertificatePeer},
		{"no peer key", nil, testIssued, ErrCertificatePeer},
		{"right peer, expired", testPeerPub, testIssued.Add(1000 * time.Hour), ErrCertificateExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.VerifyPeer(testDirPub, tt.peer, tt.now)
			if (tt.wantErr == nil && err != nil) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyPeer: err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
