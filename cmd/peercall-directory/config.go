package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory/connlimit"
	"github.com/peercall/peercall/directory/handshake"
	"github.com/peercall/peercall/directory/server"
)

// settings are everything an operator sets: each by a flag and by the same
// key in directory.toml (--config FILE), a flag winning over the file.
// Their defaults are those of defaultSettings.
type settings struct {
	Config string // --config only

	Data, Listen, DB, Metrics string
	TLSCert, TLSKey           string
	InsecureHTTP              bool
	TrustedProxies            []string

	IntegrityCheck    bool
	IntegrityInterval time.Duration
	MinFreeDiskMiB    int64

	CertValidity, SeenWindow, PruneInterval time.Duration
	CheckinTTL, RevocationRefresh           time.Duration
	Argon2MemoryKiB, Argon2Time             int64
	Argon2Threads                           int64

	LoginFailuresPerName, LoginFailuresPerAddr, LoginFailuresPerDevice int64
	LoginWindow                                                        time.Duration
	RegistrationsPerAddr                                               int64
	RegistrationWindow                                                 time.Duration
	CheckinsPerKey, RenewalsPerKey                                     int64
	CheckinWindow, RenewalWindow                                       time.Duration
	MaxTrackedKeys                                                     int64

	MaxConcurrentHashes, MaxHashQueue  int64
	MaxHashWait                        time.Duration
	MaxConcurrentWrites, MaxWriteQueue int64
	MaxWriteWait                       time.Duration
	RetryAfterMin, RetryAfterMax       time.Duration

	MaxConns, MaxConnsPerAddr, ConnsHighWater    int64
	ConnRatePerAddr                              int64
	PressureIdleTimeout, IdleTimeout             time.Duration
	MaxConcurrentHandshakes                      int64
	MaxHandshakeWait                             time.Duration
	ReadHeaderTimeout, ReadTimeout, WriteTimeout time.Duration

	BootstrapPerAccount, BootstrapPerAddr int64

	DialBack                                          bool
	DialBackConcurrency, DialBackQueue, DialBackAddrs int64
	DialBackTimeout, DialBackTTL, DialBackFailTTL     time.Duration

	// set records the keys given in the file or by a flag.
	set map[string]bool
	// proxies are TrustedProxies parsed (by validate).
	proxies []netip.Prefix
}

// defaultMaxConns is max_conns unless set; it is lowered to what the
// process's open-file limit allows.
const defaultMaxConns = 8192

// reservedFDs are the file descriptors kept for the database, the log,
// the metrics listener and dial-backs when max_conns is derived.
const reservedFDs = 256

