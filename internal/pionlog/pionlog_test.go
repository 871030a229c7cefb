package pionlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLevels(t *testing.T) {
	for _, tc := range []struct {
		name string
		lv   Levels
		want map[string]string // message -> level it must appear at ("" = hidden at info)
	}{
		{"session", Session, map[string]string{"w": "", "e": "ERROR", "i": ""}},
		{"server", Server, map[string]string{"w": "INFO", "e": "INFO", "i": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
			l := New(log, tc.lv).NewLogger("ice")
			l.Warn("w")
			l.Errorf("%s", "e")
			l.Infof("%s", "i")
			l.Trace("t")
			for msg, level := range tc.want {
				line := ""
				for _, ln := range strings.Split(buf.String(), "\n") {
					if strings.Contains(ln, "msg="+msg+" ") {
						line = ln
					}
				}
				switch {
				case level == "" && line != "":
					t.Errorf("%q logged at info: %s", msg, line)
				case level != "" && !strings.Contains(line, "level="+level):
					t.Errorf("%q: want level %s, got line %q", msg, level, line)
				case level != "" && !strings.Contains(line, "pion=ice"):
					t.Errorf("%q: no pion=ice attribute: %q", msg, line)
				}
			}
			if strings.Contains(buf.String(), "msg=t") {
				t.Error("trace logged at info")
			}
		})
	}
}
