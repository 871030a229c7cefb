package signalling

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
)

// ProtocolID is the libp2p protocol of the call signalling stream. Its last
// element is the wire version; a change that old peers cannot read gets a new ID.
const ProtocolID = "/peercall/signal/1"

// ProtocolTrickle is the same wire with trickle ICE: CANDIDATES and
// END_OF_CANDIDATES may pass on an active call. A node serves both IDs and
// dials with ProtocolTrickle first; a stream negotiated as ProtocolID (an
// older peer) never carries them, and its calls exchange full SDPs.
const ProtocolTrickle = "/peercall/signal/2"

// Version is the wire version written in every message (byte 0 of the body).
const Version = 1

// Limits of the wire format. A frame longer than MaxMessageSize is refused
// before any of it is buffered.
const (
	// MaxMessageSize bounds one message body (the bytes after the length
	// prefix). SDP offers with candidates are a few KB; 64 KiB leaves room.
	MaxMessageSize = 64 << 10
	// MaxCertificateSize bounds the caller's certificate in an INVITE.
	MaxCertificateSize = 8 << 10
	// MaxDisplayNameSize bounds the caller's display name, in bytes.
	MaxDisplayNameSize = 128
	// MaxDetailSize bounds the free-text detail of REJECT, CANCEL and HANGUP.
	MaxDetailSize = 256
	// MaxCandidateSize bounds one ICE candidate line of CANDIDATES
	// ("candidate:1 1 udp 2130706431 198.18.0.2 50000 typ host" is ~60 bytes).
	MaxCandidateSize = 256
	// MaxCandidates bounds the candidate lines of one CANDIDATES message.
	MaxCandidates = 16
	// MaxCallCandidates bounds the candidates a peer may trickle in one
	// call; more is a protocol error.
	MaxCallCandidates = 64
)

// Type is the kind of a signalling message.
type Type uint8

// Message types. The values are wire values: never renumber them.
const (
	TypeInvite           Type = 1  // caller → callee: certificate, SDP offer
	TypeRinging          Type = 2  // callee → caller: the user is being alerted
	TypeAccept           Type = 3  // callee → caller: SDP answer
	TypeReject           Type = 4  // callee → caller: declined, with a reason
	TypeBusy             Type = 5  // callee → caller: no free call slot
	TypeCancel           Type = 6  // caller → callee: gave up before an answer
	TypeHangup           Type = 7  // either way: ends an active call
	TypeICERestart       Type = 8  // either way, active call: new SDP offer
	TypeICERestartAnswer Type = 9  // answer to TypeICERestart
	TypeMediaState       Type = 10 // either way, active call: this side's mute and hold (media.go)
	TypeCandidates       Type = 11 // either way, active call, ProtocolTrickle: ICE candidates gathered after the SDP
	TypeEndOfCandidates  Type = 12 // either way, active call, ProtocolTrickle: no more candidates follow
	TypeResume           Type = 13 // first on a new stream, either way: move the active call to it (resume.go)
	TypeResumed          Type = 14 // answer to TypeResume on that stream: the call now rides it
)

var typeNames = [...]string{
	TypeInvite:           "INVITE",
	TypeRinging:          "RINGING",
	TypeAccept:           "ACCEPT",
	TypeReject:           "REJECT",
	TypeBusy:             "BUSY",
	TypeCancel:           "CANCEL",
	TypeHangup:           "HANGUP",
	TypeICERestart:       "ICE_RESTART",
	TypeICERestartAnswer: "ICE_RESTART_ANSWER",
	TypeMediaState:       "MEDIA_STATE",
	TypeCandidates:       "CANDIDATES",
	TypeEndOfCandidates:  "END_OF_CANDIDATES",
	TypeResume:           "RESUME",
	TypeResumed:          "RESUMED",
}

func (t Type) valid() bool {
	return t >= TypeInvite && t <= TypeResumed
}

