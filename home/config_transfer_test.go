package home

import (
	"strings"
	"testing"
	"time"
)

func TestTransferConfig(t *testing.T) {
	for _, tc := range []struct {
		name, toml, err string
		check           func(TransferConfig) bool
	}{
		{"absent", "", "", func(c TransferConfig) bool { return c.Enabled == nil && c.AutoAcceptFrom == nil }},
		{"all", "[transfer]\nenabled = true\nmax_file_size = 1000\nblocked_extensions = [\"exe\"]\nscan_command = [\"clamdscan\", \"{}\"]\nscan_timeout = \"30s\"\nauto_accept_from = [\"alice\"]\n", "",
			func(c TransferConfig) bool {
				return *c.Enabled && c.MaxFileSize == 1000 && c.ScanTimeout == 30*time.Second && c.AutoAcceptFrom[0] == "alice"
			}},
		{"unknown key", "[transfer]\nauto_accept = [\"alice\"]\n", "transfer.auto_accept", nil},
		{"negative size", "[transfer]\nmax_file_size = -5\n", "transfer.max_file_size -5 is negative", nil},
		{"scan without {}", "[transfer]\nscan_command = [\"clamscan\", \"-i\"]\n", "has no {} argument", nil},
		{"empty name", "[transfer]\nauto_accept_from = [\"\"]\n", "is not a username", nil},
	} {
		cfg, err := ParseConfig([]byte(tc.toml))
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err == "" && !tc.check(cfg.TransferSection()):
			t.Errorf("%s: %+v", tc.name, cfg.TransferSection())
		}
	}
}
