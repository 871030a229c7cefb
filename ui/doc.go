// Package ui is the node's local web interface: contacts with live
// presence, search and add, incoming calls, the live call, history,
// settings and account, served by `peercall run` on a loopback address
// from embedded assets. A one-time token from `peercall ui` becomes a
// session cookie; foreign Host and Origin headers are refused and every
// state-changing request needs the session's CSRF token. Live updates are
// server-sent events from the node's own event stream (package events).
package ui
