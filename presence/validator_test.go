package presence

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peercall/peercall/crypto"
)

// presenceRejections are the validator's distinct sentinel errors.
var presenceRejections = []error{
	ErrTooLarge, ErrBadKey, ErrUnsigned, ErrMalformed,
	ErrForged, ErrExpired, ErrFarFuture, ErrBadCertificate,
	ErrCertKeyMismatch, ErrPeerMismatch, ErrNameMismatch,
}

// otherDomain signs a presence payload in another signature domain.
type otherDomain struct{ *Record }

func (otherDomain) Domain() string { return "libp2p-peer-record" }

// otherCodec seals a presence payload under another payload type.
type otherCodec struct{ *Record }

func (otherCodec) Codec() []byte { return []byte{0x03, 0x01} }

func TestPresenceValidator(t *testing.T) {
	f := newPresenceFixture(t, "alice", "bob", "mallory")
	alice, bob, mallory := f.users["alice"], f.users["bob"], f.users["mallory"]
	v := f.validator(t)

	valid := seal(t, bob.presence(1), bob.priv)
	// with returns bob's record changed by fn, sealed by signer.
	with := func(signer ic.PrivKey, fn func(p *Record)) []byte {
		p := bob.presence(1)
		fn(p)
		return seal(t, p, signer)
	}
	flipped := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		return c
	}
	tombstone := with(bob.priv, func(p *Record) { p.Addrs, p.Withdrawn = nil, true })
	payloadAt := bytes.Index(valid, payload(t, bob.presence(1)))
	if payloadAt < 0 {
		t.Fatal("payload not found in the envelope")
	}

	expiredCert := f.newUser(t, "bob", 50, presenceNow.Add(-48*time.Hour), 24*time.Hour)
	otherDir := newPresenceFixture(t, "bob").users["bob"] // a certificate from another directory
	secp, _, err := ic.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secpID, err := peer.IDFromPrivateKey(secp)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		key   string
		value []byte
		want  error // nil: accepted
		cause error // also wrapped, when set
	}{
		{"valid", "/peercall/bob", valid, nil, nil},
		{"valid tombstone", "/peercall/bob", tombstone, nil, nil},
		{"record copied from bob and replayed by another peer is still bob's", "/peercall/bob", bytes.Clone(valid), nil, nil},
		{"unsigned raw payload", "/peercall/bob", payload(t, bob.presence(1)), ErrUnsigned, nil},
		{"garbage", "/peercall/bob", []byte("hello, I am bob"), ErrUnsigned, nil},
		{"empty value", "/peercall/bob", nil, ErrUnsigned, nil},
		{"forged signature", "/peercall/bob", flipped(valid, len(valid)-1), ErrForged, nil},
		{"payload tampered after signing", "/peercall/bob", flipped(valid, payloadAt+13), ErrForged, nil},
		{"signed in another domain", "/peercall/bob", seal(t, otherDomain{bob.presence(1)}, bob.priv), ErrForged, nil},
		{"another payload type", "/peercall/bob", seal(t, otherCodec{bob.presence(1)}, bob.priv), ErrMalformed, nil},
		{"envelope with an extra field", "/peercall/bob", append(bytes.Clone(valid), 0x48, 0x01), ErrMalformed, nil},
		{"expired record", "/peercall/bob", with(bob.priv, func(p *Record) { p.Expires = presenceNow.Add(-time.Second) }), ErrExpired, nil},
		{"record expiring now", "/peercall/bob", with(bob.priv, func(p *Record) { p.Expires = presenceNow }), ErrExpired, nil},
		{"expiry too far in the future", "/peercall/bob", with(bob.priv, func(p *Record) { p.Expires = presenceNow.Add(25 * time.Hour) }), ErrFarFuture, nil},
		{"expired certificate", "/peercall/bob", seal(t, expiredCert.presence(1), expiredCert.priv), ErrBadCertificate, crypto.ErrCertificateExpired},
		{"certificate from another directory", "/peercall/bob", seal(t, otherDir.presence(1), otherDir.priv), ErrBadCertificate, crypto.ErrCertificateSignature},
		{"mallory's certificate in a record signed by bob", "/peercall/mallory", with(bob.priv, func(p *Record) { p.Certificate = mallory.cert }), ErrCertKeyMismatch, nil},
		{"bob's record re-signed by mallory", "/peercall/bob", with(mallory.priv, func(*Record) {}), ErrCertKeyMismatch, nil},
		{"bob's certificate, mallory's peer ID, signed by mallory", "/peercall/bob", with(mallory.priv, func(p *Record) { p.PeerID = mallory.id }), ErrCertKeyMismatch, nil},
		{"signed with a secp256k1 key", "/peercall/bob", with(secp, func(p *Record) { p.PeerID = secpID }), ErrCertKeyMismatch, nil},
		{"peer ID is not the signer's", "/peercall/bob", with(bob.priv, func(p *Record) { p.PeerID = mallory.id }), ErrPeerMismatch, nil},
		{"mallory's valid record stored under bob's name", "/peercall/bob", seal(t, mallory.presence(1), mallory.priv), ErrNameMismatch, nil},
		{"alice's valid record stored under bob's name", "/peercall/bob", seal(t, alice.presence(7), alice.priv), ErrNameMismatch, nil},
		{"oversized", "/peercall/bob", append(bytes.Clone(valid), make([]byte, MaxSize)...), ErrTooLarge, nil},
		{"key without a name", "/peercall/", valid, ErrBadKey, nil},
		{"key in another namespace", "/pk/bob", valid, ErrBadKey, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Validate(tt.key, tt.value)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate: %v, want an error wrapping %q", err, tt.want)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("Validate: %v, want it to wrap %q too", err, tt.cause)
			}
			for _, other := range presenceRejections {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("Validate: %v also wraps %q; rejections must be distinct", err, other)
				}
			}
		})
	}

	// Open hands back the record it accepted: a replayed record still sends
	// callers to bob's node, whoever served it.
	p, err := v.Open("/peercall/bob", bytes.Clone(valid))
	if err != nil {
		t.Fatal(err)
	}
	if p.PeerID != bob.id || p.Certificate.Username != "bob" {
		t.Errorf("Open returned peer %s user %q, want bob's %s", p.PeerID, p.Certificate.Username, bob.id)
	}
}

