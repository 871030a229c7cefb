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
// # Limits
//
// All limits are Config fields ([relay] in config.toml) with defaults
// (DefaultConfig), validated by Config.Validate, capped by the admin policy
// (Effective) and logged at Start. They plug into pion/turn through its
// extension points, not a fork: the QuotaHandler refuses an allocation
// beyond relay.max_sessions or relay.max_sessions_per_user at once (486),
// the RelayAddressGenerator reserves the session slot and wraps each relay
// socket in a meter that applies the total bandwidth token bucket
// (relay.max_kbps, both directions; over-budget packets are dropped and
// counted, never queued) and closes the allocation at
// relay.max_session_duration. Existing sessions are never degraded to admit
// new ones. Only UDP relay allocations are offered (clients may reach the
// server over UDP, TCP or TLS); TCP relay allocations (RFC 6062) are
// refused.
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
