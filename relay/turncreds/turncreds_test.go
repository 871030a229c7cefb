package turncreds

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func seedRequest() []byte {
	b, _ := CredentialRequest{Nonce: [NonceSize]byte{1, 2, 3}, Certificate: bytes.Repeat([]byte{7}, 150)}.Marshal()
	return b
}

func seedResponse() []byte {
	b, _ := CredentialResponse{Nonce: [NonceSize]byte{9}, Credentials: Credentials{
		URLs:     []string{"turn:198.18.0.1:3478?transport=udp", "turns:relay.example:443?transport=tcp"},
		Username: "1767225600:alice", Password: "n5ZzG1n1c0aXvKbpeT3mRB8u1rA=", Expires: time.Unix(1767225600, 0).UTC(),
	}}.Marshal()
	return b
}

func seedError() []byte {
	b, _ := CredentialResponse{Code: CodeCertificate, Message: "certificate has expired\nline two"}.Marshal()
	return b
}

func TestCodecRoundTrip(t *testing.T) {
	q, err := UnmarshalCredentialRequest(seedRequest())
	if err != nil || q.Nonce[2] != 3 || len(q.Certificate) != 150 {
		t.Fatalf("request: %+v, %v", q, err)
	}
	p, err := UnmarshalCredentialResponse(seedResponse())
	if err != nil || p.Credentials.Username != "1767225600:alice" || len(p.Credentials.URLs) != 2 || p.Credentials.Expires.Unix() != 1767225600 {
		t.Fatalf("response: %+v, %v", p, err)
	}
	e, err := UnmarshalCredentialResponse(seedError())
	if err != nil || e.Code != CodeCertificate || e.Message != "certificate has expired line two" {
		t.Fatalf("error response: %+v, %v", e, err)
	}
	bad := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong version", append([]byte{2}, seedRequest()[1:]...)},
		{"response as request", seedResponse()},
		{"trailing byte", append(seedRequest(), 0)},
		{"truncated", seedRequest()[:40]},
	}
	for _, tt := range bad {
		if _, err := UnmarshalCredentialRequest(tt.b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: UnmarshalCredentialRequest = %v, want ErrMalformed", tt.name, err)
		}
	}
	resp := seedResponse()
	badURL := bytes.Replace(resp, []byte("turn:198"), []byte("http:198"), 1)
	ctl := bytes.Replace(resp, []byte("alice"), []byte("al\x00ce"), 1)
	for name, b := range map[string][]byte{"http URL": badURL, "control byte": ctl, "trailing": append(resp, 1), "request as response": seedRequest()} {
		if _, err := UnmarshalCredentialResponse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: UnmarshalCredentialResponse = %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzCredentialRequest: the decoder never panics, and what it accepts
// re-encodes to the same bytes (one canonical encoding).
func FuzzCredentialRequest(f *testing.F) {
	f.Add(seedRequest())
	f.Add([]byte{1, 1})
	f.Add(append(seedRequest(), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := UnmarshalCredentialRequest(b)
		if err != nil {
			return
		}
		out, err := q.Marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding %x gave %x, %v", b, out, err)
		}
	})
}

func FuzzCredentialResponse(f *testing.F) {
	f.Add(seedResponse())
	f.Add(seedError())
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := UnmarshalCredentialResponse(b)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding %x gave %x, %v", b, out, err)
		}
	})
}

// FuzzReadFrame: any byte stream is either one bounded frame or an error.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 3, 1, 2, 3})
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := ReadFrame(bytes.NewReader(b))
		if err == nil && (len(body) == 0 || len(body) > MaxMessageSize) {
			t.Fatalf("frame of %d bytes accepted", len(body))
		}
	})
}
