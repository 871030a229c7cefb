package directory

import "time"

// The directory's HTTP API, under APIPrefix. Every request and response body
// is one JSON object; request bodies larger than MaxBodyBytes are refused.
//
//	POST /v1/register      RegisterRequest  -> 201 RegisterResponse | 409 ErrorResponse{suggestions}
//	POST /v1/login         LoginRequest     -> 200 LoginResponse    | 401 | 429 | 503
//	GET  /v1/users/{name}                   -> 200 UserResponse     | 404
//	GET  /v1/users?prefix=P&after=A&limit=N -> 200 SearchResponse
//	GET  /v1/bootstrap?limit=N              -> 200 BootstrapResponse
//	GET  /v1/key                            -> 200 KeyResponse
//	GET  /healthz                           -> 200 "ok"
//	GET  /metrics                           -> Prometheus text format
//
// Errors are ErrorResponse bodies with a 4xx or 5xx status; 429 and 503 carry
// a Retry-After header (seconds).
const (
	APIPrefix    = "/v1"
	MaxBodyBytes = 64 << 10
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

// LoginRequest proves the password and asks for a certificate of PeerKey.
// Proof is PeerKey's signature over LoginProofMessage(Username, PeerKey, Time),
// so a directory certifies only keys their holder asked it to certify.
type LoginRequest struct {
	Username  string    `json:"username"`
	Password  string    `json:"password"`
	PeerKey   string    `json:"peer_key"` // crypto.EncodePublicKey form
	Time      time.Time `json:"time"`     // the client's clock; must be within a few minutes
	Proof     []byte    `json:"proof"`
	Addrs     []string  `json:"addrs,omitempty"` // multiaddrs the node listens on
	SuperNode bool      `json:"super_node,omitempty"`
}

// LoginResponse carries the certificate (crypto.Certificate.Marshal form).
type LoginResponse struct {
	Username     string    `json:"username"`
	Certificate  []byte    `json:"certificate"`
	Expires      time.Time `json:"expires"`
	DirectoryKey string    `json:"directory_key"`
}

// NodeInfo is a node the directory saw at login.
type NodeInfo struct {
	Username  string    `json:"username,omitempty"`
	PeerID    string    `json:"peer_id"`
	Addrs     []string  `json:"addrs"`
	SuperNode bool      `json:"super_node,omitempty"`
	Seen      time.Time `json:"seen"`
}

// UserResponse is one user's public record: their unexpired certificates,
// newest first, and their last known nodes.
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

// BootstrapResponse is a sample of recently seen super-nodes, else of
// recently seen nodes.
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
)

// LoginProofMessage is what a LoginRequest's Proof signs: a domain-separation
// prefix, then the username, the encoded peer key and the time, each
// newline-terminated.
func LoginProofMessage(username, peerKey string, t time.Time) []byte {
	return []byte("peercall-login-v1\n" + username + "\n" + peerKey + "\n" + t.UTC().Format(time.RFC3339Nano) + "\n")
}
