package transfer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bounds of the settings.
const (
	// DefaultMaxFileSize is the user's default cap (4 GiB).
	DefaultMaxFileSize = 4 << 30
	// DefaultScanTimeout bounds a scan command when the settings give none.
	DefaultScanTimeout = 2 * time.Minute
	// DefaultMaxQuarantine is the user's default cap on the quarantine
	// folder (16 GiB: files being received and files a scan kept).
	DefaultMaxQuarantine = 16 << 30
	maxScanTimeout       = time.Hour
	maxExtensions        = 256
)

// Settings are one party's rules for file transfer: the user's
// ([transfer] in config.toml) or the administrator's ([transfer] in
// policy.toml). In a policy a zero field is "no policy on this setting".
type Settings struct {
	// Enabled: nil is no opinion (the user's default is on); false
	// forbids transfers both ways.
	Enabled *bool `toml:"enabled"`
	// MaxFileSize in bytes (0: no cap from this party).
	MaxFileSize int64 `toml:"max_file_size"`
	// AllowedExtensions, when not empty, are the only extensions taken
	// (lower case, no dot; "" allows files without one).
	AllowedExtensions []string `toml:"allowed_extensions"`
	// BlockedExtensions are refused.
	BlockedExtensions []string `toml:"blocked_extensions"`
	// ScanCommand runs on each received file before release: an argument
	// list where {} is the file's path; exit status 0 releases it.
	ScanCommand []string `toml:"scan_command"`
	// ScanTimeout bounds the scan (a scan that takes longer keeps the
	// file quarantined).
	ScanTimeout time.Duration `toml:"scan_timeout"`
	// MaxQuarantine bounds, in bytes, the quarantine folder with what the
	// transfers under way still need (0: no cap from this party).
	MaxQuarantine int64 `toml:"max_quarantine"`
}

// Validate checks s; what names the file ("config.toml", "admin policy
// PATH") in the errors.
func (s Settings) Validate(what string) error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{what}, a...)...))
	}
	if s.MaxFileSize < 0 {
		bad("transfer.max_file_size %d is negative: give a size in bytes, or leave it out", s.MaxFileSize)
	}
	if s.MaxQuarantine < 0 {
		bad("transfer.max_quarantine %d is negative: give a size in bytes, or leave it out", s.MaxQuarantine)
	}
	if s.ScanTimeout < 0 || s.ScanTimeout > maxScanTimeout || (s.ScanTimeout != 0 && s.ScanTimeout < time.Second) {
		bad("transfer.scan_timeout %v is out of range: use 1s..%v", s.ScanTimeout, maxScanTimeout)
	}
	for key, list := range map[string][]string{"allowed_extensions": s.AllowedExtensions, "blocked_extensions": s.BlockedExtensions} {
		if len(list) > maxExtensions {
			bad("transfer.%s has %d entries, at most %d", key, len(list), maxExtensions)
		}
		for _, e := range list {
			if strings.ContainsAny(e, "./\\ ") || e != strings.ToLower(e) || len(e) > 32 {
				bad("transfer.%s entry %q is not an extension: write it in lower case without the dot, e.g. \"exe\"", key, e)
			}
		}
	}
	if len(s.ScanCommand) > 0 && !slices.Contains(s.ScanCommand[1:], "{}") {
		bad("transfer.scan_command %q has no {} argument for the file's path", s.ScanCommand)
	}
	if len(s.ScanCommand) > 0 && s.ScanCommand[0] == "" {
		bad("transfer.scan_command has an empty program name")
	}
	return errors.Join(errs...)
}

// Rules are the rules a node applies, the user's settings under the
// administrator's policy (Effective). Each rule says where it came from.
type Rules struct {
	Enabled     bool
	MaxFileSize int64 // 0: no cap
	// MaxQuarantine bounds the quarantine folder (Receiver).
	MaxQuarantine int64
	Allowed       []string
	Blocked       []string
	Scan          []string
	ScanTimeout   time.Duration
	// Source names, per key ("enabled", "max_file_size", "extensions",
	// "scan_command"), the file that set it.
	Source map[string]string
}

