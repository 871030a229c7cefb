package relay

import (
	"sync/atomic"
	"time"

	"github.com/peercall/peercall/relay/peerfilter"
)

// Reason names why a request was refused or a packet dropped. Every refusal
// and every drop is counted under exactly one reason.
type Reason string

// Refusal reasons of TURN requests and credential requests.
const (
	// TURN Allocate refused: no USERNAME was given.
	RefusedNoCredentials Reason = "no_credentials"
	// TURN credentials whose expiry has passed.
	RefusedExpired Reason = "expired"
	// TURN username not of the form "<expiry>:<user>", or a MESSAGE-INTEGRITY
	// that does not match the HMAC password (forged or for another user).
	RefusedBadCredentials Reason = "bad_credentials"
	// relay.max_sessions allocations are open.
	RefusedMaxSessions Reason = "max_sessions"
	// the user already holds relay.max_sessions_per_user allocations.
	RefusedMaxUserSessions Reason = "max_user_sessions"
	// the relay is draining before a demotion.
	RefusedDraining Reason = "draining"
	// a TCP relay allocation (RFC 6062), which this relay does not offer.
	RefusedTCPAllocation Reason = "tcp_allocation"
	// credential request: the certificate is malformed, not signed by the
	// directory, expired or not yet valid.
	RefusedCertificate Reason = "certificate_invalid"
	// credential request: the certificate names another peer than the
	// stream's remote peer.
	RefusedCertificatePeer Reason = "certificate_peer"
	// credential request: the certificate is on the directory's
	// revocation list.
	RefusedCertificateRevoked Reason = "certificate_revoked"
	// credential request while the TURN server is not running.
	RefusedNotRunning Reason = "not_running"
	// CreatePermission, ChannelBind or Connect to a peer address that is
	// not public unicast (loopback, private, link-local, CGNAT, multicast,
	// broadcast, reserved, unspecified, the super-node's own) and not in
	// relay.allowed_peer_ranges; Stats.PeerForbidden has the kind.
	RefusedPeerForbidden Reason = "peer_forbidden"
)

// Drop reasons of relayed packets.
const (
	// the total bandwidth token bucket (relay.max_kbps) was empty.
	DroppedBandwidth Reason = "bandwidth"
	// a datagram to or from one of the super-node's own addresses on a
	// port that is no open allocation's (kind "self").
	DroppedPeerForbidden Reason = "peer_forbidden"
)

// CloseCause names why the relay itself ended an allocation.
type CloseCause string

// The causes of allocations the relay closed (the client's own
// deallocations and pion/turn's expiries are not counted here).
const (
	// relay.max_session_duration after the allocation was made.
	ClosedMaxDuration CloseCause = "max_session_duration"
	// no packet relayed in either direction for relay.idle_timeout.
	ClosedIdle CloseCause = "idle_timeout"
	// no successful Refresh for relay.allocation_lifetime.
	ClosedUnrefreshed CloseCause = "allocation_lifetime"
)

var closeCauses = []CloseCause{ClosedMaxDuration, ClosedIdle, ClosedUnrefreshed}

var refusalReasons = []Reason{
	RefusedNoCredentials, RefusedExpired, RefusedBadCredentials, RefusedMaxSessions,
	RefusedMaxUserSessions, RefusedDraining, RefusedTCPAllocation, RefusedCertificate,
	RefusedCertificatePeer, RefusedCertificateRevoked, RefusedNotRunning, RefusedPeerForbidden,
}

var dropReasons = []Reason{DroppedBandwidth, DroppedPeerForbidden}

// reasonCounters are the counters by reason.
type reasonCounters = keyCounters[Reason]

func newReasonCounters(reasons []Reason) reasonCounters { return newKeyCounters(reasons) }

// keyCounters is a fixed set of counters, one per key; the map is built
// once and only read after, so it needs no lock.
type keyCounters[K comparable] map[K]*atomic.Uint64

func newKeyCounters[K comparable](keys []K) keyCounters[K] {
	m := make(keyCounters[K], len(keys))
	for _, k := range keys {
		m[k] = new(atomic.Uint64)
	}
	return m
}

func (m keyCounters[K]) add(k K) {
	if c, ok := m[k]; ok {
		c.Add(1)
	}
}

func (m keyCounters[K]) snapshot() map[K]uint64 {
	out := make(map[K]uint64, len(m))
	for k, c := range m {
		out[k] = c.Load()
	}
	return out
}

