package control

import (
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/supernode"
)

// Status is what `peercall status --json` prints.
type Status struct {
	Username     string                `json:"username"`
	PeerID       string                `json:"peer_id"`
	Role         string                `json:"role"`
	RoleReason   string                `json:"role_reason"`
	Reachability string                `json:"reachability"`
	Relay        supernode.RelayStatus `json:"relay"`
	Calls        []call.Info           `json:"calls"`
	Addrs        []string              `json:"addrs"`
	Presence     string                `json:"presence"`
	// TransferRules are the file transfer rules in force, each with the
	// file that set it (transfer.Rules.Describe).
	TransferRules []string `json:"transfer_rules,omitempty"`
	// ChatRule says whether chat is on and which rule says so.
	ChatRule string `json:"chat_rule,omitempty"`
	// Availability and Mood are this user's status as contacts see it
	// (online, away, dnd, invisible; package contacts).
	Availability string    `json:"availability,omitempty"`
	Mood         string    `json:"mood,omitempty"`
	Identity     *Identity `json:"identity,omitempty"`
}

// Identity is the node's certificate and directory standing: when the
// certificate expires, its last automatic renewal, why the last renewal
// or check-in failed (empty: it did not), and until when the directory
// lists the node.
type Identity struct {
	CertificateSerial  uint64    `json:"certificate_serial"`
	CertificateExpires time.Time `json:"certificate_expires"`
	LastRenewal        time.Time `json:"last_renewal,omitzero"`
	NextRenewal        time.Time `json:"next_renewal,omitzero"`
	RenewalError       string    `json:"renewal_error,omitempty"`
	CheckedIn          time.Time `json:"checked_in,omitzero"`
	ListedUntil        time.Time `json:"listed_until,omitzero"`
	CheckinError       string    `json:"checkin_error,omitempty"`
	// The revocation list: its entries, when it was last fetched, and
	// why the last fetch failed.
	Revocations        int       `json:"revocations"`
	RevocationsFetched time.Time `json:"revocations_fetched,omitzero"`
	RevocationsError   string    `json:"revocations_error,omitempty"`
}
