package media

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/proxy"

	"github.com/peercall/peercall/audio"
)

// Defaults and bounds of Config.
const (
	DefaultBitrate             = 28000  // bit/s, inside the 24–32 kbit/s speech sweet spot
	MinBitrate                 = 6000   // bit/s, Opus' floor
	MaxBitrate                 = 128000 // bit/s, far above what speech needs
	DefaultExpectedLossPercent = 10     // the encoder's loss hint; it sizes the in-band FEC
	DefaultComplexity          = 5      // Opus encoder complexity: half the CPU of 10 for speech
)

// Config describes one call's media session. The zero value (after
// defaults) is a usable configuration on every interface with Opus at
// 28 kbit/s, 20 ms frames and in-band FEC.
type Config struct {
	// ICEServers are STUN/TURN servers (TURN URLs and credentials come from
	// a super-node).
	ICEServers []webrtc.ICEServer
	// ICEProxyDialer, when set, makes the TCP connections to TURN servers
	// (turn: with transport=tcp, and turns:) instead of ICE: the node's
	// dialer speaks TLS pinned to a super-node's key to turns: addresses,
	// since their certificates are self-signed.
	ICEProxyDialer proxy.Dialer
	// RelayOnly sets the ICE transport policy to "relay": only TURN
	// candidates are used, so the peer never learns our addresses.
	RelayOnly bool
	// Trickle makes the first offer, and the answer to an offer that says
	// a=ice-options:trickle, say so too and go out with the candidates
	// gathered within TrickleGatherWait; the rest trickle (call/trickle.go).
	Trickle bool
	// PortMin and PortMax bound the local UDP ports ICE opens (both zero:
	// any ephemeral port). Both or neither must be set.
	PortMin, PortMax uint16
	// ICETCP also gathers ICE-TCP host candidates, on one listener bound
	// to the first ListenIP (all interfaces when none) at port PortMin
	// when set, else an ephemeral port.
	ICETCP bool
	// Net opens every socket (nil: the operating system's network). Tests
	// pass a pion/transport vnet here to run ICE across simulated NATs.
	Net transport.Net
	// FrameDuration is the Opus frame length sent: 20 ms (default) or 10 ms.
	FrameDuration time.Duration
	// Bitrate is the Opus target bitrate in bit/s (default 28000,
	// MinBitrate..MaxBitrate).
	Bitrate int
	// DisableFEC turns Opus in-band forward error correction off (it is on
	// by default: a lost packet is rebuilt from the next one).
	DisableFEC bool
	// DTX lets the encoder send tiny packets during silence: 1-byte
	// packets every frame and a comfort-noise update every 400 ms. They are
	// still sent (the jitter buffer keys on sequence numbers), so DTX saves
	// bits, not packets.
	DTX bool
	// ExpectedLossPercent is the loss hint given to the encoder, 0..100
	// (0 means DefaultExpectedLossPercent). It decides how many bits go
	// into FEC.
	ExpectedLossPercent int
	// Complexity is the Opus encoder's complexity, 1..10 (0 means
	// DefaultComplexity). Higher costs more CPU for slightly better speech.
	Complexity int
	// ListenIPs restricts the addresses ICE gathers host candidates on
	// (for example ["127.0.0.1"] in tests). Empty means every interface
	// except loopback.
	ListenIPs []string
	// ListenIPsNow, when set, is asked at every candidate gathering (the
	// first and each ICE restart) for the addresses to gather on instead
	// of ListenIPs: a node whose listen addresses moved gathers on the new
	// ones. Empty means every interface.
	ListenIPsNow func() []string
	// Logger receives the session's logs (nil: slog.Default()).
	Logger *slog.Logger

	// lossHook, when set (tests only), is asked for each outgoing RTP
	// packet and drops it when it returns true: a seeded loss shim at the
	// RTP writer.
	lossHook func(seq uint16) bool
	// playoutTicks, when set (tests only), replaces the playout clock:
	// each receive plays one frame. A test steps sender and receiver in
	// lock-step with it so that two runs see identical timing.
	playoutTicks <-chan struct{}
	// tcpOnly (tests only) gathers ICE-TCP candidates alone, to prove the
	// TCP path carries a call.
	tcpOnly bool
}

// withDefaults returns cfg with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.FrameDuration == 0 {
		c.FrameDuration = audio.Frame20ms
	}
	if c.Bitrate == 0 {
		c.Bitrate = DefaultBitrate
	}
	if c.ExpectedLossPercent == 0 {
		c.ExpectedLossPercent = DefaultExpectedLossPercent
	}
	if c.Complexity == 0 {
		c.Complexity = DefaultComplexity
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate reports the first setting that cannot work, naming it.
func (c Config) validate() error {
	if err := audio.ValidFrameDuration(c.FrameDuration); err != nil {
		return fmt.Errorf("media: FrameDuration: %w", err)
	}
	if c.Bitrate < MinBitrate || c.Bitrate > MaxBitrate {
		return fmt.Errorf("media: Bitrate %d bit/s is out of range: use %d..%d", c.Bitrate, MinBitrate, MaxBitrate)
	}
	if c.ExpectedLossPercent < 0 || c.ExpectedLossPercent > 100 {
		return fmt.Errorf("media: ExpectedLossPercent %d is out of range: use 0..100", c.ExpectedLossPercent)
	}
	if c.Complexity < 1 || c.Complexity > 10 {
		return fmt.Errorf("media: Complexity %d is out of range: use 1..10", c.Complexity)
	}
	if (c.PortMin == 0) != (c.PortMax == 0) || c.PortMin > c.PortMax {
		return fmt.Errorf("media: UDP port range %d-%d is invalid: set both PortMin and PortMax with PortMin <= PortMax, or neither", c.PortMin, c.PortMax)
	}
	for _, ip := range c.ListenIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("media: ListenIPs: %q is not an IP address", ip)
		}
	}
	for i, s := range c.ICEServers {
		if len(s.URLs) == 0 {
			return fmt.Errorf("media: ICEServers[%d] has no URLs", i)
		}
		for _, u := range s.URLs {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") &&
				!strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				return fmt.Errorf("media: ICEServers[%d]: %q is not a stun:, stuns:, turn: or turns: URL", i, u)
			}
		}
	}
	if c.RelayOnly {
		hasTURN := false
		for _, s := range c.ICEServers {
			for _, u := range s.URLs {
				hasTURN = hasTURN || strings.HasPrefix(u, "turn")
			}
		}
		if !hasTURN {
			return fmt.Errorf("media: RelayOnly needs at least one turn: or turns: server in ICEServers")
		}
	}
	return nil
}
