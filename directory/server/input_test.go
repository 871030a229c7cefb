package server

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/strictjson"
)

func TestBadInput(t *testing.T) {
	d := newTestDir(t, nil)
	if a := d.register("quinn", "quinn's password"); a.status != http.StatusCreated {
		t.Fatal(a.status, string(a.body))
	}
	node := newNodeKey(t)
	now := time.Now()
	login := func(mutate func(*directory.LoginRequest)) []byte {
		r := loginRequest("quinn", "quinn's password", node, now)
		mutate(&r)
		b, _ := json.Marshal(r)
		return b
	}
	big := `{"username":"quinn","password":"` + strings.Repeat("x", directory.MaxBodyBytes) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
		mention                  string // in the message
	}{
		{"body too large", "POST", "/v1/register", big, 413, directory.CodeBodyTooLarge, "64"},
		{"login body too large", "POST", "/v1/login", big, 413, directory.CodeBodyTooLarge, "bytes"},
		{"empty body", "POST", "/v1/register", ``, 400, directory.CodeBadRequest, "empty"},
		{"malformed JSON", "POST", "/v1/register", `{"username": "x",`, 400, directory.CodeBadRequest, "JSON"},
		{"not an object", "POST", "/v1/register", `["quinn"]`, 400, directory.CodeBadRequest, "object"},
		{"null", "POST", "/v1/register", `null`, 400, directory.CodeBadRequest, "object"},
		{"trailing garbage", "POST", "/v1/register", `{"username":"rita","password":"rita's password"} x`, 400, directory.CodeBadRequest, "after"},
		{"two objects", "POST", "/v1/register", `{"username":"rita","password":"rita's password"}{}`, 400, directory.CodeBadRequest, "after"},
		{"unknown field", "POST", "/v1/register", `{"username":"rita","password":"rita's password","admin":true}`, 400, directory.CodeBadRequest, `"admin"`},
		{"field in other case", "POST", "/v1/register", `{"Username":"rita","password":"rita's password"}`, 400, directory.CodeBadRequest, `"Username"`},
		{"duplicate field", "POST", "/v1/register", `{"username":"rita","username":"admin","password":"rita's password"}`, 400, directory.CodeBadRequest, "twice"},
		{"wrong type", "POST", "/v1/register", `{"username":42,"password":"rita's password"}`, 400, directory.CodeBadRequest, `"username"`},
		{"wrong type password", "POST", "/v1/register", `{"username":"rita","password":{"a":1}}`, 400, directory.CodeBadRequest, `"password"`},
		{"invalid UTF-8", "POST", "/v1/register", "{\"username\":\"ri\xffta\",\"password\":\"rita's password\"}", 400, directory.CodeBadRequest, "UTF-8"},
		{"name too short", "POST", "/v1/register", `{"username":"ri","password":"rita's password"}`, 400, directory.CodeInvalidUsername, "minimum is 3"},
		{"name too long", "POST", "/v1/register", `{"username":"` + strings.Repeat("r", 33) + `","password":"rita's password"}`, 400, directory.CodeInvalidUsername, "maximum is 32"},
		{"name with space", "POST", "/v1/register", `{"username":"rita smith","password":"rita's password"}`, 400, directory.CodeInvalidUsername, "not allowed"},
		{"name with control", "POST", "/v1/register", `{"username":"rita\u0007","password":"rita's password"}`, 400, directory.CodeInvalidUsername, "not allowed"},
		{"name missing", "POST", "/v1/register", `{"password":"rita's password"}`, 400, directory.CodeInvalidUsername, "empty"},
		{"reserved name", "POST", "/v1/register", `{"username":"Admin","password":"rita's password"}`, 400, directory.CodeReservedName, "admin"},
		{"reserved name 2", "POST", "/v1/register", `{"username":"PEERCALL","password":"rita's password"}`, 400, directory.CodeReservedName, "peercall"},
		{"short password", "POST", "/v1/register", `{"username":"rita","password":"1234567"}`, 400, directory.CodeWeakPassword, "8 to 1024"},
		{"long password", "POST", "/v1/register", `{"username":"rita","password":"` + strings.Repeat("p", 1025) + `"}`, 400, directory.CodeWeakPassword, "1025"},
		{"control in password", "POST", "/v1/register", `{"username":"rita","password":"pass\u0000word"}`, 400, directory.CodeWeakPassword, "not allowed"},
		{"login wrong type time", "POST", "/v1/login", `{"username":"quinn","password":"x","time":5}`, 400, directory.CodeBadRequest, `"time"`},
		{"login bad time string", "POST", "/v1/login", `{"username":"quinn","password":"x","time":"yesterday"}`, 400, directory.CodeBadRequest, `"time"`},
		{"login proof not base64", "POST", "/v1/login", `{"username":"quinn","password":"x","proof":"!!"}`, 400, directory.CodeBadRequest, `"proof"`},
		{"login addrs (check-ins say where nodes are)", "POST", "/v1/login", `{"username":"quinn","password":"x","addrs":["/ip4/1.2.3.4/tcp/1"]}`, 400, directory.CodeBadRequest, `unknown field "addrs"`},
		{"login bad peer key", "POST", "/v1/login", string(login(func(r *directory.LoginRequest) { r.PeerKey = "ed25519:AAAA" })), 400, directory.CodeBadRequest, "peer_key"},
		{"login rsa peer key", "POST", "/v1/login", string(login(func(r *directory.LoginRequest) { r.PeerKey = "rsa:AAAA" })), 400, directory.CodeBadRequest, "peer_key"},
		{"login missing peer key", "POST", "/v1/login", string(login(func(r *directory.LoginRequest) { r.PeerKey = "" })), 400, directory.CodeBadRequest, "peer_key"},
		{"login bad proof", "POST", "/v1/login", string(login(func(r *directory.LoginRequest) { r.Proof[0] ^= 1 })), 400, directory.CodeBadProof, "signature"},
		{"login proof by other key", "POST", "/v1/login", string(login(func(r *directory.LoginRequest) {
			r.Proof = ed25519.Sign(newNodeKey(t), directory.LoginProofMessage(r.Username, r.PeerKey, r.Time))
		})), 400, directory.CodeBadProof, "signature"},
		{"login proof for other name", "POST", "/v1/login", string(login(func(r *directory.LoginRequest) { r.Username = "Quinn" })), 400, directory.CodeBadProof, "signature"},
		{"login stale time", "POST", "/v1/login", string(login(func(r *directory.LoginRequest) {
			*r = loginRequest("quinn", "quinn's password", node, now.Add(-6*time.Minute))
		})), 400, directory.CodeBadProof, "clock"},
		{"login future time", "POST", "/v1/login", string(login(func(r *directory.LoginRequest) {
			*r = loginRequest("quinn", "quinn's password", node, now.Add(6*time.Minute))
		})), 400, directory.CodeBadProof, "clock"},
		{"login invalid name", "POST", "/v1/login", string(login(func(r *directory.LoginRequest) { r.Username = "q" })), 400, directory.CodeInvalidUsername, "minimum"},
		{"lookup invalid name", "GET", "/v1/users/a%20b", "", 400, directory.CodeInvalidUsername, "not allowed"},
		{"lookup unknown", "GET", "/v1/users/nobody-here", "", 404, directory.CodeNotFound, "nobody-here"},
		{"search bad limit", "GET", "/v1/users?limit=-1", "", 400, directory.CodeBadRequest, `"limit"`},
		{"search limit not a number", "GET", "/v1/users?limit=ten", "", 400, directory.CodeBadRequest, `"limit"`},
		{"search unknown param", "GET", "/v1/users?q=x", "", 400, directory.CodeBadRequest, `"q"`},
		{"search repeated param", "GET", "/v1/users?prefix=a&prefix=b", "", 400, directory.CodeBadRequest, "2 times"},
		{"search malformed query", "GET", "/v1/users?prefix=%zz", "", 400, directory.CodeBadRequest, "malformed"},
		{"search bad prefix", "GET", "/v1/users?prefix=a%20b", "", 400, directory.CodeInvalidUsername, "prefix"},
		{"bootstrap bad limit", "GET", "/v1/bootstrap?limit=0", "", 400, directory.CodeBadRequest, `"limit"`},
		{"unknown endpoint", "GET", "/v1/nothing", "", 404, directory.CodeNotFound, "/v1/nothing"},
		{"wrong method", "GET", "/v1/register", "", 405, directory.CodeBadRequest, "POST"},
		{"wrong method 2", "DELETE", "/v1/users/quinn", "", 405, directory.CodeBadRequest, "GET"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" || tc.method == "POST" {
				body = []byte(tc.body)
			}
			a := d.do(tc.method, tc.path, body)
			e := a.errorBody(t)
			if a.status != tc.status || e.Error != tc.code {
				t.Fatalf("%s %s: %d %+v, want %d %s", tc.method, tc.path, a.status, e, tc.status, tc.code)
			}
			if !strings.Contains(e.Message, tc.mention) {
				t.Errorf("message %q does not mention %q", e.Message, tc.mention)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	// None of that created a user or logged anyone in.
	users, err := d.store.SearchUsers(t.Context(), "", "", 100)
	if err != nil || len(users) != 1 {
		t.Fatalf("users after bad input: %v, %v; want only quinn", users, err)
	}
	if certs, _ := d.store.Certificates(t.Context(), "quinn", time.Now(), 10); len(certs) != 0 {
		t.Fatalf("bad logins issued %d certificates", len(certs))
	}
	// The good request still works.
	if a := d.do("POST", "/v1/login", login(func(*directory.LoginRequest) {})); a.status != http.StatusOK {
		t.Fatalf("good login after bad input: %d %q", a.status, a.body)
	}
	_ = crypto.EncodePublicKey
}

func FuzzDecodeRegister(f *testing.F) {
	for _, s := range []string{
		`{"username":"alice","password":"correct horse"}`,
		`{"username":"alice","password":"x"} `,
		`{"username":"alice","username":"bob"}`,
		`{"Username":"alice"}`, `{"username":1}`, `[]`, `null`, `{}`, `{} {}`, `{"a":{"b":[1,2,{"c":3}]}}`,
		"{\"username\":\"\xff\"}", ``, `{"username":"alice","password":"p","x":[{"y":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeRegister(b)
		if err != nil {
			if err.status != 400 && err.status != 413 || err.message == "" {
				t.Fatalf("decodeRegister(%q): error %+v", b, err)
			}
			return
		}
		// Accepted input is one object with only the known fields, each
		// once: re-encoding and decoding gives the same request.
		again, err := decodeRegister(mustJSON(t, req))
		if err != nil || again != req {
			t.Fatalf("round trip of %q: %+v, %v", b, again, err)
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			t.Fatalf("accepted %q that is not a JSON object", b)
		}
		for k := range m {
			if k != "username" && k != "password" {
				t.Fatalf("accepted unknown key %q in %q", k, b)
			}
		}
	})
}

func FuzzDecodeLogin(f *testing.F) {
	node := ed25519.NewKeyFromSeed(make([]byte, 32))
	good, _ := json.Marshal(loginRequest("alice", "correct horse", node, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)))
	for _, s := range []string{
		string(good),
		`{"username":"alice","time":"2026-01-02T03:04:05Z","proof":"AAAA","addrs":["/ip4/1.2.3.4"],"super_node":true}`,
		`{"time":5}`, `{"proof":"!!"}`, `{"addrs":[1]}`, `{"super_node":"yes"}`, `{"addrs":null}`,
		`{"time":"2026-13-45T00:00:00Z"}`, `{"username":"a"}garbage`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeLogin(b)
		if err != nil {
			if err.status != 400 && err.status != 413 || err.message == "" {
				t.Fatalf("decodeLogin(%q): error %+v", b, err)
			}
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			t.Fatalf("accepted %q that is not a JSON object", b)
		}
		for k := range m {
			if !strictjson.Known(jsonTypeOf(&req), k) {
				t.Fatalf("accepted unknown key %q in %q", k, b)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
