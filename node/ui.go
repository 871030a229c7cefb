package node

import (
	"context"
	"errors"

	"github.com/peercall/peercall/ui"
)

// uiNode is the node as the web interface sees it.
type uiNode struct{ *Node }

// Status is control.Status, the object `status --json` prints.
func (u uiNode) Status() any { return u.Node.Status() }

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
	addr := n.cfg.UISection().Listen
	if n.opts.Softphone.UIListen != "" {
		addr = n.opts.Softphone.UIListen
	}
	if addr == "" {
		return nil
	}
	s, err := ui.Listen(addr, uiNode{n}, n.log)
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