func (t Type) String() string {
	if t.valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Reason says why a call was refused or ended (REJECT, CANCEL, HANGUP).
// ReasonNone is "not given" and is never written on the wire.
type Reason uint8

// Reasons. The values are wire values: never renumber them.
const (
	ReasonNone           Reason = 0
	ReasonNormal         Reason = 1 // the user hung up or cancelled
	ReasonDeclined       Reason = 2 // the callee declined
	ReasonGlare          Reason = 3 // both called each other; this call lost
	ReasonBadCertificate Reason = 4 // the caller's certificate failed the check
	ReasonTimeout        Reason = 5 // nobody answered in time
	ReasonMediaFailed    Reason = 6 // media was not established in time
	ReasonProtocolError  Reason = 7 // the peer broke the protocol
	ReasonShutdown       Reason = 8 // the node is shutting down
	ReasonRelayLost      Reason = 9 // the media path (a relay) was lost and could not be replaced
)

var reasonNames = [...]string{
	ReasonNone:           "none",
	ReasonNormal:         "normal",
	ReasonDeclined:       "declined",
	ReasonGlare:          "glare",
	ReasonBadCertificate: "bad certificate",
	ReasonTimeout:        "timeout",
	ReasonMediaFailed:    "media failed",
	ReasonProtocolError:  "protocol error",
	ReasonShutdown:       "shutdown",
	ReasonRelayLost:      "relay lost",
}

func (r Reason) valid() bool { return r <= ReasonRelayLost }

func (r Reason) String() string {
	if r.valid() {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// CallID names one call: 16 random bytes chosen by the caller. The zero ID is
// invalid.
type CallID [16]byte

// NewCallID returns a random call ID read from r (crypto/rand.Reader if nil).
func NewCallID(r io.Reader) (CallID, error) {
	if r == nil {
		r = rand.Reader
	}
	var id CallID
	for id.IsZero() {
		if _, err := io.ReadFull(r, id[:]); err != nil {
			return CallID{}, fmt.Errorf("signalling: draw a random call id: %w", err)
		}
	}
	return id, nil
}

// IsZero reports whether id is the invalid all-zero ID.
func (id CallID) IsZero() bool { return id == CallID{} }

// String returns the ID in hex.
func (id CallID) String() string { return hex.EncodeToString(id[:]) }

// Message is one signalling message. Which fields a type carries:
//
//	INVITE               Certificate (required), SDP offer (required), DisplayName
//	RINGING, BUSY        -
//	ACCEPT               SDP answer (required)
//	REJECT, CANCEL,
//	HANGUP               Reason, Detail
//	ICE_RESTART          SDP offer (required)
//	ICE_RESTART_ANSWER   SDP answer (required)
//	MEDIA_STATE          Media (always written, zero included)
//	CANDIDATES           Candidates (1 to MaxCandidates lines, required)
//	END_OF_CANDIDATES,
//	RESUME, RESUMED      -
//
// A field a type does not carry must be empty. Every message carries CallID.
type Message struct {
	Type        Type
	CallID      CallID
	Certificate []byte     // INVITE: the caller's directory certificate, opaque here
	SDP         string     // INVITE, ACCEPT, ICE_RESTART, ICE_RESTART_ANSWER
	DisplayName string     // INVITE, optional
	Reason      Reason     // REJECT, CANCEL, HANGUP, optional
	Detail      string     // REJECT, CANCEL, HANGUP, optional human-readable text
	Media       MediaState // MEDIA_STATE: the sender's mute and hold
	// Candidates are CANDIDATES' ICE candidate lines as pion writes them
	// ("candidate:..." without "a="), each at most MaxCandidateSize
	// printable ASCII bytes.
	Candidates []string
}

func (m Message) String() string {
	s := fmt.Sprintf("%v call=%v", m.Type, m.CallID)
	if m.Reason != ReasonNone {
		s += " reason=" + m.Reason.String()
	}
	if m.Type == TypeMediaState {
		s += " media=" + m.Media.String()
	}
	if m.Type == TypeCandidates {
		s += fmt.Sprintf(" candidates=%d", len(m.Candidates))
	}
	return s
}
