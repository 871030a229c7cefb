package node

import (
	"context"
	"errors"
	"time"

	"github.com/peercall/peercall/control"

	"github.com/peercall/peercall/ui"
)

// uiNode is the node as the web interface sees it.
type uiNode struct{ *Node }

// uiStatus is control.Status (what `status --json` prints) and the
// certificate's expiry, for the account page.
type uiStatus struct {
	control.Status
	CertificateExpires time.Time `json:"certificate_expires,omitzero"`
}

// Status is the node's status for the interface.
func (u uiNode) Status() any {
	st := uiStatus{Status: u.Node.Status()}
	if cert, err := u.currentCertificate(); err == nil {
		st.CertificateExpires = cert.Expires
	}
	return st
}

// Search lists users whose name starts with prefix.
func (u uiNode) Search(ctx context.Context, prefix string, limit int) ([]string, error) {
	if u.dir == nil {
		return nil, errors.New("no directory is configured to search")
	}
	resp, err := u.dir.Search(ctx, prefix, "", limit)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range resp.Users {
		out = append(out, r.Username)
	}
	return out, nil
}

// startUI serves the web interface on ui.listen (or
// Options.Softphone.UIListen).
func (n *Node) startUI() error {
	uc := n.cfg.UISection()
	addr := uc.Listen
	if n.opts.Softphone.UIListen != "" {
		addr = n.opts.Softphone.UIListen
	}
	if addr == "" {
		return nil
	}
	s, err := ui.ListenConfig(ui.Config{Addr: addr, CertFile: uc.TLSCert, KeyFile: uc.TLSKey}, uiNode{n}, n.log)
	if err != nil {
		return err
	}
	n.soft.ui = s
	n.log.Info("web interface", "url", s.URL(), "open", "run `peercall ui` for a login link")
	return nil
}

// UIURL returns the web interface's address ("" when it is off).
func (n *Node) UIURL() string {
	if n.soft.ui == nil {
		return ""
	}
	return n.soft.ui.URL()
}

// UILoginURL returns the interface's address with a one-time login token.
func (n *Node) UILoginURL() (string, error) {
	s, ok := n.soft.ui.(*ui.Server)
	if !ok || s == nil {
		return "", errors.New("this node serves no web interface: start it with `peercall run` (ui.listen in config.toml must not be empty)")
	}
	return s.LoginURL(), nil
}
