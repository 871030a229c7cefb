// Package control is the local control socket of a running node (the home's
// node.sock, mode 0600): the CLI's `call`, `status`, `answer`, `reject` and
// `hangup` talk to the node through it. The protocol is one JSON object per
// line, at most MaxMessage bytes, decoded strictly (DecodeRequest). A call
// request gets event lines ("ringing", "connected") and then a final line
// with Done set; the call lasts while the client stays connected, so a
// client that goes away (Ctrl-C) hangs it up. Error codes map back to the
// node's sentinel errors, so errors.Is works across the socket.
package control
