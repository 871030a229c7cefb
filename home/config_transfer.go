package home

import (
	"fmt"

	"github.com/peercall/peercall/transfer"
)

// Folders and files of file transfer in the home.
const (
	// QuarantineDir holds files being received and files a scan kept.
	QuarantineDir = "quarantine"
	// ReceivedDir is where received files are released.
	ReceivedDir = "received"
	// TransferStateDir keeps how far each outgoing transfer got.
	TransferStateDir = "transfers"
)

// TransferConfig is config.toml's [transfer] section: the user's rules
// for file transfer (the administrator's [transfer] in policy.toml can
// only tighten them) and whose files are taken without asking.
type TransferConfig struct {
	transfer.Settings
	// AutoAcceptFrom are usernames whose offers are accepted without
	// asking (within the rules).
	AutoAcceptFrom []string `toml:"auto_accept_from"`
}

// maxAutoAccept bounds transfer.auto_accept_from.
const maxAutoAccept = 1000

// Validate checks the section and names the setting that is wrong.
func (t TransferConfig) Validate() error {
	if err := t.Settings.Validate("config.toml"); err != nil {
		return err
	}
	if len(t.AutoAcceptFrom) > maxAutoAccept {
		return fmt.Errorf("transfer.auto_accept_from has %d names, at most %d", len(t.AutoAcceptFrom), maxAutoAccept)
	}
	for _, u := range t.AutoAcceptFrom {
		if u == "" || len(u) > 64 {
			return fmt.Errorf("transfer.auto_accept_from: %q is not a username", u)
		}
	}
	return nil
}

// TransferSection is c's [transfer], or the defaults without one.
func (c Config) TransferSection() TransferConfig {
	if c.Transfer == nil {
		return TransferConfig{}
	}
	return *c.Transfer
}
