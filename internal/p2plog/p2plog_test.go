package p2plog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	golog "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
)

// TestDemoted: a libp2p error and a go-log error reach the routed handler
// at debug level only: hidden at info, shown with -v, saying how they were
// logged.
func TestDemoted(t *testing.T) {
	Install()
	defer Route(nil)
	p2p := gologshim.Logger("p2plog-test")
	dht := golog.Logger("p2plog-test-dht")
	for _, tc := range []struct {
		level slog.Level
		shown bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		var buf bytes.Buffer
		Route(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
		p2p.Error("start failed", "system", "fx")
		dht.Errorw("failed to bootstrap", "peer", "x")
		out := buf.String()
		for _, msg := range []string{"start failed", "failed to bootstrap"} {
			if got := strings.Contains(out, msg); got != tc.shown {
				t.Errorf("handler at %v: %q shown %t, want %t\n%s", tc.level, msg, got, tc.shown, out)
			}
		}
		if tc.shown && (!strings.Contains(out, "level=DEBUG") || strings.Contains(out, "level=ERROR") || !strings.Contains(out, "logged_as=ERROR") && !strings.Contains(out, "logged_as=error")) {
			t.Errorf("demoted records: %s", out)
		}
	}
	var buf bytes.Buffer
	Route(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	Route(nil)
	p2p.Error("after route nil")
	if buf.Len() != 0 {
		t.Errorf("Route(nil) still logs: %s", buf.String())
	}
}
