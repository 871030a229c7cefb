package signalling

import "fmt"

// State is where a call is in its life.
type State uint8

// Call states. See the package documentation for the diagram.
const (
	StateIdle     State = iota // outgoing call created, INVITE not yet sent
	StateInviting              // outgoing: INVITE sent, waiting for an answer
	StateRinging               // incoming: INVITE received, the user is alerted
	StateActive                // accepted; media is being or has been set up
	StateEnded                 // over; End says why
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateInviting:
		return "inviting"
	case StateRinging:
		return "ringing"
	case StateActive:
		return "active"
	case StateEnded:
		return "ended"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// EndReason says why a call ended. Both sides of a call agree on it, except
// EndHangupLocal/EndHangupRemote, which say which side hung up.
type EndReason uint8

// End reasons.
const (
	EndNone                EndReason = iota // not ended yet
	EndRejected                             // the callee declined
	EndBusy                                 // the callee had no free call slot
	EndCancelled                            // the caller gave up before an answer
	EndHangupLocal                          // this side hung up an active call
	EndHangupRemote                         // the other side hung up an active call
	EndNoAnswer                             // nobody answered within the ring timeout
	EndMediaTimeout                         // accepted, but media was not up in time
	EndConnectionLost                       // the stream closed or broke
	EndProtocolError                        // a side sent something invalid or unexpected
	EndGlare                                // both called each other; the other call won
	EndCertificateRejected                  // the callee refused the caller's certificate
	EndShutdown                             // the local or remote node shut down
	EndRelayLost                            // the media path (a super-node relay) was lost and not replaced
)

var endNames = [...]string{
	EndNone:                "not ended",
	EndRejected:            "rejected",
	EndBusy:                "busy",
	EndCancelled:           "cancelled",
	EndHangupLocal:         "hung up (local)",
	EndHangupRemote:        "hung up (remote)",
	EndNoAnswer:            "no answer",
	EndMediaTimeout:        "media setup timed out",
	EndConnectionLost:      "connection lost",
	EndProtocolError:       "protocol error",
	EndGlare:               "superseded by simultaneous call",
	EndCertificateRejected: "certificate rejected",
	EndShutdown:            "shut down",
	EndRelayLost:           "relay lost",
}

func (r EndReason) String() string {
	if int(r) < len(endNames) {
		return endNames[r]
	}
	return fmt.Sprintf("EndReason(%d)", uint8(r))
}

// endFromRemote maps a REJECT, CANCEL or HANGUP received from the peer to the
// end reason of the local side.
func endFromRemote(m Message) EndReason {
	switch m.Reason {
	case ReasonGlare:
		return EndGlare
	case ReasonBadCertificate:
		return EndCertificateRejected
	case ReasonTimeout:
		return EndNoAnswer
	case ReasonMediaFailed:
		return EndMediaTimeout
	case ReasonProtocolError:
		return EndProtocolError
	case ReasonShutdown:
		return EndShutdown
	case ReasonRelayLost:
		return EndRelayLost
	}
	switch m.Type {
	case TypeReject:
		return EndRejected
	case TypeCancel:
		return EndCancelled
	default:
		return EndHangupRemote
	}
}

// EventKind is the kind of an Event.
type EventKind uint8

// Event kinds.
const (
	// EventRemoteRinging: the callee is alerting its user (outgoing calls).
	EventRemoteRinging EventKind = iota + 1
	// EventAccepted: the callee accepted; SDP holds its answer (outgoing calls).
	EventAccepted
	// EventICERestart: the peer sent a new offer in SDP; reply with
	// Call.AnswerICERestart.
	EventICERestart
	// EventICERestartAnswer: the peer answered our RestartICE; SDP holds it.
	EventICERestartAnswer
	// EventEnded: the call is over; End and Detail say why. It is the last
	// event: the channel is closed after it.
	EventEnded
	// EventMediaState: the peer's mute and hold (Media) changed or were
	// repeated (active calls).
	EventMediaState
	// EventDetached: the active call's stream broke; the call is held for
	// Config.ResumeHold for a RESUME (the side that moved calls
	// Call.Resume), then ends with EndConnectionLost. Detail says why.
	EventDetached
	// EventResumed: the call moved to a new stream (RESUME).
	EventResumed
)

func (k EventKind) String() string {
	switch k {
	case EventRemoteRinging:
		return "remote ringing"
	case EventAccepted:
		return "accepted"
	case EventICERestart:
		return "ICE restart"
	case EventICERestartAnswer:
		return "ICE restart answer"
	case EventEnded:
		return "ended"
	case EventMediaState:
		return "media state"
	case EventDetached:
		return "detached"
	case EventResumed:
		return "resumed"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something that happened to a call that its owner must act on.
type Event struct {
	Kind   EventKind
	SDP    string     // EventAccepted, EventICERestart, EventICERestartAnswer
	End    EndReason  // EventEnded
	Detail string     // EventEnded: the peer's or the local explanation, if any
	Media  MediaState // EventMediaState: the peer's mute and hold
}