func defaultSettings() *settings {
	l := server.DefaultLimits()
	p := crypto.DefaultPasswordParams()
	return &settings{
		Data:                    "/var/lib/peercall-directory",
		Listen:                  ":7443",
		IntegrityCheck:          true,
		IntegrityInterval:       server.DefaultIntegrityInterval,
		MinFreeDiskMiB:          server.DefaultMinFreeDisk >> 20,
		CertValidity:            server.DefaultCertValidity,
		SeenWindow:              server.DefaultSeenWindow,
		CheckinTTL:              server.DefaultCheckinTTL,
		RevocationRefresh:       server.DefaultRevocationRefresh,
		PruneInterval:           server.DefaultPruneInterval,
		Argon2MemoryKiB:         int64(p.Memory),
		Argon2Time:              int64(p.Time),
		Argon2Threads:           int64(p.Threads),
		LoginFailuresPerName:    int64(l.LoginFailuresPerName),
		LoginFailuresPerAddr:    int64(l.LoginFailuresPerAddr),
		LoginFailuresPerDevice:  int64(l.LoginFailuresPerDevice),
		LoginWindow:             l.LoginWindow,
		RegistrationsPerAddr:    int64(l.RegistrationsPerAddr),
		RegistrationWindow:      l.RegistrationWindow,
		CheckinsPerKey:          int64(l.CheckinsPerKey),
		CheckinWindow:           l.CheckinWindow,
		RenewalsPerKey:          int64(l.RenewalsPerKey),
		RenewalWindow:           l.RenewalWindow,
		MaxTrackedKeys:          int64(l.MaxTrackedKeys),
		MaxConcurrentHashes:     int64(l.MaxConcurrentHashes),
		MaxHashQueue:            int64(l.MaxHashQueue),
		MaxHashWait:             l.MaxHashWait,
		MaxConcurrentWrites:     int64(l.MaxConcurrentWrites),
		MaxWriteQueue:           int64(l.MaxWriteQueue),
		MaxWriteWait:            l.MaxWriteWait,
		RetryAfterMin:           l.RetryAfterMin,
		RetryAfterMax:           l.RetryAfterMax,
		MaxConns:                defaultMaxConns,
		MaxConnsPerAddr:         128,
		ConnRatePerAddr:         64,
		PressureIdleTimeout:     5 * time.Second,
		MaxConcurrentHandshakes: 16 * int64(runtime.NumCPU()),
		MaxHandshakeWait:        3 * time.Second,
		IdleTimeout:             2 * time.Minute,
		ReadHeaderTimeout:       10 * time.Second,
		ReadTimeout:             30 * time.Second,
		WriteTimeout:            30 * time.Second,
		BootstrapPerAccount:     int64(l.BootstrapPerAccount),
		BootstrapPerAddr:        int64(l.BootstrapPerAddr),
		DialBack:                true,
		DialBackConcurrency:     int64(l.DialBackConcurrency),
		DialBackQueue:           int64(l.DialBackQueue),
		DialBackAddrs:           int64(l.DialBackAddrs),
		DialBackTimeout:         l.DialBackTimeout,
		DialBackTTL:             l.DialBackTTL,
		DialBackFailTTL:         l.DialBackFailTTL,
		set:                     map[string]bool{},
	}
}

// setting is one entry of the table: its key in directory.toml (the flag
// is the key with '-' for '_', unless flag says otherwise), what it does,
// where its value lives and its lower bound.
type setting struct {
	key, flag, help string
	ptr             any // *string, *bool, *int64, *time.Duration, *[]string
	min             int64
	minDur          time.Duration
	zeroOff         bool // 0 turns it off (and passes the bound)
}

func (st setting) flagName() string {
	if st.flag != "" {
		return st.flag
	}
	return strings.ReplaceAll(st.key, "_", "-")
}

