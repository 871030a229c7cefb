package directory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/peercall/peercall/crypto"
)

// MaxResponseBytes bounds every response body the Client reads; a larger
// answer is refused with ErrBadResponse.
const MaxResponseBytes = 1 << 20

// DefaultTimeout bounds one attempt of a request when ClientOptions.Timeout
// is zero.
const DefaultTimeout = 15 * time.Second

// ClientOptions configures a Client. The zero value is usable for
// Client.Key only (trust on first use); every other call needs DirectoryKey.
type ClientOptions struct {
	// DirectoryKey is the pinned directory public key. Over https the
	// server's TLS leaf key must equal it (directory.PinnedTLSConfig), and
	// every certificate the directory returns must verify with it. Nil
	// allows only Key, to fetch the key for trust on first use.
	DirectoryKey ed25519.PublicKey
	// HTTPClient is copied and used for requests. When its Transport is nil
	// or an *http.Transport, the copy's transport is a clone with the TLS
	// configuration replaced by the pinned one; any other RoundTripper is
	// used as given and must verify the directory itself. Redirects are
	// never followed.
	HTTPClient *http.Client
	// Timeout bounds each attempt (default DefaultTimeout).
	Timeout time.Duration
	// Logger receives retry and verification notes (default: discarded).
	Logger *slog.Logger
	// Retry bounds the retries; unset fields take DefaultRetryPolicy's.
	Retry RetryPolicy
	// Now is the clock certificates are checked against (default time.Now).
	Now func() time.Time
}

// Client talks to one directory over its HTTP API. It is safe for concurrent
// use.
type Client struct {
	base    *url.URL
	key     ed25519.PublicKey
	hc      *http.Client
	log     *slog.Logger
	retry   RetryPolicy
	timeout time.Duration
	now     func() time.Time
}

