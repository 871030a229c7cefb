package directory

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// The directory's HTTP API, under APIPrefix. Every request and response body
// is one JSON object; request bodies larger than MaxBodyBytes are refused.
//
//	POST /v1/register      RegisterRequest  -> 201 RegisterResponse | 409 ErrorResponse{suggestions}
//	POST /v1/login         LoginRequest     -> 200 LoginResponse    | 401 | 429 | 503
//	GET  /v1/users/{name}                   -> 200 UserResponse     | 404
//	GET  /v1/users?prefix=P&after=A&limit=N -> 200 SearchResponse
//	GET  /v1/bootstrap?limit=N              -> 200 BootstrapResponse
//	GET  /v1/key                            -> 200 KeyResponse
//	POST /v1/checkin       CheckinRequest   -> 200 CheckinResponse  | 400 | 401 | 403 | 409 | 413 | 429
//	POST /v1/renew         KeyProofRequest  -> 200 LoginResponse    | 400 | 401 | 403 | 429
//	POST /v1/revoke        KeyProofRequest  -> 200 RevokeResponse   | 400 | 401 | 429
//	POST /v1/logout        LogoutRequest    -> 200 RevokeResponse   | 401 | 429 | 503
//	POST /v1/passwd        PasswdRequest    -> 200 RegisterResponse | 400 | 401 | 429 | 503
//	GET  /v1/revocations                    -> 200 RevocationsResponse
//	GET  /healthz                           -> 200 "ok"
//	GET  /metrics                           -> Prometheus text format
//
// Errors are ErrorResponse bodies with a 4xx or 5xx status; 429 and 503 carry
// a Retry-After header (seconds).
const (
	APIPrefix    = "/v1"
	MaxBodyBytes = 64 << 10
	// MaxCheckinBytes bounds a check-in's body: a certificate, a proof
	// and at most MaxCheckinAddrs addresses fit in a few KiB.
	MaxCheckinBytes = 8 << 10
	// MaxCheckinAddrs is the most addresses one check-in reports.
	MaxCheckinAddrs = 16
)

// RegisterRequest creates an account. The password is sent over TLS to the
// directory, which stores only its argon2id hash.
type RegisterRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// RegisterResponse confirms a registration: Username is the normalised name,
// Display the name as given.
type RegisterResponse struct {
	Username string `json:"username"`
	Display  string `json:"display"`
}

// CheckinRequest tells the directory where a running node is, signed with
// the node's identity key: Proof is that key's signature over
// CheckinProofMessage of the other fields. Time is the node's clock, which
// must be within the directory's clock skew and later than the node's last
// check-in (a replay is refused). Withdraw, at a clean shutdown, ends the
// node's listing at once.
type CheckinRequest struct {
	Certificate []byte    `json:"certificate"` // crypto.Certificate.Marshal form
	Time        time.Time `json:"time"`
	Addrs       []string  `json:"addrs"` // multiaddrs: listen, observed and circuit
	SuperNode   bool      `json:"super_node,omitempty"`
	Withdraw    bool      `json:"withdraw,omitempty"`
	Proof       []byte    `json:"proof"`
}

// CheckinResponse says until when the directory lists the node, and how
// soon to check in again.
type CheckinResponse struct {
	Expires         time.Time `json:"expires"`
	IntervalSeconds int       `json:"interval_s"`
}

// KeyProofRequest proves possession of the key a certificate names: Proof
// is that key's signature over KeyProofMessage(purpose, certificate, time).
// It asks for a renewal (POST /v1/renew) or the revocation of that one
// certificate (POST /v1/revoke).
type KeyProofRequest struct {
	Certificate []byte    `json:"certificate"`
	Time        time.Time `json:"time"`
	Proof       []byte    `json:"proof"`
}

// LogoutRequest revokes every certificate of an account (logout
// everywhere), proved by its password.
type LogoutRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// RevokeResponse says how many certificates were revoked.
type RevokeResponse struct {
	Revoked int `json:"revoked"`
}

// PasswdRequest changes an account's password.
type PasswdRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	NewPassword string `json:"new_password"`
}

// RevocationsResponse carries the directory's signed revocation list
// (crypto.RevocationList.Marshal form).
type RevocationsResponse struct {
	List []byte `json:"list"`
}

// LoginRequest proves the password and asks for a certificate of PeerKey.
// Proof is PeerKey's signature over LoginProofMessage(Username, PeerKey, Time),
// so a directory certifies only keys their holder asked it to certify.
type LoginRequest struct {
	Username string    `json:"username"`
	Password string    `json:"password"`
	PeerKey  string    `json:"peer_key"` // crypto.EncodePublicKey form
	Time     time.Time `json:"time"`     // the client's clock; must be within a few minutes
	Proof    []byte    `json:"proof"`
}

