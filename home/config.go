package home

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
)

// DefaultListen is the libp2p address a node listens on (TCP and QUIC).
const DefaultListen = "0.0.0.0:7070"

// maxConfigBytes bounds the config file read.
const maxConfigBytes = 1 << 20

// Config is a node's config.toml. Later sections (relay, audio) extend it;
// every setting has a default (DefaultConfig) and Validate names the setting
// that is wrong.
type Config struct {
	Directory DirectoryConfig `toml:"directory"`
	Network   NetworkConfig   `toml:"network"`
	// Relay is [relay] (nil: DefaultRelayConfig).
	Relay *RelayConfig `toml:"relay,omitempty"`
	// Audio is [audio] (nil: DefaultAudioConfig).
	Audio *AudioConfig `toml:"audio,omitempty"`
	// Transfer is [transfer] (nil: the defaults; config_transfer.go).
	Transfer *TransferConfig `toml:"transfer,omitempty"`
	// Contacts is [contacts] and UI is [ui] (config_softphone.go).
	Contacts *ContactsConfig `toml:"contacts,omitempty"`
	UI       *UIConfig       `toml:"ui,omitempty"`
	// Chat is [chat] (nil: the defaults; config_chat.go).
	Chat *ChatConfig `toml:"chat,omitempty"`
}

// DirectoryConfig says which directory the node uses and pins its key.
type DirectoryConfig struct {
	// URL is the directory's base URL: https, or http on a loopback host.
	URL string `toml:"url"`
	// Key is the pinned directory public key, "ed25519:<base64url>".
	Key string `toml:"key"`
}

// NetworkConfig is where the node listens and how it judges reachability.
type NetworkConfig struct {
	// Listen are the host:port addresses for libp2p (TCP and QUIC on each).
	Listen []string `toml:"listen"`
	// ReachableRanges are CIDR ranges counted as publicly reachable (for
	// campus networks and the lab), e.g. ["10.0.0.0/8"].
	ReachableRanges []string `toml:"reachable_ranges"`
	// Restricted makes the node place calls through relays only (TCP/TLS
	// 443) and never relay for others.
	Restricted bool `toml:"restricted"`
	// Bootstrap are libp2p multiaddrs with a /p2p/ peer ID
	// ("/ip4/192.0.2.7/tcp/7070/p2p/12D3KooW...") dialled to join the DHT,
	// besides the directory's /v1/bootstrap and the host cache.
	Bootstrap []string `toml:"bootstrap"`
	// DHTMode is auto, client or server (default server; see
	// DefaultDHTMode).
	DHTMode string `toml:"dht_mode"`
}

// DefaultConfig returns the settings a node uses when config.toml leaves
// them out.
func DefaultConfig() Config {
	return Config{
		Network: NetworkConfig{Listen: []string{DefaultListen}, DHTMode: DefaultDHTMode},
		Relay:   new(DefaultRelayConfig()),
		Audio:   new(DefaultAudioConfig()),
	}
}

// Validate checks every setting and names the first wrong one.
func (c Config) Validate() error {
	d := c.Directory
	switch {
	case d.URL == "" && d.Key != "":
		return errors.New("directory.url is empty but directory.key is set; run `peercall init --directory URL`")
	case d.URL != "" && d.Key == "":
		return errors.New("directory.key is empty: the directory's key is not pinned; run `peercall init --directory URL` to pin it")
	case d.URL != "":
		if _, err := directory.ParseDirectoryURL(d.URL); err != nil {
			return fmt.Errorf("directory.url: %w", err)
		}
		if _, err := crypto.ParsePublicKey(d.Key); err != nil {
			return fmt.Errorf("directory.key: %w; run `peercall init` again with the key the directory prints", err)
		}
	}
	if len(c.Network.Listen) == 0 {
		return fmt.Errorf("network.listen is empty; give at least one host:port, e.g. [%q]", DefaultListen)
	}
	for _, a := range c.Network.Listen {
		if err := CheckListenAddr(a); err != nil {
			return fmt.Errorf("network.listen: %w", err)
		}
	}
	if err := c.Network.validateDHT(); err != nil {
		return err
	}
	if c.Relay != nil {
		if err := c.Relay.Validate(); err != nil {
			return err
		}
	}
	if c.Transfer != nil {
		if err := c.Transfer.Validate(); err != nil {
			return err
		}
	}
	if err := c.validateSoftphone(); err != nil {
		return err
	}
	if c.Chat != nil {
		if err := c.Chat.Validate(); err != nil {
			return err
		}
	}
	for _, r := range c.Network.ReachableRanges {
		if _, err := netip.ParsePrefix(r); err != nil {
			return fmt.Errorf("network.reachable_ranges: %q is not a CIDR range such as \"10.0.0.0/8\": %w", r, err)
		}
	}
	return nil
}

// CheckListenAddr accepts IP:PORT (or :PORT) with a port in 0..65535.
func CheckListenAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. %q or \"[::]:7070\"): %w", a, DefaultListen, err)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: host must be an IP address: %w", a, err)
		}
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && p == 0) {
		return fmt.Errorf("%q: port must be a number 0..65535", a)
	}
	return nil
}

// ParseConfig decodes config.toml: settings absent from data keep their
// defaults; unknown settings are an error naming them; the result is
// validated.
func ParseConfig(data []byte) (Config, error) {
	if len(data) > maxConfigBytes {
		return Config{}, fmt.Errorf("config is larger than %d bytes", maxConfigBytes)
	}
	cfg := DefaultConfig()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&cfg)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return Config{}, fmt.Errorf("config: unknown setting %s; check the spelling", strings.Join(keys, ", "))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// LoadConfig reads the config file at path; a missing file gives the
// defaults.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return DefaultConfig(), nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w; fix the file or remove it and run `peercall init` again", path, err)
	}
	return cfg, nil
}

// Marshal encodes the config as TOML, with a header comment.
func (c Config) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# peercall node configuration; see docs/config.md. `peercall init` writes [directory].\n\n")
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return b.Bytes(), nil
}

// ListenIPs returns the hosts of listen when every one is a specific
// address (say 127.0.0.1), so that ICE and TURN use the same interfaces as
// libp2p; nil (every interface) when any is unspecified.
func ListenIPs(listen []string) []string {
	var ips []string
	for _, a := range listen {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.IsUnspecified() {
			return nil
		}
		ips = append(ips, ip.Unmap().String())
	}
	return ips
}
