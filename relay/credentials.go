package relay

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are HMAC-SHA1 by definition; HMAC-SHA1 is not broken.
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/relay/turncreds"
)

// Errors of IssueCredentials (wrapped; test with errors.Is): the same
// sentinels a refusal over /peercall/relay/1 matches on the asker's side.
var (
	// ErrNotRunning: the TURN server is not running (the node is not a
	// super-node, or it is draining).
	ErrNotRunning = turncreds.ErrNotRunning
	// ErrCertificate: the certificate does not prove the asker's identity.
	ErrCertificate = turncreds.ErrCertificate
)

// Credentials are the TURN credentials IssueCredentials hands out.
type Credentials = turncreds.Credentials

// IssueCredentials hands TURN credentials to the holder of cert, a
// certificate signed by the directory key naming peerKey (the key the
// caller authenticated, for example the libp2p stream's remote peer). They
// expire after relay.credential_ttl, and never after the certificate.
func (r *Relay) IssueCredentials(cert *crypto.Certificate, peerKey ed25519.PublicKey) (Credentials, error) {
	now := r.now()
	if cert == nil {
		r.refuse(RefusedCertificate)
		return Credentials{}, fmt.Errorf("issue relay credentials: no certificate: %w", ErrCertificate)
	}
	if err := cert.VerifyPeer(r.opts.DirectoryKey, peerKey, now); err != nil {
		reason := RefusedCertificate
		if errors.Is(err, crypto.ErrCertificatePeer) {
			reason = RefusedCertificatePeer
		}
		r.refuse(reason)
		return Credentials{}, fmt.Errorf("issue relay credentials for %q: %w: %w", cert.Username, ErrCertificate, err)
	}
	if r.opts.Revoked != nil && r.opts.Revoked(cert.Serial) {
		r.refuse(RefusedCertificateRevoked)
		return Credentials{}, fmt.Errorf("issue relay credentials for %q: %w: certificate %d is revoked (its user logged out everywhere, or an operator revoked it)", cert.Username, ErrCertificate, cert.Serial)
	}
	r.mu.Lock()
	urls := append([]string(nil), r.urls...)
	running := r.server != nil && !r.draining
	r.mu.Unlock()
	if !running {
		r.refuse(RefusedNotRunning)
		return Credentials{}, fmt.Errorf("issue relay credentials for %q: %w: ask another super-node", cert.Username, ErrNotRunning)
	}
	expires := now.Add(r.cfg.CredentialTTL)
	if cert.Expires.Before(expires) {
		expires = cert.Expires
	}
	username := strconv.FormatInt(expires.Unix(), 10) + ":" + cert.Username
	r.counters.credentialsIssued.Add(1)
	r.tracer.CredentialsIssued()
	return Credentials{URLs: urls, Username: username, Password: r.password(username), Expires: expires.Truncate(time.Second)}, nil
}

// password is the TURN REST password of a TURN username.
func (r *Relay) password(username string) string {
	mac := hmac.New(sha1.New, r.secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseTURNUsername splits "<expiry>:<user>" (the user may contain ':').
func parseTURNUsername(s string) (expires int64, user string, ok bool) {
	exp, user, found := strings.Cut(s, ":")
	if !found || user == "" || exp == "" || len(exp) > 19 {
		return 0, "", false
	}
	for _, c := range exp {
		if c < '0' || c > '9' {
			return 0, "", false
		}
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return n, user, true
}

// authenticate is the TURN server's AuthHandler. It returns the key of the
// HMAC password; pion/turn then checks MESSAGE-INTEGRITY with it, and a
// mismatch (forged, or a username edited to another user) reaches onAuth
// with verdict false. Expiry is enforced for Allocate only: an allocation
// made in time keeps refreshing up to relay.max_session_duration.
func (r *Relay) authenticate(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	if ra.Username == "" {
		r.refuse(RefusedNoCredentials)
		return "", nil, false
	}
	exp, user, ok := parseTURNUsername(ra.Username)
	if !ok {
		r.refuse(RefusedBadCredentials)
		r.log.Debug("relay: malformed TURN username", "src", ra.SrcAddr)
		return "", nil, false
	}
	if ra.Method == stun.MethodAllocate && r.now().Unix() > exp {
		r.refuse(RefusedExpired)
		r.log.Debug("relay: expired TURN credentials", "user", user, "src", ra.SrcAddr)
		return "", nil, false
	}
	return user, turn.GenerateAuthKey(ra.Username, ra.Realm, r.password(ra.Username)), true
}

// onAuth counts the MESSAGE-INTEGRITY failures authenticate cannot see,
// and passes successful Refresh requests to the allocation's watchdog.
func (r *Relay) onAuth(src, dst net.Addr, _, username, _, method string, verdict bool) {
	if verdict && method == stun.MethodRefresh.String() {
		r.refreshed(src, dst)
	}
	if !verdict {
		r.refuse(RefusedBadCredentials)
		r.log.Debug("relay: TURN message integrity check failed", "username", username, "method", method, "src", src)
	}
}