// LoginResponse carries the certificate (crypto.Certificate.Marshal form).
type LoginResponse struct {
	Username     string    `json:"username"`
	Certificate  []byte    `json:"certificate"`
	Expires      time.Time `json:"expires"`
	DirectoryKey string    `json:"directory_key"`
}

// NodeInfo is a node that checked in and is live.
type NodeInfo struct {
	Username  string    `json:"username,omitempty"`
	PeerID    string    `json:"peer_id"`
	Addrs     []string  `json:"addrs"`
	SuperNode bool      `json:"super_node,omitempty"`
	Seen      time.Time `json:"seen"`
}

// UserResponse is one user's public record: their unexpired, unrevoked
// certificates, newest first, and their live nodes (checked in).
type UserResponse struct {
	Username     string     `json:"username"`
	Display      string     `json:"display"`
	Certificates [][]byte   `json:"certificates"`
	Nodes        []NodeInfo `json:"nodes"`
}

// UserSummary is one search hit.
type UserSummary struct {
	Username string `json:"username"`
	Display  string `json:"display"`
}

// SearchResponse is one page of a prefix search; Next, when set, is the
// `after` value of the next page.
type SearchResponse struct {
	Users []UserSummary `json:"users"`
	Next  string        `json:"next,omitempty"`
}

// BootstrapResponse is a sample of live super-nodes, else of live nodes.
type BootstrapResponse struct {
	Peers []NodeInfo `json:"peers"`
}

// KeyResponse is the directory's ed25519 public key (crypto.EncodePublicKey
// form), the key clients pin.
type KeyResponse struct {
	Key string `json:"key"`
}

// ErrorResponse is every error body: Error is a stable code (the Code*
// constants), Message says what went wrong and what to do.
type ErrorResponse struct {
	Error       string   `json:"error"`
	Message     string   `json:"message"`
	Suggestions []string `json:"suggestions,omitempty"`
}

// Error codes of ErrorResponse.Error.
const (
	CodeNameTaken       = "name_taken"
	CodeInvalidUsername = "invalid_username"
	CodeReservedName    = "reserved_username"
	CodeWeakPassword    = "weak_password"
	CodeBadRequest      = "bad_request"
	CodeBodyTooLarge    = "body_too_large"
	CodeUnauthorized    = "unauthorized" // wrong name or password
	CodeBadProof        = "bad_proof"
	CodeNotFound        = "not_found"
	CodeThrottled       = "throttled"  // 429
	CodeOverloaded      = "overloaded" // 503
	CodeInternal        = "internal"
	CodeCertificate     = "certificate_invalid" // 401: expired, forged or unknown
	CodeRevoked         = "certificate_revoked" // 401
	CodeDisabled        = "account_disabled"    // 403
	CodeStaleTime       = "stale_time"          // 400: the request's time is off
	CodeReplay          = "replay"              // 409: not newer than the last check-in
)

// LoginProofMessage is what a LoginRequest's Proof signs: a domain-separation
// prefix, then the username, the encoded peer key and the time, each
// newline-terminated.
func LoginProofMessage(username, peerKey string, t time.Time) []byte {
	return []byte("peercall-login-v1\n" + username + "\n" + peerKey + "\n" + t.UTC().Format(time.RFC3339Nano) + "\n")
}

// certDigest names a certificate in proof messages.
func certDigest(cert []byte) string {
	d := sha256.Sum256(cert)
	return hex.EncodeToString(d[:])
}

// CheckinProofMessage is what a CheckinRequest's Proof signs: a
// domain-separation prefix, the certificate's SHA-256, the time, the flags
// and each address, newline-terminated (addresses hold no newline: the
// directory accepts printable ASCII only).
func CheckinProofMessage(cert []byte, t time.Time, addrs []string, superNode, withdraw bool) []byte {
	flags := []byte("--")
	if superNode {
		flags[0] = 's'
	}
	if withdraw {
		flags[1] = 'w'
	}
	var b strings.Builder
	b.WriteString("peercall-checkin-v1\n" + certDigest(cert) + "\n" + t.UTC().Format(time.RFC3339Nano) + "\n" + string(flags) + "\n")
	for _, a := range addrs {
		b.WriteString(a + "\n")
	}
	return []byte(b.String())
}

// Purposes of KeyProofMessage.
const (
	ProofRenew  = "renew"
	ProofRevoke = "revoke"
)

// KeyProofMessage is what a KeyProofRequest's Proof signs for purpose
// (ProofRenew or ProofRevoke).
func KeyProofMessage(purpose string, cert []byte, t time.Time) []byte {
	return []byte("peercall-" + purpose + "-v1\n" + certDigest(cert) + "\n" + t.UTC().Format(time.RFC3339Nano) + "\n")
}