// table lists every setting of s, in the order of docs/operator.md.
func (s *settings) table() []setting {
	return []setting{
		{key: "data", ptr: &s.Data, help: "data `DIR`: holds directory.key and the default SQLite database"},
		{key: "listen", ptr: &s.Listen, help: "`ADDR` (host:port) of the HTTPS API"},
		{key: "db", ptr: &s.DB, help: "database `URL`: sqlite://FILE or postgres://USER:PASSWORD@HOST/DB (default sqlite://DIR/directory.db)"},
		{key: "metrics", ptr: &s.Metrics, help: "optional separate `ADDR` serving /metrics over plain HTTP (/metrics is also on the API listener)"},
		{key: "tls_cert", ptr: &s.TLSCert, help: "operator TLS certificate `FILE` (PEM) instead of the self-signed one"},
		{key: "tls_key", ptr: &s.TLSKey, help: "operator TLS key `FILE` (PEM), with --tls-cert"},
		{key: "insecure_http", ptr: &s.InsecureHTTP, help: "serve plain HTTP (only allowed when --listen is a loopback address; for tests)"},
		{key: "trusted_proxies", flag: "trusted-proxy", ptr: &s.TrustedProxies, help: "`CIDR` of a reverse proxy in front of the directory whose X-Forwarded-For is believed for throttling (repeatable; trusted_proxies = [...] in the file)"},
		{key: "integrity_check", ptr: &s.IntegrityCheck, help: "check an SQLite database's integrity (PRAGMA quick_check) at start"},
		{key: "integrity_check_interval", ptr: &s.IntegrityInterval, zeroOff: true, minDur: time.Minute, help: "how often to check an SQLite database's integrity again while running, `D` (0: never)"},
		{key: "min_free_disk_mib", ptr: &s.MinFreeDiskMiB, zeroOff: true, min: 1, help: "/healthz is unhealthy with less free space than this beside an SQLite database, `MiB` (0: never)"},
		{key: "cert_validity", ptr: &s.CertValidity, minDur: server.MinCertValidity, help: "lifetime of the identity certificates issued at login and renewal, `D` (such as 7d or 36h; nodes renew at two thirds of it)"},
		{key: "checkin_ttl", ptr: &s.CheckinTTL, minDur: 5 * time.Second, help: "how long a node's check-in keeps it listed in lookups and bootstrap, `D` (nodes check in again after two fifths of it)"},
		{key: "revocation_refresh", ptr: &s.RevocationRefresh, minDur: time.Second, help: "how often the signed revocation list is rebuilt from the database (revocations by another replica or by `user revoke`), `D`"},
		{key: "seen_window", ptr: &s.SeenWindow, minDur: time.Minute, help: "how long an expired check-in is kept (it refuses replays of older ones), `D`"},
		{key: "prune_interval", ptr: &s.PruneInterval, zeroOff: true, minDur: time.Second, help: "how often check-ins expired for longer than seen_window are deleted, `D` (0: never)"},
		{key: "argon2_memory_kib", ptr: &s.Argon2MemoryKiB, min: 8, help: "argon2id memory of new password hashes, `KiB`"},
		{key: "argon2_time", ptr: &s.Argon2Time, min: 1, help: "argon2id passes of new password hashes, `N`"},
		{key: "argon2_threads", ptr: &s.Argon2Threads, min: 1, help: "argon2id threads of new password hashes, `N`"},
		{key: "login_failures_per_name", ptr: &s.LoginFailuresPerName, min: 1, help: "failed logins allowed per username per login_window, `N`"},
		{key: "login_failures_per_addr", ptr: &s.LoginFailuresPerAddr, min: 1, help: "failed logins allowed per client address (IPv4, IPv6 /64) per login_window, `N`"},
		{key: "login_failures_per_device", ptr: &s.LoginFailuresPerDevice, min: 1, help: "failed logins allowed per username from one machine it logged in from before, per login_window, `N`"},
		{key: "login_window", ptr: &s.LoginWindow, minDur: time.Second, help: "window of the login budgets, `D`"},
		{key: "registrations_per_addr", ptr: &s.RegistrationsPerAddr, min: 1, help: "successful registrations allowed per client address per registration_window, `N`"},
		{key: "registration_window", ptr: &s.RegistrationWindow, minDur: time.Second, help: "window of the registration budget, `D`"},
		{key: "checkins_per_key", ptr: &s.CheckinsPerKey, min: 1, help: "check-ins allowed per node key per checkin_window, `N` (beyond: 429)"},
		{key: "checkin_window", ptr: &s.CheckinWindow, minDur: time.Second, help: "window of the check-in budget, `D`"},
		{key: "renewals_per_key", ptr: &s.RenewalsPerKey, min: 1, help: "certificate renewals and revocations allowed per node key per renewal_window, `N`"},
		{key: "renewal_window", ptr: &s.RenewalWindow, minDur: time.Second, help: "window of the renewal budget, `D`"},
		{key: "max_tracked_keys", ptr: &s.MaxTrackedKeys, min: 1, help: "spent budgets each throttling table keeps, `N` (beyond: one shared overflow budget)"},
		{key: "max_concurrent_hashes", ptr: &s.MaxConcurrentHashes, min: 1, help: "argon2id hashes running at once, `N` (default: CPUs)"},
		{key: "max_hash_queue", ptr: &s.MaxHashQueue, help: "requests that may wait for a hash slot, `N` (beyond: 503)"},
		{key: "max_hash_wait", ptr: &s.MaxHashWait, help: "longest wait for a hash slot, `D` (then 503)"},
		{key: "max_concurrent_writes", ptr: &s.MaxConcurrentWrites, zeroOff: true, min: 1, help: "check-ins, renewals and revocations answered at once, `N` (0: no bound; for a database slower than the directory's CPU)"},
		{key: "max_write_queue", ptr: &s.MaxWriteQueue, help: "check-ins, renewals and revocations that may wait for a write slot, `N` (beyond: 503)"},
		{key: "max_write_wait", ptr: &s.MaxWriteWait, help: "longest wait for a write slot, `D` (then 503)"},
		{key: "retry_after_min", ptr: &s.RetryAfterMin, minDur: time.Second, help: "least Retry-After of a 503 overloaded answer, `D`"},
		{key: "retry_after_max", ptr: &s.RetryAfterMax, minDur: time.Second, help: "most Retry-After of a 503 overloaded answer, `D`"},
		{key: "max_conns", ptr: &s.MaxConns, min: 1, help: "TCP connections held in all, `N` (default 8192, less if the open-file limit is lower)"},
		{key: "max_conns_per_addr", ptr: &s.MaxConnsPerAddr, min: 1, help: "TCP connections held per client address, `N` (trusted proxies exempt)"},
		{key: "conn_rate_per_addr", ptr: &s.ConnRatePerAddr, help: "new TCP connections one client address may open per second (bursts up to max_conns_per_addr), `N` (0: no limit; trusted proxies exempt)"},
		{key: "conns_high_water", ptr: &s.ConnsHighWater, help: "connections above which idle ones close after pressure_idle_timeout, `N` (0: three quarters of max_conns)"},
		{key: "pressure_idle_timeout", ptr: &s.PressureIdleTimeout, minDur: time.Millisecond, help: "idle timeout above conns_high_water, `D`"},
		{key: "max_concurrent_handshakes", ptr: &s.MaxConcurrentHandshakes, min: 1, help: "TLS handshakes run at once, `N` (default: 16 per CPU; resumed sessions are served first)"},
		{key: "max_handshake_wait", ptr: &s.MaxHandshakeWait, help: "longest wait of a new connection for a handshake slot, `D` (then it is closed; its client retries)"},
		{key: "idle_timeout", ptr: &s.IdleTimeout, minDur: time.Second, help: "idle timeout of keep-alive connections, `D`"},
		{key: "read_header_timeout", ptr: &s.ReadHeaderTimeout, minDur: time.Millisecond, help: "time to read a request's headers (and the TLS handshake), `D`"},
		{key: "read_timeout", ptr: &s.ReadTimeout, minDur: time.Millisecond, help: "time to read a whole request, `D`"},
		{key: "write_timeout", ptr: &s.WriteTimeout, minDur: time.Millisecond, help: "time to write an answer, `D`"},
		{key: "bootstrap_per_account", ptr: &s.BootstrapPerAccount, min: 1, help: "nodes of one account in a /v1/bootstrap answer, `N`"},
		{key: "bootstrap_per_addr", ptr: &s.BootstrapPerAddr, min: 1, help: "nodes of one client address in a /v1/bootstrap answer, `N`"},
		{key: "dialback", ptr: &s.DialBack, help: "dial super-nodes back before listing them (off: no node is listed as a super-node)"},
		{key: "dialback_concurrency", ptr: &s.DialBackConcurrency, min: 1, help: "dial-backs at once, `N`"},
		{key: "dialback_queue", ptr: &s.DialBackQueue, help: "logins that may wait for a dial-back, `N`"},
		{key: "dialback_addrs", ptr: &s.DialBackAddrs, min: 1, help: "addresses of one login dialled back, `N` (at most 16)"},
		{key: "dialback_timeout", ptr: &s.DialBackTimeout, minDur: time.Millisecond, help: "time of one dial-back, `D`"},
		{key: "dialback_ttl", ptr: &s.DialBackTTL, minDur: time.Second, help: "how long a node reached is trusted without dialling again, `D`"},
		{key: "dialback_fail_ttl", ptr: &s.DialBackFailTTL, minDur: time.Second, help: "how long an address not reached is not dialled again, `D`"},
	}
}