// NewClient returns a client of the directory at baseURL: an https URL, or
// an http URL of a loopback host (127.0.0.0/8, ::1, localhost) for local
// tests and demos.
func NewClient(baseURL string, opts ClientOptions) (*Client, error) {
	base, err := ParseDirectoryURL(baseURL)
	if err != nil {
		return nil, err
	}
	if opts.DirectoryKey != nil && len(opts.DirectoryKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("directory key is %d bytes, want %d; give it in the ed25519:... form `peercall init` prints", len(opts.DirectoryKey), ed25519.PublicKeySize)
	}
	c := &Client{
		base:    base,
		key:     opts.DirectoryKey,
		log:     opts.Logger,
		retry:   opts.Retry.withDefaults(),
		timeout: opts.Timeout,
		now:     opts.Now,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.hc = c.httpClient(opts.HTTPClient)
	return c, nil
}

// sessionCacheSize is the TLS sessions a Client keeps: one directory, a
// few connections.
const sessionCacheSize = 8

// httpClient copies given (or a default client) and installs the TLS
// configuration and the no-redirect policy.
func (c *Client) httpClient(given *http.Client) *http.Client {
	var hc http.Client
	if given != nil {
		hc = *given
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var tr *http.Transport
	switch t := hc.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return &hc
	}
	if c.base.Scheme == "https" {
		if c.key != nil {
			tr.TLSClientConfig = PinnedTLSConfig(c.key)
		} else {
			// Trust on first use: Key accepts any server certificate and
			// then insists that its leaf key is the key the server names.
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
		}
		// Resume TLS sessions: a node reconnecting (after a backoff, or
		// when the directory closed an idle connection) costs the
		// directory a resumed handshake, not a full one; after a mass
		// restart, the directory serves resumptions first
		// (max_concurrent_handshakes). The pin is checked on resumed
		// sessions too (VerifyConnection sees the session's certificate).
		tr.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(sessionCacheSize)
	}
	hc.Transport = tr
	return &hc
}

// ParseDirectoryURL checks a directory URL: https, or http of a loopback
// host; no user info, query or fragment. The path, if any, is kept as the
// prefix of the API.
func ParseDirectoryURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("directory URL %q: %w; give it as https://HOST:PORT", s, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("directory URL %q: scheme must be https (or http for a loopback host); give it as https://HOST:PORT", s)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("directory URL %q has no host; give it as https://HOST:PORT", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("directory URL %q: only scheme, host, port and path are allowed; give it as https://HOST:PORT", s)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("directory URL %q: plain http is allowed only for a loopback host (127.0.0.1, ::1, localhost), since passwords travel in it; use https", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close closes the client's idle connections, ending the transport
// goroutines that keep them. The client must not be used afterwards.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// BaseURL returns the directory's URL as the client uses it.
func (c *Client) BaseURL() string { return c.base.String() }

// DirectoryKey returns the pinned directory key, or nil.
func (c *Client) DirectoryKey() ed25519.PublicKey { return c.key }

// Register creates the account name with password. A taken name fails with
// ErrNameTaken; the *APIError (errors.As) then carries the directory's
// suggested alternatives.
func (c *Client) Register(ctx context.Context, name, password string) (RegisterResponse, error) {
	var out RegisterResponse
	req := RegisterRequest{Username: name, Password: password}
	_, err := c.do(ctx, http.MethodPost, "/register", nil, req, &out, false)
	if err != nil {
		return RegisterResponse{}, fmt.Errorf("register %q: %w", name, err)
	}
	return out, nil
}

// LoginParams is what Login sends: the password and the node's identity
// key to certify (its public half is sent with a proof of possession).
// Where the node is, the directory learns from its check-ins (CheckIn).
type LoginParams struct {
	Username string
	Password string
	Key      ed25519.PrivateKey
}

// Login proves the password and the possession of p.Key and returns the
// certificate the directory issued for p.Key, after checking that it verifies
// with the pinned directory key and names p.Key and the user.
func (c *Client) Login(ctx context.Context, p LoginParams) (*crypto.Certificate, LoginResponse, error) {
	fail := func(err error) (*crypto.Certificate, LoginResponse, error) {
		return nil, LoginResponse{}, fmt.Errorf("log in as %q: %w", p.Username, err)
	}
	if c.key == nil {
		return fail(c.noKeyError())
	}
	if len(p.Key) != ed25519.PrivateKeySize {
		return fail(fmt.Errorf("identity key is %d bytes, want an ed25519 private key", len(p.Key)))
	}
	name, err := Normalize(p.Username)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrInvalidRequest, err))
	}
	pub := p.Key.Public().(ed25519.PublicKey)
	peerKey := crypto.EncodePublicKey(pub)
	now := c.now().UTC()
	req := LoginRequest{
		Username: name,
		Password: p.Password,
		PeerKey:  peerKey,
		Time:     now,
		Proof:    ed25519.Sign(p.Key, LoginProofMessage(name, peerKey, now)),
	}
	var out LoginResponse
	if _, err := c.do(ctx, http.MethodPost, "/login", nil, req, &out, false); err != nil {
		return fail(err)
	}
	cert, err := c.checkIssued(out, pub, name)
	if err != nil {
		return fail(err)
	}
	return cert, out, nil
}

// checkIssued checks a certificate the directory issued for pub and name.
func (c *Client) checkIssued(out LoginResponse, pub ed25519.PublicKey, name string) (*crypto.Certificate, error) {
	fail := func(err error) (*crypto.Certificate, error) { return nil, err }
	peerKey := crypto.EncodePublicKey(pub)
	if out.DirectoryKey != "" {
		dk, err := crypto.ParsePublicKey(out.DirectoryKey)
		if err != nil || !dk.Equal(c.key) {
			return fail(fmt.Errorf("%w: the directory names key %q, not the pinned %s; if the directory's key really changed, run `peercall init` again",
				ErrBadResponse, out.DirectoryKey, crypto.EncodePublicKey(c.key)))
		}
	}
	cert, err := crypto.ParseCertificate(out.Certificate)
	if err != nil {
		return fail(fmt.Errorf("%w: certificate: %w", ErrBadResponse, err))
	}
	if err := cert.Verify(c.key, c.now()); err != nil {
		return fail(fmt.Errorf("%w: the certificate does not verify with the pinned directory key: %w", ErrBadResponse, err))
	}
	if !bytes.Equal(cert.PeerKey, pub) {
		return fail(fmt.Errorf("%w: the certificate names peer key %s, not ours (%s)", ErrBadResponse, crypto.EncodePublicKey(cert.PeerKey), peerKey))
	}
	if cert.Username != name {
		return fail(fmt.Errorf("%w: the certificate names user %q, not %q", ErrBadResponse, cert.Username, name))
	}
	return cert, nil
}

// CheckinParams is one check-in: the node's key and current certificate,
// the time (strictly later than the node's previous check-in), and where
// the node is.
type CheckinParams struct {
	Key         ed25519.PrivateKey
	Certificate *crypto.Certificate
	Time        time.Time
	Addrs       []string
	SuperNode   bool
	Withdraw    bool
}

// CheckIn tells the directory where the node is (or, with Withdraw, that
// it signs off).
func (c *Client) CheckIn(ctx context.Context, p CheckinParams) (CheckinResponse, error) {
	if len(p.Key) != ed25519.PrivateKeySize || p.Certificate == nil {
		return CheckinResponse{}, errors.New("check in: a node key and a certificate are required")
	}
	raw := p.Certificate.Marshal()
	t := p.Time.UTC()
	addrs := p.Addrs
	if addrs == nil {
		addrs = []string{}
	}
	req := CheckinRequest{Certificate: raw, Time: t, Addrs: addrs, SuperNode: p.SuperNode, Withdraw: p.Withdraw,
		Proof: ed25519.Sign(p.Key, CheckinProofMessage(raw, t, addrs, p.SuperNode, p.Withdraw))}
	var out CheckinResponse
	if _, err := c.do(ctx, http.MethodPost, "/checkin", nil, req, &out, false); err != nil {
		return CheckinResponse{}, fmt.Errorf("check in as %q: %w", p.Certificate.Username, err)
	}
	return out, nil
}

// keyProof builds a KeyProofRequest for purpose.
func (c *Client) keyProof(purpose string, key ed25519.PrivateKey, cert *crypto.Certificate) KeyProofRequest {
	raw, now := cert.Marshal(), c.now().UTC()
	return KeyProofRequest{Certificate: raw, Time: now, Proof: ed25519.Sign(key, KeyProofMessage(purpose, raw, now))}
}

// Renew asks for a new certificate of cert's user and key, proving
// possession of key (no password), before cert expires; it checks the new
// certificate as Login does.
func (c *Client) Renew(ctx context.Context, key ed25519.PrivateKey, cert *crypto.Certificate) (*crypto.Certificate, LoginResponse, error) {
	if c.key == nil {
		return nil, LoginResponse{}, fmt.Errorf("renew the certificate: %w", c.noKeyError())
	}
	var out LoginResponse
	if _, err := c.do(ctx, http.MethodPost, "/renew", nil, c.keyProof(ProofRenew, key, cert), &out, false); err != nil {
		return nil, LoginResponse{}, fmt.Errorf("renew the certificate of %q: %w", cert.Username, err)
	}
	issued, err := c.checkIssued(out, key.Public().(ed25519.PublicKey), cert.Username)
	if err != nil {
		return nil, LoginResponse{}, fmt.Errorf("renew the certificate of %q: %w", cert.Username, err)
	}
	return issued, out, nil
}

// Revoke revokes cert (this node's own), proving possession of key.
func (c *Client) Revoke(ctx context.Context, key ed25519.PrivateKey, cert *crypto.Certificate) (RevokeResponse, error) {
	var out RevokeResponse
	if _, err := c.do(ctx, http.MethodPost, "/revoke", nil, c.keyProof(ProofRevoke, key, cert), &out, false); err != nil {
		return out, fmt.Errorf("revoke certificate %d of %q: %w", cert.Serial, cert.Username, err)
	}
	return out, nil
}

// Logout revokes every certificate of the account, proved by its password.
func (c *Client) Logout(ctx context.Context, name, password string) (RevokeResponse, error) {
	var out RevokeResponse
	if _, err := c.do(ctx, http.MethodPost, "/logout", nil, LogoutRequest{Username: name, Password: password}, &out, false); err != nil {
		return out, fmt.Errorf("log %q out everywhere: %w", name, err)
	}
	return out, nil
}

// Passwd changes the account's password from password to newPassword.
func (c *Client) Passwd(ctx context.Context, name, password, newPassword string) error {
	var out RegisterResponse
	req := PasswdRequest{Username: name, Password: password, NewPassword: newPassword}
	if _, err := c.do(ctx, http.MethodPost, "/passwd", nil, req, &out, false); err != nil {
		return fmt.Errorf("change the password of %q: %w", name, err)
	}
	return nil
}

// Revocations fetches the directory's revocation list and checks its
// signature with the pinned key.
func (c *Client) Revocations(ctx context.Context) (*crypto.RevocationList, error) {
	if c.key == nil {
		return nil, fmt.Errorf("fetch the revocation list: %w", c.noKeyError())
	}
	var out RevocationsResponse
	if _, err := c.do(ctx, http.MethodGet, "/revocations", nil, nil, &out, true); err != nil {
		return nil, fmt.Errorf("fetch the revocation list: %w", err)
	}
	l, err := crypto.ParseRevocationList(out.List)
	if err == nil {
		err = l.Verify(c.key, c.now())
	}
	if err != nil {
		return nil, fmt.Errorf("fetch the revocation list: %w: %w", ErrBadResponse, err)
	}
	return l, nil
}

// User returns name's public record. Certificates that do not parse, do not
// verify with the pinned key at the current time, or name another user are
// dropped (and logged), so every certificate returned is valid.
func (c *Client) User(ctx context.Context, name string) (UserResponse, error) {
	fail := func(err error) (UserResponse, error) {
		return UserResponse{}, fmt.Errorf("look up user %q: %w", name, err)
	}
	if c.key == nil {
		return fail(c.noKeyError())
	}
	norm, err := Normalize(name)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrNotFound, err))
	}
	var out UserResponse
	// norm holds no '/', '?', '#' or '%' (Normalize refuses them): it is one
	// path segment, which do escapes once.
	if _, err := c.do(ctx, http.MethodGet, "/users/"+norm, nil, nil, &out, true); err != nil {
		return fail(err)
	}
	if out.Username != norm {
		return fail(fmt.Errorf("%w: asked for %q, the directory answered for %q", ErrBadResponse, norm, out.Username))
	}
	now := c.now()
	valid := out.Certificates[:0:0]
	for i, raw := range out.Certificates {
		cert, err := crypto.ParseCertificate(raw)
		if err == nil {
			err = cert.Verify(c.key, now)
		}
		if err == nil && cert.Username != norm {
			err = fmt.Errorf("names user %q", cert.Username)
		}
		if err != nil {
			c.log.Warn("directory returned an invalid certificate; dropped", "user", norm, "index", i, "err", err)
			continue
		}
		valid = append(valid, raw)
	}
	out.Certificates = valid
	return out, nil
}