func TestPresenceValidatorClock(t *testing.T) {
	f := newPresenceFixture(t)
	bob := f.newUser(t, "bob", 1, presenceNow.Add(-48*time.Hour), 7*24*time.Hour)
	value := seal(t, bob.presence(1), bob.priv) // expires presenceNow + 1h
	for _, tt := range []struct {
		at   time.Time
		want error
	}{
		{presenceNow.Add(59 * time.Minute), nil},
		{presenceNow.Add(61 * time.Minute), ErrExpired},
		{presenceNow.Add(-22 * time.Hour), nil},
		{presenceNow.Add(-23*time.Hour - 10*time.Minute), ErrFarFuture},
	} {
		v, err := NewValidator(f.dirPub, func() time.Time { return tt.at })
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Validate("/peercall/bob", value); !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
			t.Errorf("at %v: Validate: %v, want %v", tt.at, err, tt.want)
		}
	}
	if _, err := NewValidator(f.dirPub[:8], nil); err == nil {
		t.Error("NewValidator accepted an 8-byte directory key")
	}
}

func TestPresenceValidatorSelect(t *testing.T) {
	f := newPresenceFixture(t, "bob", "mallory")
	bob, mallory := f.users["bob"], f.users["mallory"]
	v := f.validator(t)
	rec := func(seq uint64, expires time.Duration, withdrawn bool) []byte {
		p := bob.presence(seq)
		p.Expires = presenceNow.Add(expires)
		if withdrawn {
			p.Addrs, p.Withdrawn = nil, true
		}
		return seal(t, p, bob.priv)
	}
	forgedHigh := rec(100, time.Hour, false)
	forgedHigh[len(forgedHigh)-1] ^= 1
	tests := []struct {
		name   string
		values [][]byte
		want   int
	}{
		{"one", [][]byte{rec(1, time.Hour, false)}, 0},
		{"highest sequence wins", [][]byte{rec(1, time.Hour, false), rec(3, time.Hour, false), rec(2, time.Hour, false)}, 1},
		{"higher sequence beats later expiry", [][]byte{rec(1, 2*time.Hour, false), rec(2, time.Hour, false)}, 1},
		{"equal sequence: later expiry", [][]byte{rec(5, time.Hour, false), rec(5, 2*time.Hour, false)}, 1},
		{"equal sequence: tombstone wins", [][]byte{rec(5, 2*time.Hour, false), rec(5, time.Hour, true)}, 1},
		{"newer tombstone beats older record", [][]byte{rec(5, time.Hour, false), rec(6, time.Hour, true)}, 1},
		{"older tombstone loses to newer record", [][]byte{rec(5, time.Hour, true), rec(6, time.Hour, false)}, 1},
		{"identical: first", [][]byte{rec(5, time.Hour, false), rec(5, time.Hour, false)}, 0},
		{"forged higher sequence skipped", [][]byte{rec(1, time.Hour, false), forgedHigh}, 0},
		{"expired higher sequence skipped", [][]byte{rec(1, time.Hour, false), rec(9, -time.Minute, false)}, 0},
		{"mallory's record under bob skipped", [][]byte{seal(t, mallory.presence(99), mallory.priv), rec(1, time.Hour, false)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Select("/peercall/bob", tt.values)
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if got != tt.want {
				t.Errorf("Select = %d, want %d", got, tt.want)
			}
		})
	}
	for name, values := range map[string][][]byte{
		"no values":  nil,
		"none valid": {forgedHigh, []byte("junk")},
	} {
		if _, err := v.Select("/peercall/bob", values); !errors.Is(err, ErrNoneValid) {
			t.Errorf("%s: Select: %v, want ErrNoneValid", name, err)
		}
	}
}