// Effective applies the administrator's policy to the user's settings:
// the policy can only make transfers rarer, smaller or scanned. userFile
// and adminFile name the two files in the rules' sources.
func Effective(user Settings, userFile string, admin Settings, adminFile string) Rules {
	r := Rules{Enabled: true, MaxFileSize: DefaultMaxFileSize, ScanTimeout: DefaultScanTimeout, MaxQuarantine: DefaultMaxQuarantine,
		Source: map[string]string{"enabled": "default", "max_file_size": "default", "extensions": "default", "scan_command": "default", "max_quarantine": "default"}}
	if user.MaxQuarantine > 0 {
		r.MaxQuarantine, r.Source["max_quarantine"] = user.MaxQuarantine, userFile
	}
	if admin.MaxQuarantine > 0 && admin.MaxQuarantine < r.MaxQuarantine {
		r.MaxQuarantine, r.Source["max_quarantine"] = admin.MaxQuarantine, adminFile
	}
	if user.Enabled != nil {
		r.Enabled, r.Source["enabled"] = *user.Enabled, userFile
	}
	if admin.Enabled != nil && !*admin.Enabled {
		r.Enabled, r.Source["enabled"] = false, adminFile
	}
	if user.MaxFileSize > 0 {
		r.MaxFileSize, r.Source["max_file_size"] = user.MaxFileSize, userFile
	}
	if admin.MaxFileSize > 0 && admin.MaxFileSize < r.MaxFileSize {
		r.MaxFileSize, r.Source["max_file_size"] = admin.MaxFileSize, adminFile
	}
	r.Allowed = user.AllowedExtensions
	if len(admin.AllowedExtensions) > 0 {
		if len(r.Allowed) > 0 { // both: what both allow
			var both []string
			for _, e := range r.Allowed {
				if slices.Contains(admin.AllowedExtensions, e) {
					both = append(both, e)
				}
			}
			r.Allowed = both
			if len(both) == 0 {
				r.Enabled, r.Source["enabled"] = false, adminFile+" and "+userFile+" (no extension allowed by both)"
			}
		} else {
			r.Allowed = admin.AllowedExtensions
		}
	}
	r.Blocked = append(slices.Clone(user.BlockedExtensions), admin.BlockedExtensions...)
	if len(user.AllowedExtensions)+len(user.BlockedExtensions) > 0 {
		r.Source["extensions"] = userFile
	}
	if len(admin.AllowedExtensions)+len(admin.BlockedExtensions) > 0 {
		r.Source["extensions"] = adminFile
	}
	if len(user.ScanCommand) > 0 {
		r.Scan, r.Source["scan_command"] = user.ScanCommand, userFile
		if user.ScanTimeout > 0 {
			r.ScanTimeout = user.ScanTimeout
		}
	}
	if len(admin.ScanCommand) > 0 { // mandatory: replaces the user's
		r.Scan, r.Source["scan_command"] = admin.ScanCommand, adminFile
		r.ScanTimeout = DefaultScanTimeout
		if admin.ScanTimeout > 0 {
			r.ScanTimeout = admin.ScanTimeout
		}
	}
	return r
}

// ErrRefused wraps every refusal by the rules.
var ErrRefused = errors.New("file transfer refused")

// RuleError is a refusal by one rule (Rules.Check).
type RuleError struct {
	Rule string // the key, e.g. "transfer.max_file_size"
	msg  string
}

func (e *RuleError) Error() string { return e.msg }

// Unwrap makes errors.Is(err, ErrRefused) hold.
func (e *RuleError) Unwrap() error { return ErrRefused }

// RuleOf is the rule that refused err ("rules" if none is named).
func RuleOf(err error) string {
	var re *RuleError
	if errors.As(err, &re) {
		return re.Rule
	}
	return "rules"
}

func refusedBy(rule, format string, a ...any) error {
	return &RuleError{Rule: rule, msg: ErrRefused.Error() + ": " + fmt.Sprintf(format, a...)}
}

// Check says whether a file of size bytes called name (already sanitised)
// may move under r, and names the rule and its file when not.
func (r Rules) Check(name string, size int64) error {
	if !r.Enabled {
		return refusedBy("transfer.enabled", "file transfer is disabled (transfer.enabled = false in %s)", r.Source["enabled"])
	}
	if r.MaxFileSize > 0 && size > r.MaxFileSize {
		return refusedBy("transfer.max_file_size", "%q is %d bytes, over the limit of %d (transfer.max_file_size in %s)",
			name, size, r.MaxFileSize, r.Source["max_file_size"])
	}
	ext := Extension(name)
	if len(r.Allowed) > 0 && !slices.Contains(r.Allowed, ext) {
		return refusedBy("transfer.allowed_extensions", "%q has extension %q, not among the allowed %q (transfer.allowed_extensions in %s)",
			name, ext, r.Allowed, r.Source["extensions"])
	}
	if slices.Contains(r.Blocked, ext) {
		return refusedBy("transfer.blocked_extensions", "%q has the blocked extension %q (transfer.blocked_extensions in %s)",
			name, ext, r.Source["extensions"])
	}
	return nil
}

// Describe is one line per rule for status.
func (r Rules) Describe() []string {
	out := []string{fmt.Sprintf("enabled: %v (%s)", r.Enabled, r.Source["enabled"])}
	out = append(out, fmt.Sprintf("max_file_size: %d bytes (%s)", r.MaxFileSize, r.Source["max_file_size"]))
	out = append(out, fmt.Sprintf("max_quarantine: %d bytes (%s)", r.MaxQuarantine, r.Source["max_quarantine"]))
	if len(r.Allowed)+len(r.Blocked) > 0 {
		out = append(out, fmt.Sprintf("extensions: allowed %q, blocked %q (%s)", r.Allowed, r.Blocked, r.Source["extensions"]))
	}
	if len(r.Scan) > 0 {
		out = append(out, fmt.Sprintf("scan_command: %q, timeout %v (%s)", r.Scan, r.ScanTimeout, r.Source["scan_command"]))
	}
	return out
}
