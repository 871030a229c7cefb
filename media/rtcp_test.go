package media

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func TestReportRTT(t *testing.T) {
	now := time.Unix(1_800_000_000, 500_000_000)
	tests := []struct {
		name  string
		sent  time.Time     // when our sender report left
		delay time.Duration // the peer's DLSR
		want  time.Duration
		ok    bool
	}{
		{"40 ms", now.Add(-140 * time.Millisecond), 100 * time.Millisecond, 40 * time.Millisecond, true},
		{"zero", now.Add(-time.Second), time.Second, 0, true},
		{"negative", now.Add(-10 * time.Millisecond), 50 * time.Millisecond, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := rtcp.ReceptionReport{LastSenderReport: ntpMiddle(tc.sent), Delay: uint32(tc.delay * 65536 / time.Second)}
			got, ok := reportRTT(rep, now)
			if ok != tc.ok || (ok && (got-tc.want).Abs() > time.Millisecond) {
				t.Errorf("got %v %v, want %v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	if _, ok := reportRTT(rtcp.ReceptionReport{}, now); ok {
		t.Error("a report without LSR gave an RTT")
	}
}