// parseDuration is time.ParseDuration that also takes days ("7d",
// "1d12h").
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var days int64
	if i := strings.IndexByte(v, 'd'); i > 0 {
		n, err := strconv.ParseInt(v[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 7d, 36h or 90s", v)
		}
		days, v = n, v[i+1:]
		if v == "" {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 7d, 36h or 90s", v)
	}
	return time.Duration(days)*24*time.Hour + d, nil
}

// formatDuration writes d with days where it has whole ones.
func formatDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// flagValue is a setting as a flag.Value.
type flagValue struct {
	st    setting
	s     *settings
	reset bool // a repeatable flag replaces the file's list at its first use
}

func (f *flagValue) String() string {
	if f == nil || f.st.ptr == nil {
		return ""
	}
	return valueString(f.st.ptr)
}

func (f *flagValue) IsBoolFlag() bool { _, ok := f.st.ptr.(*bool); return ok }

func (f *flagValue) Set(v string) error {
	switch p := f.st.ptr.(type) {
	case *string:
		*p = v
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		*p = b
	case *int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*p = n
	case *time.Duration:
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		*p = d
	case *[]string:
		if !f.reset {
			*p, f.reset = nil, true
		}
		*p = append(*p, v)
	}
	f.s.set[f.st.key] = true
	return nil
}

func valueString(ptr any) string {
	switch p := ptr.(type) {
	case *string:
		return *p
	case *bool:
		return strconv.FormatBool(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *time.Duration:
		return formatDuration(*p)
	case *[]string:
		return strings.Join(*p, ",")
	}
	return ""
}

// flagSet defines every setting of s as a flag, and --config.
func (s *settings) flagSet(out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("peercall-directory", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&s.Config, "config", "", "settings `FILE` in TOML (directory.toml): the keys are the flag names with _ for -; flags win over the file")
	for _, st := range s.table() {
		fs.Var(&flagValue{st: st, s: s}, st.flagName(), st.help)
	}
	return fs
}

// loadSettings reads the settings: defaults, then the --config file, then
// the flags, then validates them.
func loadSettings(args []string, stderr io.Writer) (*settings, error) {
	pre := defaultSettings()
	preErr := pre.flagSet(io.Discard).Parse(args)
	s := defaultSettings()
	if preErr == nil && pre.Config != "" {
		if err := s.loadFile(pre.Config); err != nil {
			return nil, err
		}
	}
	fs := s.flagSet(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; peercall-directory takes only flags (see -h)", fs.Arg(0))
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// loadFile applies a directory.toml. Unknown keys are an error naming
// them, as are values of the wrong type.
func (s *settings) loadFile(path string) error {
	raw := map[string]any{}
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	byKey := map[string]setting{}
	for _, st := range s.table() {
		byKey[st.key] = st
	}
	var unknown []string
	for k := range raw {
		if _, ok := byKey[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config %s: unknown setting %s; the settings are the flag names with _ for - (peercall-directory -h, docs/operator.md)", path, strings.Join(unknown, ", "))
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := setFromTOML(byKey[k], raw[k]); err != nil {
			return fmt.Errorf("config %s: %s: %w", path, k, err)
		}
		s.set[k] = true
	}
	return nil
}

func setFromTOML(st setting, v any) error {
	switch p := st.ptr.(type) {
	case *string:
		x, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %v", v)
		}
		*p = x
	case *bool:
		x, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %v", v)
		}
		*p = x
	case *int64:
		x, ok := v.(int64)
		if !ok {
			return fmt.Errorf("want a whole number, got %v", v)
		}
		*p = x
	case *time.Duration:
		x, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a duration in quotes such as \"15m\" or \"7d\", got %v", v)
		}
		d, err := parseDuration(x)
		if err != nil {
			return err
		}
		*p = d
	case *[]string:
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want a list of strings such as [\"10.0.0.0/8\"], got %v", v)
		}
		var out []string
		for _, e := range list {
			x, ok := e.(string)
			if !ok {
				return fmt.Errorf("want a list of strings, got %v", v)
			}
			out = append(out, x)
		}
		*p = out
	}
	return nil
}

