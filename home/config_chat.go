package home

import (
	"fmt"
	"time"
)

// ChatConfig is config.toml's [chat] section (the administrator's [chat]
// in policy.toml can only turn chat off).
type ChatConfig struct {
	// Enabled turns chat on or off (nil: on).
	Enabled *bool `toml:"enabled"`
	// RetryFor is how long a message to someone offline is retried before
	// it is given up (expired); 0: the default, 7 days.
	RetryFor time.Duration `toml:"retry_for"`
	// VoicemailMaxLength caps the voice messages this user sends and
	// takes (0: the protocol's 20 s).
	VoicemailMaxLength time.Duration `toml:"voicemail_max_length"`
	// TypingNotices: tell the other side while this user types, and show
	// theirs (nil: on).
	TypingNotices *bool `toml:"typing_notices"`
}

// Typing is chat.typing_notices (default true).
func (c ChatConfig) Typing() bool { return c.TypingNotices == nil || *c.TypingNotices }

// maxChatRetryFor bounds chat.retry_for.
const maxChatRetryFor = 90 * 24 * time.Hour

// Validate names the wrong [chat] setting.
func (c ChatConfig) Validate() error {
	if c.RetryFor < 0 || c.RetryFor > maxChatRetryFor || (c.RetryFor > 0 && c.RetryFor < time.Minute) {
		return fmt.Errorf("chat.retry_for %v is out of range: use 1m..2160h (90 days), or leave it out for 7 days", c.RetryFor)
	}
	if v := c.VoicemailMaxLength; v != 0 && (v < time.Second || v > 20*time.Second) {
		return fmt.Errorf("chat.voicemail_max_length %v is out of range: use 1s..20s, or leave it out for 20s", v)
	}
	return nil
}

// ChatSection is c's [chat], or the defaults without one.
func (c Config) ChatSection() ChatConfig {
	if c.Chat == nil {
		return ChatConfig{}
	}
	return *c.Chat
}

// ChatEnabled is chat.enabled (default true).
func (c ChatConfig) ChatEnabled() bool { return c.Enabled == nil || *c.Enabled }
