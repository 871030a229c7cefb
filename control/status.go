package control

import (
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
	// Availability and Mood are this user's status as contacts see it
	// (online, away, dnd, invisible; package contacts).
	Availability string `json:"availability,omitempty"`
	Mood         string `json:"mood,omitempty"`
}