// validate names the first setting out of range, by key and flag.
func (s *settings) validate() error {
	bad := func(st setting, want string) error {
		return fmt.Errorf("setting %s (--%s) is %s; want %s", st.key, st.flagName(), valueString(st.ptr), want)
	}
	byKey := map[string]setting{}
	for _, st := range s.table() {
		byKey[st.key] = st
		switch p := st.ptr.(type) {
		case *int64:
			if *p < st.min && !(st.zeroOff && *p == 0) {
				if st.zeroOff {
					return bad(st, fmt.Sprintf("0 (off) or at least %d", st.min))
				}
				return bad(st, fmt.Sprintf("at least %d", st.min))
			}
		case *time.Duration:
			if *p < st.minDur && !(st.zeroOff && *p == 0) {
				if st.zeroOff {
					return bad(st, "0 (off) or at least "+formatDuration(st.minDur))
				}
				if st.minDur == 0 {
					return bad(st, "0 or more")
				}
				return bad(st, "at least "+formatDuration(st.minDur))
			}
		}
	}
	switch {
	case s.RetryAfterMax < s.RetryAfterMin:
		return bad(byKey["retry_after_max"], "at least retry_after_min ("+formatDuration(s.RetryAfterMin)+")")
	case s.ConnsHighWater > s.MaxConns:
		return bad(byKey["conns_high_water"], fmt.Sprintf("at most max_conns (%d)", s.MaxConns))
	case s.DialBackAddrs > 16:
		return bad(byKey["dialback_addrs"], "at most 16 (a login reports at most 16 addresses)")
	case (s.TLSCert == "") != (s.TLSKey == ""):
		return errors.New("--tls-cert and --tls-key (tls_cert, tls_key) go together: give both or neither")
	case s.InsecureHTTP && s.TLSCert != "":
		return errors.New("--insecure-http and --tls-cert contradict each other: give one")
	case s.InsecureHTTP && !isLoopback(s.Listen):
		return fmt.Errorf("--insecure-http is refused with --listen %q: plain HTTP would send passwords in clear over the network; listen on a loopback address such as 127.0.0.1:7443, or drop --insecure-http", s.Listen)
	}
	if err := s.passwordParams().Validate(); err != nil {
		return fmt.Errorf("settings argon2_memory_kib, argon2_time, argon2_threads: %w", err)
	}
	s.proxies = nil
	for _, v := range s.TrustedProxies {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return fmt.Errorf("setting trusted_proxies (--trusted-proxy): %q is not an address or CIDR such as 10.0.0.0/8: %w", v, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		s.proxies = append(s.proxies, p.Masked())
	}
	if err := s.fitOpenFiles(byKey["max_conns"]); err != nil {
		return err
	}
	if s.DB == "" {
		s.DB = "sqlite://" + filepath.Join(s.Data, "directory.db")
	}
	return nil
}

// fitOpenFiles keeps max_conns within the open-file limit: a derived one
// is lowered, a set one above it is an error.
func (s *settings) fitOpenFiles(st setting) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<40 {
		return nil
	}
	room := int64(rl.Cur) - reservedFDs
	if s.MaxConns <= room {
		return nil
	}
	if s.set["max_conns"] {
		return bad2(st, s.MaxConns, fmt.Sprintf("at most %d: the open-file limit is %d (ulimit -n; LimitNOFILE= in a systemd unit) and %d are kept for the rest", room, rl.Cur, reservedFDs))
	}
	s.MaxConns = max(1, room)
	if s.ConnsHighWater > s.MaxConns {
		s.ConnsHighWater = 0
	}
	return nil
}