// Search returns up to limit users whose name starts with prefix, after the
// name after (the Next of the previous page); limit 0 lets the directory
// choose.
func (c *Client) Search(ctx context.Context, prefix, after string, limit int) (SearchResponse, error) {
	if c.key == nil {
		return SearchResponse{}, fmt.Errorf("search users: %w", c.noKeyError())
	}
	q := url.Values{"prefix": {prefix}}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out SearchResponse
	if _, err := c.do(ctx, http.MethodGet, "/users", q, nil, &out, true); err != nil {
		return SearchResponse{}, fmt.Errorf("search users starting with %q: %w", prefix, err)
	}
	return out, nil
}

// Bootstrap returns up to limit recently seen nodes to join the DHT through.
func (c *Client) Bootstrap(ctx context.Context, limit int) (BootstrapResponse, error) {
	if c.key == nil {
		return BootstrapResponse{}, fmt.Errorf("fetch bootstrap peers: %w", c.noKeyError())
	}
	var q url.Values
	if limit > 0 {
		q = url.Values{"limit": {strconv.Itoa(limit)}}
	}
	var out BootstrapResponse
	if _, err := c.do(ctx, http.MethodGet, "/bootstrap", q, nil, &out, true); err != nil {
		return BootstrapResponse{}, fmt.Errorf("fetch bootstrap peers: %w", err)
	}
	return out, nil
}

