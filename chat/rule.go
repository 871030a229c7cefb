package chat

import (
	"fmt"
	"time"
)

// Rule is whether chat is on, and the setting that decided it.
type Rule struct {
	Enabled bool
	// Source names the setting and its file ("chat.enabled = false in
	// /etc/peercall/policy.toml"); "" for the default.
	Source string
	// MaxVoice is the longest voice message sent or taken (0:
	// MaxVoiceLength), VoiceSource the setting that set it.
	MaxVoice    time.Duration
	VoiceSource string
}

// WithVoiceCap sets r's voice cap: the smaller of the user's and the
// administrator's chat.voicemail_max_length (0: none).
func (r Rule) WithVoiceCap(user time.Duration, userFile string, admin time.Duration, adminFile string) Rule {
	r.MaxVoice = MaxVoiceLength
	if user > 0 && user < r.MaxVoice {
		r.MaxVoice, r.VoiceSource = user, "chat.voicemail_max_length in "+userFile
	}
	if admin > 0 && admin < r.MaxVoice {
		r.MaxVoice, r.VoiceSource = admin, "chat.voicemail_max_length in the admin policy "+adminFile
	}
	return r
}

func (r Rule) maxVoice() time.Duration {
	if r.MaxVoice <= 0 || r.MaxVoice > MaxVoiceLength {
		return MaxVoiceLength
	}
	return r.MaxVoice
}

// Effective is the rule in force: the user's chat.enabled (userFile) under
// the administrator's (adminFile; nil: the policy says nothing). The
// policy can only turn chat off.
func Effective(user bool, userFile string, admin *bool, adminFile string) Rule {
	switch {
	case admin != nil && !*admin:
		return Rule{Source: "chat.enabled = false in the admin policy " + adminFile}
	case !user:
		return Rule{Source: "chat.enabled = false in " + userFile}
	}
	return Rule{Enabled: true}
}

// Describe is the rule as `status` shows it.
func (r Rule) Describe() string {
	if r.Enabled && r.VoiceSource != "" {
		return fmt.Sprintf("enabled; voice messages at most %v (%s)", r.MaxVoice, r.VoiceSource)
	}
	if r.Enabled {
		return "enabled"
	}
	return "disabled by " + r.Source
}