func bad2(st setting, v int64, want string) error {
	return fmt.Errorf("setting %s (--%s) is %d; want %s", st.key, st.flagName(), v, want)
}

func (s *settings) passwordParams() crypto.PasswordParams {
	p := crypto.DefaultPasswordParams()
	p.Memory, p.Time, p.Threads = uint32(clampU32(s.Argon2MemoryKiB)), uint32(clampU32(s.Argon2Time)), uint8(min(max(s.Argon2Threads, 0), 255))
	return p
}

func clampU32(v int64) int64 { return min(max(v, 0), 1<<32-1) }

// limits are the server's limits from s.
func (s *settings) limits() server.Limits {
	return server.Limits{
		LoginFailuresPerName:   int(s.LoginFailuresPerName),
		LoginFailuresPerAddr:   int(s.LoginFailuresPerAddr),
		LoginFailuresPerDevice: int(s.LoginFailuresPerDevice),
		LoginWindow:            s.LoginWindow,
		RegistrationsPerAddr:   int(s.RegistrationsPerAddr),
		RegistrationWindow:     s.RegistrationWindow,
		CheckinsPerKey:         int(s.CheckinsPerKey),
		CheckinWindow:          s.CheckinWindow,
		RenewalsPerKey:         int(s.RenewalsPerKey),
		RenewalWindow:          s.RenewalWindow,
		MaxTrackedKeys:         int(s.MaxTrackedKeys),
		MaxConcurrentHashes:    int(s.MaxConcurrentHashes),
		MaxHashQueue:           int(s.MaxHashQueue),
		MaxHashWait:            s.MaxHashWait,
		MaxConcurrentWrites:    int(s.MaxConcurrentWrites),
		MaxWriteQueue:          int(s.MaxWriteQueue),
		MaxWriteWait:           s.MaxWriteWait,
		RetryAfterMin:          s.RetryAfterMin,
		RetryAfterMax:          s.RetryAfterMax,
		BootstrapPerAccount:    int(s.BootstrapPerAccount),
		BootstrapPerAddr:       int(s.BootstrapPerAddr),
		DialBackConcurrency:    int(s.DialBackConcurrency),
		DialBackQueue:          int(s.DialBackQueue),
		DialBackTimeout:        s.DialBackTimeout,
		DialBackTTL:            s.DialBackTTL,
		DialBackFailTTL:        s.DialBackFailTTL,
		DialBackAddrs:          int(s.DialBackAddrs),
	}
}

