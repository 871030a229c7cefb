package relay

import (
	"time"

	"github.com/ipfs/go-cid"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/multiformats/go-multihash"
)

// ProviderKeyString is hashed into ProviderKey.
const ProviderKeyString = "/peercall/super-nodes/1"

// ProviderKey is the well-known DHT key super-nodes provide (dht.Provide)
// and clients look up (dht.FindProvidersAsync) to find relays: CIDv1, raw
// codec, sha2-256 of ProviderKeyString.
func ProviderKey() cid.Cid {
	mh, err := multihash.Sum([]byte(ProviderKeyString), multihash.SHA2_256, -1)
	if err != nil {
		panic("relay: sha2-256 multihash: " + err.Error()) // cannot happen: the code is built in
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// CircuitResources are the libp2p circuit relay v2 limits of a super-node
// with this config, for circuit.WithResources. Circuits carry signalling
// only (a call's INVITE, ACCEPT, HANGUP and ICE restarts: a few kilobytes),
// so each relayed connection may last a whole call (relay.max_session_
// duration) but carry at most 1 MiB each way; reservations (peers behind
// NAT that stay reachable through this node) are cheap and allowed at four
// per TURN session slot.
func CircuitResources(c Config) circuit.Resources {
	r := circuit.DefaultResources()
	r.Limit = &circuit.RelayLimit{Duration: c.MaxSessionDuration, Data: 1 << 20}
	r.ReservationTTL = time.Hour
	r.MaxReservations = 4 * c.MaxSessions
	r.MaxCircuits = 16
	r.MaxReservationsPerIP = 8
	return r
}
