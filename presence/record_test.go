package presence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/crypto"
)

// presenceNow is the fixed clock of the unit tests.
var presenceNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// presenceUser is a test user: a node key and the directory's certificate.
type presenceUser struct {
	name string
	priv ic.PrivKey
	id   peer.ID
	cert *crypto.Certificate
}

// presenceFixture is a directory and its users.
type presenceFixture struct {
	dirPub  ed25519.PublicKey
	dirPriv ed25519.PrivateKey
	users   map[string]*presenceUser
}

func newPresenceFixture(t testing.TB, names ...string) *presenceFixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &presenceFixture{dirPub: pub, dirPriv: priv, users: map[string]*presenceUser{}}
	for i, n := range names {
		f.users[n] = f.newUser(t, n, uint64(i+1), presenceNow.Add(-time.Hour), 7*24*time.Hour)
	}
	return f
}

// newUser makes a node key and a certificate for name issued at issued.
func (f *presenceFixture) newUser(t testing.TB, name string, serial uint64, issued time.Time, validity time.Duration) *presenceUser {
	t.Helper()
	_, nodeKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ic.UnmarshalEd25519PrivateKey(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := crypto.IssueCertificate(f.dirPriv, name, nodeKey.Public().(ed25519.PublicKey), serial, issued, validity)
	if err != nil {
		t.Fatal(err)
	}
	return &presenceUser{name: name, priv: priv, id: id, cert: cert}
}

// validator returns a validator for f's directory on the fixed clock.
func (f *presenceFixture) validator(t testing.TB) *Validator {
	t.Helper()
	v, err := NewValidator(f.dirPub, func() time.Time { return presenceNow })
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// presence returns a live record of u valid for an hour.
func (u *presenceUser) presence(seq uint64) *Record {
	return &Record{
		Certificate: u.cert,
		PeerID:      u.id,
		Addrs: []ma.Multiaddr{
			ma.StringCast("/ip4/127.0.0.1/tcp/7070"),
			ma.StringCast("/ip4/127.0.0.1/udp/7070/quic-v1"),
			ma.StringCast("/ip4/198.18.0.1/tcp/7070/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf/p2p-circuit"),
		},
		Seq:     seq,
		Expires: presenceNow.Add(time.Hour),
	}
}

// seal signs p with key and returns the envelope bytes.
func seal(t testing.TB, p record.Record, key ic.PrivKey) []byte {
	t.Helper()
	env, err := record.Seal(p, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// payload returns p's encoding.
func payload(t testing.TB, p *Record) []byte {
	t.Helper()
	b, err := p.MarshalRecord()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPresenceRecordRoundTrip(t *testing.T) {
	f := newPresenceFixture(t, "alice")
	alice := f.users["alice"]
	tomb := alice.presence(9)
	tomb.Addrs, tomb.Withdrawn = nil, true
	for _, p := range []*Record{alice.presence(1), tomb} {
		b := payload(t, p)
		var got Record
		if err := got.UnmarshalRecord(b); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if got.PeerID != p.PeerID || got.Seq != p.Seq || !got.Expires.Equal(p.Expires) || got.Withdrawn != p.Withdrawn {
			t.Errorf("decoded %+v, want %+v", got, *p)
		}
		if !bytes.Equal(got.Certificate.Marshal(), p.Certificate.Marshal()) {
			t.Error("certificate changed in the round trip")
		}
		if len(got.Addrs) != len(p.Addrs) {
			t.Fatalf("decoded %d addresses, want %d", len(got.Addrs), len(p.Addrs))
		}
		for i := range p.Addrs {
			if !got.Addrs[i].Equal(p.Addrs[i]) {
				t.Errorf("address %d: %v, want %v", i, got.Addrs[i], p.Addrs[i])
			}
		}
	}
}

func TestPresenceRecordStrictDecoder(t *testing.T) {
	f := newPresenceFixture(t, "alice")
	good := payload(t, f.users["alice"].presence(1))
	mutate := func(fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated by one byte", good[:len(good)-1]},
		{"trailing byte", mutate(func(b []byte) []byte { return append(b, 0) })},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"version 2", mutate(func(b []byte) []byte { b[4] = 2; return b })},
		{"unknown flag", mutate(func(b []byte) []byte { b[5] = 2; return b })},
		{"withdrawn with addresses", mutate(func(b []byte) []byte { b[5] = flagWithdrawn; return b })},
		{"sequence 0", mutate(func(b []byte) []byte { copy(b[6:14], make([]byte, 8)); return b })},
		{"expiry before 1970", mutate(func(b []byte) []byte { b[14] = 0xff; return b })},
		{"peer ID length off", mutate(func(b []byte) []byte { b[22]--; return b })},
		{"oversized", append(append([]byte(nil), good...), make([]byte, MaxSize)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Record
			err := p.UnmarshalRecord(tt.b)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode: %v, want an error wrapping ErrMalformed", err)
			}
		})
	}
	// Every truncation fails.
	for n := range len(good) {
		var p Record
		if err := p.UnmarshalRecord(good[:n]); err == nil {
			t.Fatalf("a payload truncated to %d of %d bytes decoded", n, len(good))
		}
	}
}

func TestPresenceRecordEncodeLimits(t *testing.T) {
	f := newPresenceFixture(t, "alice")
	alice := f.users["alice"]
	tooMany := alice.presence(1)
	for len(tooMany.Addrs) <= MaxAddrs {
		tooMany.Addrs = append(tooMany.Addrs, ma.StringCast("/ip4/127.0.0.1/tcp/1"))
	}
	noCert := alice.presence(1)
	noCert.Certificate = nil
	withdrawnAddrs := alice.presence(1)
	withdrawnAddrs.Withdrawn = true
	for name, p := range map[string]*Record{
		"too many addresses":       tooMany,
		"no certificate":           noCert,
		"sequence 0":               alice.presence(0),
		"withdrawn with addresses": withdrawnAddrs,
	} {
		if _, err := p.MarshalRecord(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: encode: %v, want ErrMalformed", name, err)
		}
	}
}