// counters are the relay's traffic counters, kept as fields of the server.
type counters struct {
	sessionsTotal     atomic.Uint64
	sessionsExpired   atomic.Uint64 // closed at relay.max_session_duration
	closed            keyCounters[CloseCause]
	peerForbidden     keyCounters[peerfilter.Kind]
	bytesRelayed      atomic.Uint64
	packetsRelayed    atomic.Uint64
	handed            atomic.Uint64 // packets handed between two allocations in process
	credentialsIssued atomic.Uint64
	refused           reasonCounters
	dropped           reasonCounters
}

// Limits are the enforced limits, as shown by `status --json`.
type Limits struct {
	MaxKbps            int               `json:"max_kbps"`
	MaxSessions        int               `json:"max_sessions"`
	MaxSessionsPerUser int               `json:"max_sessions_per_user"`
	MaxSessionDuration float64           `json:"max_session_duration_s"`
	IdleTimeout        float64           `json:"idle_timeout_s"`
	AllocationLifetime float64           `json:"allocation_lifetime_s"`
	AllowedPeerRanges  peerfilter.Ranges `json:"allowed_peer_ranges"`
}

// Stats is a snapshot of the relay for `status --json` ("relay" object).
type Stats struct {
	Running         bool   `json:"running"`
	Sessions        int    `json:"sessions"`
	SessionsTotal   uint64 `json:"sessions_total"`
	SessionsExpired uint64 `json:"sessions_expired"` // closed at max_session_duration
	// Closed counts the allocations the relay ended, by cause (including
	// max_session_duration, as SessionsExpired).
	Closed map[CloseCause]uint64 `json:"closed"`
	// PeerForbidden counts refused permissions (Refused["peer_forbidden"])
	// and dropped datagrams (Dropped["peer_forbidden"]) by the kind of
	// peer address.
	PeerForbidden  map[peerfilter.Kind]uint64 `json:"peer_forbidden"`
	BytesRelayed   uint64                     `json:"bytes_relayed"`
	PacketsRelayed uint64                     `json:"packets_relayed"`
	// PacketsHanded counts the packets the fast path handed from one of
	// this relay's allocations to another in process (each also counts
	// twice in PacketsRelayed, once per allocation it crossed).
	PacketsHanded     uint64            `json:"packets_handed"`
	Kbps              float64           `json:"kbps"` // relayed rate over the last second
	CredentialsIssued uint64            `json:"credentials_issued"`
	Dropped           map[Reason]uint64 `json:"dropped"`
	Refused           map[Reason]uint64 `json:"refused"`
	Limits            Limits            `json:"limits"`
}

func limitsOf(c Config) Limits {
	return Limits{
		MaxKbps:            c.MaxKbps,
		MaxSessions:        c.MaxSessions,
		MaxSessionsPerUser: c.MaxSessionsPerUser,
		MaxSessionDuration: c.MaxSessionDuration.Seconds(),
		IdleTimeout:        c.IdleTimeout.Seconds(),
		AllocationLifetime: c.AllocationLifetime.Seconds(),
		AllowedPeerRanges:  c.AllowedPeerRanges,
	}
}

// MetricsTracer receives the relay's events, for metrics. The relay calls
// it synchronously on its packet path: implementations must be cheap and
// safe for concurrent use. NewPrometheusTracer is one; nil means none.
type MetricsTracer interface {
	// SessionOpened: an allocation was made (sessions is the count now).
	SessionOpened(sessions int)
	// SessionClosed: an allocation ended after lasting d.
	SessionClosed(sessions int, d time.Duration)
	// Relayed: one packet of n bytes was relayed.
	Relayed(n int)
	// Dropped: one relayed packet was dropped.
	Dropped(reason Reason)
	// Refused: a TURN or credential request was refused.
	Refused(reason Reason)
	// CredentialsIssued: credentials were handed to a certified peer.
	CredentialsIssued()
	// PeerForbidden: a permission was refused (with Refused) or a
	// datagram dropped (with Dropped) for a peer address of this kind.
	PeerForbidden(kind peerfilter.Kind)
	// SessionCut: the relay closed an allocation, for this cause (with
	// SessionClosed when its slot is released).
	SessionCut(cause CloseCause)
}

type nopTracer struct{}

func (nopTracer) SessionOpened(int)                {}
func (nopTracer) SessionClosed(int, time.Duration) {}
func (nopTracer) Relayed(int)                      {}
func (nopTracer) Dropped(Reason)                   {}
func (nopTracer) Refused(Reason)                   {}
func (nopTracer) CredentialsIssued()               {}
func (nopTracer) PeerForbidden(peerfilter.Kind)    {}
func (nopTracer) SessionCut(CloseCause)            {}
