package media

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/peercall/peercall/media/pathswitch"
)

// MaxSDPBytes bounds a remote session description. An audio-only offer
// with a dozen candidates is about 2 KB.
const MaxSDPBytes = 32 << 10

// Errors wrapped by Accept and SetAnswer.
var (
	// ErrBadSDP: the remote description is not a usable SDP.
	ErrBadSDP = errors.New("media: invalid session description")
	// ErrNoOpus: the remote offers no Opus audio, the only codec we speak.
	ErrNoOpus = errors.New("media: remote offers no Opus audio")
)

// remoteSDP is what we learn from a peer's session description.
type remoteSDP struct {
	fingerprint string // "sha-256 AB:CD:..." (session or first media level)
	hidden      []string
}

// parseRemoteSDP strictly checks an untrusted session description: bounded
// size, well-formed SDP, an audio section offering Opus at 48 kHz, ICE
// credentials and a DTLS fingerprint.
func parseRemoteSDP(s string) (remoteSDP, error) {
	if len(s) == 0 {
		return remoteSDP{}, fmt.Errorf("%w: it is empty", ErrBadSDP)
	}
	if len(s) > MaxSDPBytes {
		return remoteSDP{}, fmt.Errorf("%w: %d bytes exceeds the %d-byte limit", ErrBadSDP, len(s), MaxSDPBytes)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return remoteSDP{}, fmt.Errorf("%w: %v (the peer's client sent a malformed description; it may be incompatible)", ErrBadSDP, err)
	}
	var out remoteSDP
	if fp, ok := d.Attribute("fingerprint"); ok {
		out.fingerprint = fp
	}
	opus, ice := false, false
	if _, ok := d.Attribute("ice-ufrag"); ok {
		ice = true
	}
	for _, m := range d.MediaDescriptions {
		if out.fingerprint == "" {
			if fp, ok := m.Attribute("fingerprint"); ok {
				out.fingerprint = fp
			}
		}
		if _, ok := m.Attribute("ice-ufrag"); ok {
			ice = true
		}
		if m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		out.hidden = append(out.hidden, pathswitch.NATHidden(m.Attributes)...)
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			// "111 opus/48000/2"
			_, enc, ok := strings.Cut(a.Value, " ")
			if ok && strings.HasPrefix(strings.ToLower(enc), "opus/48000") {
				opus = true
			}
		}
	}
	if !opus {
		return remoteSDP{}, fmt.Errorf("%w: the peer must offer audio with opus/48000 (its client may be misconfigured or too old)", ErrNoOpus)
	}
	if !ice {
		return remoteSDP{}, fmt.Errorf("%w: no ICE credentials (a=ice-ufrag)", ErrBadSDP)
	}
	if out.fingerprint == "" {
		return remoteSDP{}, fmt.Errorf("%w: no DTLS fingerprint (a=fingerprint): the call could not be encrypted", ErrBadSDP)
	}
	return out, nil
}

// fingerprintOf returns the DTLS fingerprint of a (local, trusted) SDP.
func fingerprintOf(s string) string {
	var d sdp.SessionDescription
	if d.UnmarshalString(s) != nil {
		return ""
	}
	if fp, ok := d.Attribute("fingerprint"); ok {
		return fp
	}
	for _, m := range d.MediaDescriptions {
		if fp, ok := m.Attribute("fingerprint"); ok {
			return fp
		}
	}
	return ""
}
