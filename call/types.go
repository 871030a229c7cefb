package call

import (
	"errors"
	"time"

	"github.com/peercall/peercall/audio/live"
	"github.com/peercall/peercall/dsp"
	"github.com/peercall/peercall/media"
)

// Call outcomes. The CLI maps ErrRejected and ErrBusy to exit code 5.
var (
	ErrRejected   = errors.New("call rejected")
	ErrBusy       = errors.New("callee is busy")
	ErrNoAnswer   = errors.New("no answer")
	ErrCallFailed = errors.New("call failed")
	ErrNoSuchCall = errors.New("no such call")
	// ErrAudio: a call's audio device or file cannot be used; nothing
	// was dialled.
	ErrAudio = errors.New("audio device unusable")
)

// State is where a call is.
type State string

// Call states, spelt as in `status --json`.
const (
	StateInviting State = "inviting" // outgoing: INVITE sent, no answer yet
	StateRinging  State = "ringing"  // the callee rings
	StateActive   State = "active"   // audio flows
	// StateReconnecting: a side's network changed and ICE restarts; the
	// call goes on (call/netchange.go).
	StateReconnecting State = "reconnecting"
	StateEnded        State = "ended"
)

// Direction says who called.
type Direction string

// Directions.
const (
	Outgoing Direction = "outgoing"
	Incoming Direction = "incoming"
)

// EventKind is a step of a call.
type EventKind string

// Event kinds, spelt as in the control protocol.
const (
	EventRinging   EventKind = "ringing"   // outgoing: the callee rings
	EventIncoming  EventKind = "incoming"  // incoming: a call rings here
	EventConnected EventKind = "connected" // audio flows
	EventEnded     EventKind = "ended"     // Event.Result says how
	// EventReconnecting: a side's network changed, ICE restarts;
	// EventReconnected: the new path works.
	EventReconnecting EventKind = "reconnecting"
	EventReconnected  EventKind = "reconnected"
	EventMedia        EventKind = "media" // mute or hold changed, on either side (Info's muted, held, peer_muted, peer_held)
)

// Summary is a call's summary, the object `call --json` prints.
type Summary struct {
	CallID      string          `json:"call_id"`
	Peer        string          `json:"peer"`
	Route       media.RouteKind `json:"route"`
	RelayPeerID string          `json:"relay_peer_id"`
	SetupMs     float64         `json:"setup_ms"`
	// FirstAudioMs is from the start of the call (`call`, or the INVITE's
	// arrival on the callee) to the first frame of the peer's audio
	// played (0: none).
	FirstAudioMs float64 `json:"first_audio_ms"`
	// Trickle reports that the call's ICE candidates trickled over the
	// signalling stream (both sides speak it).
	Trickle         bool    `json:"trickle,omitempty"`
	DurationS       float64 `json:"duration_s"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	Loss            float64 `json:"loss"`
	JitterMs        float64 `json:"jitter_ms"`
	RTTMs           float64 `json:"rtt_ms"`
	// LongestGapMs is the longest time between two audio packets this
	// side received while playing (media.Stats.LongestGap): a failover's
	// or a stalled path's cost, as the listener met it.
	LongestGapMs float64 `json:"longest_gap_ms,omitempty"`
	// MOS is the estimated mean opinion score of what this side heard
	// (ITU-T G.107 E-model, media/mos.go), Quality its inputs.
	MOS     float64        `json:"mos,omitempty"`
	Quality *media.Quality `json:"quality,omitempty"`
	// DSP is the microphone's processing: stages, engine, estimated echo
	// delay (absent when none ran).
	DSP *dsp.Stats `json:"dsp,omitempty"`
	// HeldS is how long the call was on hold, by either side (absent:
	// never).
	HeldS float64 `json:"held_s,omitempty"`
	// EndReason is how the call ended ("hung up (local)", "relay lost", …)
	// and why, when a reason was given.
	EndReason string `json:"end_reason,omitempty"`
	// Reconnects counts the network changes (either side's) the call
	// went through (call/netchange.go).
	Reconnects int `json:"reconnects,omitempty"`
}

// Result is how a call ended: the summary plus what the human output
// shows.
type Result struct {
	Summary   Summary   `json:"summary"`
	Direction Direction `json:"direction"`
	// End is the signalling end reason ("hangup (local)", "rejected", …).
	End    string `json:"end"`
	Detail string `json:"detail,omitempty"`
	// SAS is the short authentication string of the call's DTLS
	// fingerprints, empty if media never came up.
	SAS string `json:"sas,omitempty"`
	// Connected reports whether audio flowed.
	Connected bool `json:"connected"`
}

// Info describes a call in progress (status, the control API's list).
type Info struct {
	CallID    string          `json:"call_id"`
	Peer      string          `json:"peer"`
	PeerID    string          `json:"peer_id"`
	Direction Direction       `json:"direction"`
	State     State           `json:"state"`
	Started   time.Time       `json:"started"`
	SAS       string          `json:"sas,omitempty"`
	Route     media.RouteKind `json:"route,omitempty"`
	// LocalAddr is this side's end of the media path ("address:port
	// type"); it changes when the call moves to another network.
	LocalAddr string `json:"local_addr,omitempty"`
	// PacketsSent and PacketsReceived count audio packets so far.
	PacketsSent     uint64 `json:"packets_sent,omitempty"`
	PacketsReceived uint64 `json:"packets_received,omitempty"`
	// MOS is the estimated mean opinion score of what this side hears
	// now, Quality its inputs (active calls).
	MOS     float64        `json:"mos,omitempty"`
	Quality *media.Quality `json:"quality,omitempty"`
	// DSP is the microphone's processing so far (absent when none runs).
	DSP *dsp.Stats `json:"dsp,omitempty"`
	// Muted and Held are this side's mute and hold, PeerMuted and
	// PeerHeld the peer's (hold.go); Audio says the same in words
	// ("held by peer", "muted, muted by peer"; empty: audio flows).
	Muted     bool   `json:"muted,omitempty"`
	Held      bool   `json:"held,omitempty"`
	PeerMuted bool   `json:"peer_muted,omitempty"`
	PeerHeld  bool   `json:"peer_held,omitempty"`
	Audio     string `json:"audio,omitempty"`
	// AudioIn and AudioOut are the devices asked for and in use, with a
	// warning while a fallback plays instead (call/devices.go).
	AudioIn  *live.State `json:"audio_in,omitempty"`
	AudioOut *live.State `json:"audio_out,omitempty"`
}

// Event is a step of a call, given to Options.OnEvent and Config.OnCall.
type Event struct {
	Kind   EventKind   `json:"kind"`
	Call   Info        `json:"call"`
	Result *Result     `json:"result,omitempty"` // EventEnded
	Device *live.Event `json:"device,omitempty"` // EventDevice
}

// Options tune one outgoing call.
type Options struct {
	// Duration hangs up this long after audio starts (0: until hung up or
	// ctx ends).
	Duration time.Duration
	// AudioIn and AudioOut override the node's devices for this call.
	AudioIn, AudioOut string
	// OnEvent receives the call's progress.
	OnEvent func(Event)
	// ForceRelay sends the media through a super-node's TURN relay only
	// (ICE transport policy relay; `call --force-relay`).
	ForceRelay bool
	// DSPOff turns stages of the microphone's processing off for this call
	// (StageAEC, StageNS, StageAGC, StageHPF; `call --no-aec` etc.).
	DSPOff []string
}