// Key fetches the directory's public key. Over https it also checks that the
// server's TLS leaf key is that key, so a key fetched on first use is the
// key of the server that answered; with a pinned key it checks they match.
func (c *Client) Key(ctx context.Context) (ed25519.PublicKey, error) {
	var out KeyResponse
	resp, err := c.do(ctx, http.MethodGet, "/key", nil, nil, &out, true)
	if err != nil {
		return nil, fmt.Errorf("fetch the directory key: %w", err)
	}
	key, err := crypto.ParsePublicKey(out.Key)
	if err != nil {
		return nil, fmt.Errorf("fetch the directory key: %w: %w", ErrBadResponse, err)
	}
	if c.base.Scheme == "https" {
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
			return nil, fmt.Errorf("fetch the directory key: %w: no TLS certificate seen", ErrBadResponse)
		}
		leaf, ok := resp.TLS.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
		if !ok || !leaf.Equal(key) {
			return nil, fmt.Errorf("fetch the directory key: %w: the server's TLS certificate does not carry the key it names (%s); is %s a peercall directory?",
				ErrBadResponse, out.Key, c.base.Host)
		}
	}
	if c.key != nil && !c.key.Equal(key) {
		return nil, fmt.Errorf("fetch the directory key: %w: the directory names %s, not the pinned %s", ErrBadResponse, out.Key, crypto.EncodePublicKey(c.key))
	}
	return key, nil
}

