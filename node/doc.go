// Package node is one running peercall client: its configuration, identity,
// libp2p host, DHT presence, call manager, relay manager and the local control
// API that the CLI talks to over a unix socket.
package node
