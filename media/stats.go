package media

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
)

// Stats is a snapshot of one call's media statistics.
type Stats struct {
	Duration        time.Duration
	PacketsSent     uint64
	BytesSent       uint64 // Opus payload bytes
	PacketsReceived uint64
	BytesReceived   uint64
	// PacketsLost counts received-side losses (sequence gaps not filled in
	// time); LossRate is PacketsLost over packets expected.
	PacketsLost uint64
	LossRate    float64
	// RemoteLossRate is the loss of what we send, as the peer's RTCP
	// receiver reports state it.
	RemoteLossRate float64
	// JitterMs is the interarrival jitter of received packets (RFC 3550).
	JitterMs float64
	// RTTMs is the round-trip time from RTCP reports (0 until measured).
	RTTMs float64
	// SendKbps and RecvKbps are Opus payload bitrates over the last
	// second (the average since Start during the first second).
	SendKbps, RecvKbps float64
	// FECRecovered frames were rebuilt from the next packet's FEC;
	// Concealed frames were invented by PLC (losses and underruns).
	FECRecovered, Concealed uint64
	// Late packets arrived after their playout time and were dropped.
	Late uint64
	// Underruns counts playout ticks with nothing to play (the buffer
	// then grows by one packet); Shrinks counts packets dropped to bring
	// the delay back down.
	Underruns, Shrinks uint64
	// ClockSlip is the worst lateness of the playout clock's wake-ups: a
	// machine too busy to play audio on time shows here.
	ClockSlip time.Duration
	// PlayoutDelayMs is the jitter buffer's current depth.
	PlayoutDelayMs float64
	// LossRuns counts runs of consecutive lost packets (PacketsLost over
	// LossRuns is the mean burst length).
	LossRuns uint64
	Route    Route
	// Quality is the estimated MOS of what this side hears (mos.go).
	Quality Quality
	// FramesWithheld counts captured frames not sent: muted or held
	// (hold.go).
	FramesWithheld uint64
	// LongestGap is the longest time between two audio packets received
	// while this side was playing, counting the wait since the last one
	// (a stall that lasted until the call ended): a failover's or a
	// stalled path's cost to the listener, measured where the audio
	// arrives (a peer's mute, or DTX in silence, shows here too; this
	// side's hold does not).
	LongestGap time.Duration
}

// RouteKind says how a call's media travels.
type RouteKind string

// Route kinds, spelt as in `call --json`'s route.
const (
	// RouteNone: ICE has selected no pair yet.
	RouteNone RouteKind = ""
	// RouteDirect: host, server-reflexive or peer-reflexive candidates at
	// both ends (hole-punched through NATs, or plain).
	RouteDirect RouteKind = "direct"
	// RouteRelay: either end uses a TURN relay candidate.
	RouteRelay RouteKind = "relay"
)

// Route is the path ICE chose.
type Route struct {
	Kind RouteKind
	// LocalType and RemoteType are the selected pair's candidate types.
	LocalType, RemoteType webrtc.ICECandidateType
	// Local and Remote are "address:port type" ("127.0.0.1:50000 host").
	Local, Remote string
	// RelayAddr is the TURN relay address:port, when Kind is RouteRelay.
	RelayAddr string
}

// LocalRelay reports whether this end's candidate is a TURN relay (this
// side's super-node carries the call), as opposed to the peer's.
func (r Route) LocalRelay() bool { return r.LocalType == webrtc.ICECandidateTypeRelay }

// RemoteRelay reports whether the peer's candidate is a TURN relay.
func (r Route) RemoteRelay() bool { return r.RemoteType == webrtc.ICECandidateTypeRelay }

func (r Route) String() string {
	if r.Kind == RouteNone {
		return "none"
	}
	s := string(r.Kind) + " " + r.Local + " <-> " + r.Remote
	if r.RelayAddr != "" {
		s += " via " + r.RelayAddr
	}
	return s
}

// Route returns the selected candidate pair.
func (s *Session) Route() Route {
	pair, err := s.sender.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return Route{}
	}
	r := Route{Kind: RouteDirect, LocalType: pair.Local.Typ, RemoteType: pair.Remote.Typ,
		Local: candString(pair.Local), Remote: candString(pair.Remote)}
	switch {
	case r.LocalRelay():
		r.Kind, r.RelayAddr = RouteRelay, hostPort(pair.Local.Address, pair.Local.Port)
	case r.RemoteRelay():
		r.Kind, r.RelayAddr = RouteRelay, hostPort(pair.Remote.Address, pair.Remote.Port)
	}
	return r
}

func candString(c *webrtc.ICECandidate) string {
	s := hostPort(c.Address, c.Port) + " " + c.Typ.String()
	if c.Protocol == webrtc.ICEProtocolTCP {
		s += " tcp"
	}
	return s
}

func hostPort(a string, p uint16) string { return net.JoinHostPort(a, strconv.Itoa(int(p))) }

// Stats returns the current statistics.
func (s *Session) Stats() Stats {
	st := Stats{
		PacketsSent: s.packetsSent.Load(), BytesSent: s.bytesSent.Load(),
		PacketsReceived: s.packetsReceived.Load(), BytesReceived: s.bytesReceived.Load(),
		Route: s.Route(), ClockSlip: time.Duration(s.maxSlip.Load()),
		FramesWithheld: s.framesWithheld.Load(), LongestGap: s.longestGapNow(),
	}
	s.mu.Lock()
	jb, pl, startedAt := s.jb, s.player, s.startedAt
	s.mu.Unlock()
	if jb != nil {
		st.Duration = time.Since(startedAt)
		j := jb.Stats()
		st.PacketsLost, st.Late, st.Underruns, st.Shrinks, st.LossRuns = j.Lost, j.Late, j.Stalls, j.Shrinks, j.LossRuns
		if exp := st.PacketsReceived + j.Lost; exp > 0 {
			st.LossRate = float64(j.Lost) / float64(exp)
		}
		st.JitterMs = float64(j.Jitter) / float64(time.Millisecond)
		st.PlayoutDelayMs = float64(j.Depth) * float64(s.cfg.FrameDuration) / float64(time.Millisecond)
		st.FECRecovered, st.Concealed = pl.fecRecovered.Load(), pl.concealed.Load()
		if s.ratesSet.Load() {
			st.SendKbps = float64(s.sendBps.Load()) / 1000
			st.RecvKbps = float64(s.recvBps.Load()) / 1000
		} else if secs := st.Duration.Seconds(); secs > 0 {
			st.SendKbps = float64(st.BytesSent) * 8 / 1000 / secs
			st.RecvKbps = float64(st.BytesReceived) * 8 / 1000 / secs
		}
	}
	st.RTTMs = float64(s.rttNs.Load()) / float64(time.Millisecond)
	if lost := s.remoteLost.Load(); lost > 0 && st.PacketsSent > 0 {
		st.RemoteLossRate = float64(lost) / float64(st.PacketsSent)
	}
	if jb != nil {
		st.Quality = quality(st, s.cfg.FrameDuration)
	}
	return st
}

// String formats the statistics for a log line or a call summary.
func (st Stats) String() string {
	return fmt.Sprintf("sent %d pkts, received %d, loss %.1f%%, jitter %.1f ms, rtt %.1f ms, fec %d, concealed %d, underruns %d, shrinks %d, late %d, delay %.0f ms, mos %.2f, route %s",
		st.PacketsSent, st.PacketsReceived, st.LossRate*100, st.JitterMs, st.RTTMs, st.FECRecovered, st.Concealed, st.Underruns, st.Shrinks, st.Late, st.PlayoutDelayMs, st.Quality.MOS, st.Route)
}