// FuzzPresenceValidate feeds arbitrary bytes to the validator: it must not
// panic, and whatever it accepts must re-encode to the same bytes.
func FuzzPresenceValidate(f *testing.F) {
	fx := newPresenceFixture(f, "bob")
	bob := fx.users["bob"]
	v := fx.validator(f)
	valid := seal(f, bob.presence(1), bob.priv)
	f.Add(valid)
	tomb := bob.presence(2)
	tomb.Addrs, tomb.Withdrawn = nil, true
	f.Add(seal(f, tomb, bob.priv))
	f.Add(payload(f, bob.presence(1)))
	f.Add(valid[:len(valid)/2])
	f.Add([]byte{})
	f.Add([]byte("\x0a\x24\x08\x01\x12\x20"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := v.Open("/peercall/bob", b)
		if err != nil {
			return
		}
		again := seal(t, p, bob.priv)
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted value does not re-encode to itself:\n in %x\nout %x", b, again)
		}
	})
}

// FuzzPresenceRecord feeds arbitrary payloads to the strict decoder: it must
// not panic, and what it decodes must re-encode byte for byte.
func FuzzPresenceRecord(f *testing.F) {
	fx := newPresenceFixture(f, "bob")
	bob := fx.users["bob"]
	good := payload(f, bob.presence(1))
	f.Add(good)
	tomb := bob.presence(2)
	tomb.Addrs, tomb.Withdrawn = nil, true
	f.Add(payload(f, tomb))
	f.Add(good[:30])
	f.Add([]byte("PCPR\x01\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Record
		if err := p.UnmarshalRecord(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := p.MarshalRecord()
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("decoded record re-encodes differently:\n in %x\nout %x", b, again)
		}
	})
}

// BenchmarkValidatePresence measures one full validation of a typical
// record (envelope and certificate signatures, decoding, checks).
func BenchmarkValidatePresence(b *testing.B) {
	f := newPresenceFixture(b, "bob")
	bob := f.users["bob"]
	v := f.validator(b)
	value := seal(b, bob.presence(1), bob.priv)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate("/peercall/bob", value); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e6/float64(b.N), "µs/validation")
	b.ReportMetric(float64(len(value)), "record-bytes")
}
