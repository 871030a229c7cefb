// Package signalling is the peercall call protocol over libp2p streams
// (/peercall/signal/1): versioned, length-prefixed messages with a size limit
// and a strict decoder, and the call state machine (invite, ringing, accept,
// reject, busy, cancel, hangup, ICE restart, timeouts, glare resolution).
// It works over any io.ReadWriteCloser and knows nothing of media or audio.
//
// # Wire format
//
// One call uses one stream, opened by the caller. Each message is a frame:
//
//	frame  = length:uint32 big-endian | body          (length <= MaxMessageSize, 64 KiB)
//	body   = version:u8 (=1) | type:u8 | call id:16 bytes | field*
//	field  = tag:u8 | length:uvarint (minimal) | value:length bytes (length >= 1)
//
//	tag 1 certificate   bytes, <= 8 KiB          INVITE (required)
//	tag 2 sdp           UTF-8, CR/LF/TAB allowed INVITE, ACCEPT, ICE_RESTART, ICE_RESTART_ANSWER (required)
//	tag 3 display name  UTF-8, no controls, <= 128 bytes  INVITE (optional)
//	tag 4 reason        one byte, a known Reason REJECT, CANCEL, HANGUP (optional)
//	tag 5 detail        UTF-8, no controls, <= 256 bytes  REJECT, CANCEL, HANGUP (optional)
//	tag 6 media         one byte: bit 0 muted, bit 1 held, others 0  MEDIA_STATE (required, 0 too)
//
// Types: 1 INVITE, 2 RINGING, 3 ACCEPT, 4 REJECT, 5 BUSY, 6 CANCEL, 7 HANGUP,
// 8 ICE_RESTART, 9 ICE_RESTART_ANSWER, 10 MEDIA_STATE (either way, active
// calls only: the sender's whole mute and hold state, 21 bytes), 13 RESUME
// and 14 RESUMED (no fields, 18 bytes: the first message of a new stream
// that takes an active call over, and its answer; resume.go). The decoder accepts only the canonical
// encoding: fields in ascending tag order, each at most once, never empty, no
// field the type does not carry, every required field present, no trailing
// bytes, a non-zero call id, version 1. So decode→encode gives back the same
// bytes, which is what the fuzz tests check. A frame announcing more than the
// limit is refused before its body is read.
//
// Why a binary TLV and not JSON: the SDP is most of the message and JSON
// would escape every CR/LF in it; a canonical binary form makes "strict" easy
// to state and test (one valid encoding per message, byte-exact round trips),
// needs no reflection, and decodes an INVITE in a few allocations. The
// version byte plus tags leave room to grow in /peercall/signal/2.
//
// # Call state machine
//
//	 caller                                  callee
//	 Idle ──INVITE──▶ Inviting               (HandleStream: certificate check,
//	                   │  ◀──RINGING──        glare, busy) ──▶ Ringing
//	                   │  ◀──ACCEPT──── Accept ───────────────────┤
//	                   ▼                                          ▼
//	                 Active ◀──ICE_RESTART / ICE_RESTART_ANSWER──▶ Active
//	                   │            ◀──HANGUP──▶                  │
//	                   ▼                                          ▼
//	                 Ended (EndReason)                          Ended
//
//	Inviting ─CANCEL▶ Ended (cancelled; no answer after RingTimeout, 30 s)
//	Inviting ◀REJECT─ Ended (rejected, bad certificate, glare, no answer)
//	Inviting ◀BUSY─── Ended (busy: the callee has MaxCalls calls, default 1)
//	Active   ─HANGUP▶ Ended (media setup timeout: MediaConnected not called
//	                         within MediaTimeout, 20 s, of the accept)
//	Active, stream closed or broken ▶ held for ResumeHold (5 s): a RESUME on
//	    a new stream from the peer (Call.Resume) carries on; none ▶ Ended
//	    (connection lost)
//	other states, stream closed or broken  ▶ Ended (connection lost)
//	any state, malformed or unexpected message ▶ the peer gets CANCEL, REJECT
//	    or HANGUP with reason "protocol error" ▶ Ended (protocol error)
//
// Each Call has one loop goroutine that owns its state and is the only writer
// to the stream, and one reader goroutine; local actions, received messages
// and timers are events to the loop, and the owner learns what happened from
// Call.Events.
//
// Glare: if alice and bob call each other at once, each Manager sees an
// incoming INVITE from a peer it is inviting. Both keep the call with the
// lower call ID (on equal IDs, the call placed by the lower peer ID): the
// side whose own call lost cancels it (CANCEL, reason glare) and rings for
// the other; the side whose call won answers the losing INVITE with REJECT
// (reason glare). Both losing Call objects end with EndGlare. The same rule,
// caller's offer wins, settles two ICE restarts that cross.
package signalling
