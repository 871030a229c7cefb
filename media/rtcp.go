package media

import (
	"time"

	"github.com/pion/rtcp"
)

// readReports takes the round-trip time and the loss of our stream from
// the reception reports in a compound RTCP packet from the peer.
func (s *Session) readReports(b []byte) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return // not ours to judge: SRTCP already authenticated it
	}
	enc := s.sender.GetParameters().Encodings
	if len(enc) == 0 {
		return
	}
	ours := uint32(enc[0].SSRC)
	for _, p := range pkts {
		var reports []rtcp.ReceptionReport
		switch r := p.(type) {
		case *rtcp.ReceiverReport:
			reports = r.Reports
		case *rtcp.SenderReport:
			reports = r.Reports
		}
		for _, rep := range reports {
			if rep.SSRC != ours {
				continue
			}
			s.remoteLost.Store(int64(rep.TotalLost))
			if rtt, ok := reportRTT(rep, time.Now()); ok {
				s.rttNs.Store(int64(rtt))
			}
		}
	}
}

// reportRTT computes the round-trip time from a reception report (RFC
// 3550 section 6.4.1): arrival time minus the last sender report's time
// (LSR) minus the peer's delay since it (DLSR), all in the middle 32 bits
// of NTP time (1/65536 s).
func reportRTT(rep rtcp.ReceptionReport, now time.Time) (time.Duration, bool) {
	if rep.LastSenderReport == 0 {
		return 0, false // the peer has not had a sender report yet
	}
	d := ntpMiddle(now) - rep.LastSenderReport - rep.Delay
	if d > 1<<31 {
		return 0, false // negative: clock steps or a forged report
	}
	return time.Duration(uint64(d) * uint64(time.Second) >> 16), true
}

// ntpMiddle is the middle 32 bits of t's 64-bit NTP timestamp.
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return uint32(secs<<16 | frac>>16)
}