// noKeyError explains that a call needs a pinned key.
func (c *Client) noKeyError() error {
	return fmt.Errorf("%w: this needs the directory's public key; run `peercall init --directory %s` to pin it", ErrNoPinnedKey, c.base)
}

// do sends one API request, retrying per the policy, and decodes a 2xx
// answer strictly into out. path is unescaped (url.URL escapes it once when
// the request is written). It returns the final response (body closed).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any, idempotent bool) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + APIPrefix + path
	u.RawQuery = query.Encode()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
	}
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, method, u.String(), body, out)
		if err == nil {
			return resp, nil
		}
		wait, ok := c.retryDelay(ctx, err, idempotent, attempt)
		if !ok {
			return nil, err
		}
		c.log.Debug("retrying directory request", "method", method, "path", u.Path, "attempt", attempt, "wait", wait, "err", err)
		if serr := c.retry.Sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%w (stopped waiting to retry: %w)", err, serr)
		}
	}
}

// retryDelay decides whether a failed attempt is retried, and after how
// long: Retry-After (when sent and not too long) plus a jittered backoff.
func (c *Client) retryDelay(ctx context.Context, err error, idempotent bool, attempt int) (time.Duration, bool) {
	if attempt >= c.retry.MaxAttempts || ctx.Err() != nil {
		return 0, false
	}
	var retryAfter time.Duration
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		if apiErr.Status != http.StatusTooManyRequests && apiErr.Status != http.StatusServiceUnavailable {
			return 0, false
		}
		if apiErr.RetryAfter > c.retry.MaxRetryAfter {
			return 0, false
		}
		retryAfter = apiErr.RetryAfter
	case errors.Is(err, ErrUnavailable) && idempotent && isTransient(err):
	default:
		return 0, false
	}
	wait := retryAfter + c.retry.Backoff(attempt-1)
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return 0, false
	}
	return wait, true
}

// isTransient reports whether a transport error is worth retrying: a failed
// dial or read, a reset or dropped connection, a timeout. A TLS verification
// failure (such as a pinned-key mismatch) is not.
func isTransient(err error) bool {
	var opErr *net.OpError
	var ue *url.Error
	switch {
	case errors.As(err, &opErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &ue) && ue.Timeout():
		return true
	}
	return false
}

// once makes one attempt.
func (c *Client) once(ctx context.Context, method, target string, body []byte, out any) (*http.Response, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "peercall")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("request to the directory at %s: %w", c.base.Host, ctx.Err())
		}
		if errors.Is(err, ErrKeyMismatch) {
			return nil, fmt.Errorf("the server at %s is not the directory whose key is pinned: %w", c.base, err)
		}
		return nil, fmt.Errorf("%w: the directory at %s is not reachable: %w; check the URL and key given to `peercall init` and that the directory runs",
			ErrUnavailable, c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer of the directory at %s: %w", ErrUnavailable, c.base, err)
	}
	if len(data) > MaxResponseBytes {
		return nil, fmt.Errorf("%w: the answer of the directory at %s is larger than %d bytes; refused", ErrBadResponse, c.base, MaxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.apiError(resp, data)
	}
	if err := decodeStrict(data, out); err != nil {
		return nil, fmt.Errorf("%w: %s %s answered %d with %w", ErrBadResponse, method, req.URL.Path, resp.StatusCode, err)
	}
	return resp, nil
}

// apiError builds the APIError of a non-2xx answer.
func (c *Client) apiError(resp *http.Response, data []byte) error {
	e := &APIError{
		Status:     resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
	var er ErrorResponse
	if err := decodeStrict(data, &er); err == nil {
		e.Code, e.Message, e.Suggestions = er.Error, er.Message, er.Suggestions
	} else {
		c.log.Debug("directory error answer is not an ErrorResponse", "status", resp.StatusCode, "err", err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return fmt.Errorf("%w: the directory redirected to %q; give its final URL to `peercall init`", ErrBadResponse, resp.Header.Get("Location"))
	}
	return e
}

// decodeStrict decodes exactly one JSON value into out, refusing wrong types
// and trailing data. Unknown fields are ignored: the API is versioned by its
// /v1 prefix, and a directory that adds a field to an answer must not break
// every client already installed. (The server, which decodes untrusted
// requests, does refuse unknown fields.)
func decodeStrict(data []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: data after the JSON object")
	}
	return nil
}
