// Package relay is the super-node: the promotion policy, the TURN server
// that relays media for peers stuck behind NATs, its limits and counters,
// the administrator's policy file, TURN credentials for certified peers
// (protocol /peercall/relay/1), and the circuit relay v2 limits and DHT key
// that the node uses for signalling relays and discovery.
//
// # Wiring (package node)
//
// At start:
//
//	pol, err := relay.LoadPolicy(path)            // "" = /etc/peercall/policy.toml; missing file = no policy
//	userCfg.Relay.AllowedPeerRanges = relay.NewPeerRanges(network.ReachableRanges...) // the policy may replace it
//	cfg, reasons := relay.Effective(userCfg.Relay, pol) // log every reason; show them in status
//	r, err := relay.New(cfg, relay.Options{DirectoryKey: dirKey, ListenIP: ip, PublicIP: publicIP,
//		Net: net, TLSConfig: tlsCfg, Tracer: tracer, Logger: log})
//	p := relay.NewPromoter(cfg, relay.PromoterOptions{Logger: log})
//
// with tracer, _ := relay.NewPrometheusTracer(registry) when /metrics is
// served. Every few seconds the node feeds observations:
//
//	d := p.Update(relay.Inputs{Mode: cfg.Mode, PolicyAllows: pol.Relay.Mode != relay.ModeOff,
//		Restricted: pol.Network.Restricted || userRestricted, Reachable: dialBackOK,
//		Uptime: time.Since(started), UpstreamKbps: kbps, CPULoad: load})
//
// When d.Role becomes RoleSuperNode: switch the DHT to server mode, start
// circuit relay v2 with circuit.WithResources(relay.CircuitResources(cfg)),
// r.Start(ctx), dht.Provide(ctx, relay.ProviderKey(), true), and mount
// relay.ProtocolID with a handler that sets a deadline (10 s) on the stream
// and calls r.ServeCredentials(stream, remotePeerEd25519Key). When it
// becomes RoleClient: remove the handler, stop providing, and
// r.Drain(ctx-with-timeout) (refuses new allocations, lets calls finish,
// then stops; r.Stop closes at once). Start with relay.mode off returns
// ErrDisabled and opens nothing. r.Close at shutdown.
//
// A caller finds super-nodes with dht.FindProvidersAsync(relay.ProviderKey()),
// opens relay.ProtocolID to one, calls relay.RequestCredentials(stream,
// cert, nonce) and passes creds.ICEServer() in media.Config.ICEServers.
//
// `peercall status --json`: role and role_reason from p.Current(); the
// "relay" object is r.Stats() (sessions, bytes_relayed, kbps, limits, and
// refusals and drops by reason).
//
// # Port 443 (one TCP port for TURN/TCP, TURN/TLS and libp2p)
//
// The node owns the listener and the Demux, made before the libp2p host:
//
//	ln, _ := net.Listen("tcp", ":443")
//	d := relay.NewDemux(ln, log)
//	turnL, tlsL, p2pL := d.Route("turn", relay.IsSTUN), d.Route("turns", relay.IsTLS), d.Route("libp2p", relay.IsMultistream)
//	h, _ := libp2p.New(libp2p.ListenAddrs(ma.StringCast("/ip4/0.0.0.0/tcp/443"), ...),
//		libp2p.Transport(relay.NewSharedTCPTransport(p2pL), tcp.DisableReuseport()), ...)
//	cert, _ := relay.SelfSignedCertificate(tlsKey, publicHost)
//	r, _ := relay.New(cfg, relay.Options{..., TURNListeners: []net.Listener{turnL},
//		TURNTLSListeners: []net.Listener{tlsL}, TLSCertificate: &cert, SharedTCPOnly: true})
//
// SharedTCPTransport replaces tcp.NewTCPTransport: the listen address equal
// to p2pL.Addr() is served from the route, so libp2p (resource manager,
// gater, identify, AutoNAT) sees each client's real address. The relay owns
// turnL and tlsL from New to Close and closes their connections while it is
// stopped; credentials then carry turn:HOST:443?transport=tcp and
// turns:HOST:443?transport=tcp. d.Close after h.Close and r.Close.
// pion/webrtc (v4.2) does not pass ICE's InsecureSkipVerify, so its
// turns: client checks the certificate against the system roots and the
// URL's host: a self-signed one fails. A client reaches it through
// webrtc.SettingEngine.SetICEProxyDialer with a dialer that does TLS with
// PinnedTLSConfig(the super-node's key) itself (pion/ice uses a proxy
// dialer's connection as it is, for turn: and turns: alike, knowing only
// the address: so give such an agent only the turns: URL of the shared
// port), or the super-node uses a certificate that the roots accept.
//
// # Limits
//
// All limits are Config fields ([relay] in config.toml) with defaults
// (DefaultConfig), validated by Config.Validate against bounds, capped by
// the admin policy (Effective) and logged at Start. They plug into
// pion/turn through its extension points, not a fork: the QuotaHandler
// refuses an allocation beyond relay.max_sessions or
// relay.max_sessions_per_user at once (486), the RelayAddressGenerator
// reserves the session slot and wraps each relay socket in a meter that
// applies the total bandwidth token bucket (relay.max_kbps, both
// directions; over-budget packets are dropped and counted, never queued)
// and a watchdog, the PermissionHandler filters peers. Existing sessions
// are never degraded to admit new ones. Only UDP relay allocations are
// offered (clients may reach the server over UDP, TCP or TLS); TCP relay
// allocations (RFC 6062) are refused.
//
// # Peers
//
// A super-node relays to public unicast addresses only: CreatePermission,
// ChannelBind and Connect to loopback, RFC 1918 and ULA, link-local
// (169.254.169.254 included), CGNAT, multicast, broadcast (the subnet
// broadcasts of its interfaces too), unspecified, 0/8, the other
// non-global special ranges and the host's own addresses are refused (403)
// and counted (refused "peer_forbidden", Stats.PeerForbidden by kind);
// NAT64, 6to4 and IPv4-mapped forms are judged by the IPv4 address they
// carry. relay.allowed_peer_ranges opens ranges on purpose (the node passes
// network.reachable_ranges; an admin policy's list replaces the user's),
// never multicast, broadcast, unspecified or the host's own addresses. The
// relayed address passes the permission, since two clients of one
// super-node relay to each other, but a datagram to or from any own
// address passes only on a port of an open allocation: never the TURN
// port, the node's sockets or another service of the host (dropped
// "peer_forbidden", kind "self").
//
// # Abandoned allocations
//
// Three accounts once held a 12-session relay for 10 minutes with
// allocations nobody refreshed (pion/turn's default lifetime). Now:
//
//   - relay.idle_timeout = 60s closes an allocation that relays no packet
//     either way. A call sends 50 packets/s and ICE consent checks every
//     few seconds even when muted, so only dead allocations idle; 60 s is
//     twice the 30 s ring timeout, during which the caller's allocation
//     waits for the answer without traffic.
//   - relay.allocation_lifetime = 2m is the lifetime granted to clients
//     that ask for none (pion's client and libwebrtc ask for none; pion
//     refreshes at half of it, so one Refresh a minute), and the longest
//     any allocation may go without a successful Refresh: pion/turn grants
//     any LIFETIME below an hour, and the watchdog, fed by pion's Auth and
//     AllocationCreated events, closes such an allocation anyway.
//   - relay.max_sessions_per_user = 4 (by the certificate's username):
//     one call gathers one allocation per TURN URL of the super-node
//     (UDP, TCP, TLS: three), plus one for an ICE restart. It bounds what
//     one account holds; filling a default relay (50) takes 13 accounts,
//     and what they abandon is free again within a minute. A small relay
//     should lower it with the policy.
//
// Closures are counted by cause (Stats.Closed: max_session_duration,
// idle_timeout, allocation_lifetime).
//
// # Credentials
//
// TURN REST API credentials: username "<expiry unix>:<peercall username>",
// password base64(HMAC-SHA1(secret, username)), with a per-process random
// secret. IssueCredentials gives them only to the holder of a directory
// certificate that names the asking peer's key (crypto VerifyPeer); they
// expire after relay.credential_ttl and never after the certificate.
// Expiry is checked at Allocate; an allocation made in time refreshes until
// relay.max_session_duration.
//
// # Protocol /peercall/relay/1
//
// One request and one response, each a frame of a 2-byte big-endian length
// (1..MaxMessageSize) and a body whose layout is documented on
// CredentialRequest and CredentialResponse; the decoders are strict (no
// trailing bytes, every length in range, UTF-8 without control bytes).
package relay
