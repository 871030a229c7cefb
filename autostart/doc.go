// Package autostart turns starting the node with the user's session on or
// off: the link systemd's default.target.wants holds to the installed
// peercall.service user unit (what `systemctl --user enable` makes).
// Installing peercall never makes the link; `peercall autostart on` does.
package autostart