// serverConfig is the server's configuration from s, without the store,
// key, logger, registry and prover.
func (s *settings) serverConfig() server.Config {
	c := server.Config{
		CertValidity:      s.CertValidity,
		SeenWindow:        s.SeenWindow,
		CheckinTTL:        s.CheckinTTL,
		RevocationRefresh: s.RevocationRefresh,
		PruneInterval:     s.PruneInterval,
		Password:          s.passwordParams(),
		Limits:            s.limits(),
		TrustedProxies:    s.proxies,
		MinFreeDisk:       s.MinFreeDiskMiB << 20,
		IntegrityInterval: s.IntegrityInterval,
	}
	if s.PruneInterval == 0 {
		c.PruneInterval = -1
	}
	if s.MinFreeDiskMiB == 0 {
		c.MinFreeDisk = -1
	}
	if s.IntegrityInterval == 0 {
		c.IntegrityInterval = -1
	}
	return c
}

// connConfig is the connection limits of the API listener.
func (s *settings) connConfig() connlimit.Config {
	return connlimit.Config{
		MaxConns:        int(s.MaxConns),
		MaxConnsPerAddr: int(s.MaxConnsPerAddr),
		HighWater:       int(s.ConnsHighWater),
		PressureIdle:    s.PressureIdleTimeout,
		RatePerAddr:     float64(s.ConnRatePerAddr),
		Exempt:          s.proxies,
	}
}

// handshakeConfig is the handshake cap of the API listener; a handshake
// gets the least of the read and write timeouts, as net/http gives it.
func (s *settings) handshakeConfig() handshake.Config {
	return handshake.Config{
		MaxConcurrent: int(s.MaxConcurrentHandshakes),
		MaxWait:       s.MaxHandshakeWait,
		Timeout:       min(s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout),
	}
}

// logEffective logs every setting once, as the server will use it.
func (s *settings) logEffective(log *slog.Logger) {
	attrs := []any{"config", s.Config}
	for _, st := range s.table() {
		v := valueString(st.ptr)
		if st.key == "db" {
			v = redactDSN(v)
		}
		attrs = append(attrs, st.key, v)
	}
	log.Info("effective settings", attrs...)
}
