package chat

import (
	"fmt"
	"time"

	"github.com/peercall/peercall/policyfile"
)

// PolicyFile is the part of the administrator's policy.toml this package
// reads: its [chat] section.
type PolicyFile struct {
	Chat PolicySection `toml:"chat"`
}

// PolicySection is [chat] of policy.toml.
type PolicySection struct {
	// Enabled = false turns chat off whatever the user's config says
	// (nil: the policy says nothing).
	Enabled *bool `toml:"enabled"`
	// VoicemailMaxLength caps voice messages (0: no policy).
	VoicemailMaxLength time.Duration `toml:"voicemail_max_length"`
}

// PolicyFrom decodes the [chat] section of a policy read once (package
// policyfile), refusing unknown keys.
func PolicyFrom(f *policyfile.File) (PolicySection, error) {
	var s PolicySection
	if err := f.Decode("chat", &s); err != nil {
		return s, err
	}
	if v := s.VoicemailMaxLength; v != 0 && (v < time.Second || v > MaxVoiceLength) {
		return PolicySection{}, fmt.Errorf("chat.voicemail_max_length %v is out of range: use 1s..%v, or leave it out for no policy", v, MaxVoiceLength)
	}
	return s, nil
}
