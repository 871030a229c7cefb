package signalling

import (
	"context"
	"strings"
)

// MediaState is one side's mute and hold, as MEDIA_STATE carries it: a
// byte of flags, unknown bits refused. Each MEDIA_STATE states the whole
// state (not a change), so a repeated or crossed message does no harm.
type MediaState uint8

// Media state flags. Wire values: never renumber.
const (
	// MediaMuted: the sender sends no audio from its microphone (mute is
	// local; the flag only tells the peer why it hears nothing).
	MediaMuted MediaState = 1 << 0
	// MediaHeld: the sender put the call on hold: neither side sends audio
	// until it resumes.
	MediaHeld MediaState = 1 << 1

	mediaKnown = MediaMuted | MediaHeld
)

func (s MediaState) valid() bool { return s&^mediaKnown == 0 }

// Muted and Held read the flags.
func (s MediaState) Muted() bool { return s&MediaMuted != 0 }

// Held reports the hold flag.
func (s MediaState) Held() bool { return s&MediaHeld != 0 }

func (s MediaState) String() string {
	var parts []string
	if s.Muted() {
		parts = append(parts, "muted")
	}
	if s.Held() {
		parts = append(parts, "held")
	}
	if !s.valid() {
		parts = append(parts, "unknown")
	}
	if len(parts) == 0 {
		return "active"
	}
	return strings.Join(parts, "+")
}

// SetMediaState tells the peer this side's mute and hold (an active call
// only). The peer learns it as EventMediaState.
func (c *Call) SetMediaState(ctx context.Context, s MediaState) error {
	return c.do(ctx, command{kind: cmdMediaState, media: s})
}
