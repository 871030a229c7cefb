package home

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ContactsConfig is config.toml's [contacts] section: who may call, and
// when an idle user shows as away.
type ContactsConfig struct {
	// CallsFrom is what a call from someone not in the contact list does:
	// "anyone" (it rings), "request" (refused, shown as a contact
	// request) or "contacts" (refused).
	CallsFrom string `toml:"calls_from"`
	// AwayAfter turns online into away after this long without activity
	// in the web interface or the CLI (0: never).
	AwayAfter time.Duration `toml:"away_after"`
}

// DefaultContactsConfig lets anyone ring and turns away after 10 minutes.
func DefaultContactsConfig() ContactsConfig {
	return ContactsConfig{CallsFrom: "anyone", AwayAfter: 10 * time.Minute}
}

// Validate names the wrong [contacts] setting.
func (c ContactsConfig) Validate() error {
	switch c.CallsFrom {
	case "anyone", "request", "contacts":
	default:
		return fmt.Errorf("contacts.calls_from %q: choose \"anyone\", \"request\" or \"contacts\"", c.CallsFrom)
	}
	if c.AwayAfter < 0 {
		return fmt.Errorf("contacts.away_after %v is negative: use 0 (never) or a duration such as \"10m\"", c.AwayAfter)
	}
	return nil
}

// ContactsSection is c's [contacts], or the defaults without one.
func (c Config) ContactsSection() ContactsConfig {
	if c.Contacts == nil {
		return DefaultContactsConfig()
	}
	return *c.Contacts
}

// DefaultUIListen is where `peercall run` serves the web interface.
const DefaultUIListen = "127.0.0.1:7080"

// UIConfig is config.toml's [ui] section: the local web interface.
type UIConfig struct {
	// Listen is the interface's host:port: a loopback address (other
	// interfaces would need TLS, which the interface does not serve yet);
	// "" turns the interface off.
	Listen string `toml:"listen"`
}

// DefaultUIConfig serves the interface on DefaultUIListen.
func DefaultUIConfig() UIConfig { return UIConfig{Listen: DefaultUIListen} }

// Validate names the wrong [ui] setting.
func (c UIConfig) Validate() error {
	if c.Listen == "" {
		return nil
	}
	if err := CheckListenAddr(c.Listen); err != nil {
		return fmt.Errorf("ui.listen: %w", err)
	}
	host, _, _ := net.SplitHostPort(c.Listen)
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("ui.listen %q: the web interface listens on loopback only (127.0.0.1 or [::1]); reach it from elsewhere through an SSH tunnel", c.Listen)
	}
	return nil
}

// UISection is c's [ui], or the defaults without one.
func (c Config) UISection() UIConfig {
	if c.UI == nil {
		return DefaultUIConfig()
	}
	return *c.UI
}

func (c Config) validateSoftphone() error {
	if c.Contacts != nil {
		if err := c.Contacts.Validate(); err != nil {
			return err
		}
	}
	if c.UI != nil {
		return c.UI.Validate()
	}
	return nil
}

// ContactsFile is the home's contact list, presence choice and call
// history (package contacts).
const ContactsFile = "contacts.db"
