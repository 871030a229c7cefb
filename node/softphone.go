package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/contacts"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/events"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/presence"
)

// SoftphoneOptions tune the contact list and the web interface.
type SoftphoneOptions struct {
	// UI serves the web interface (`peercall run`) on ui.listen, or on
	// UIListen when set ("127.0.0.1:0" in tests).
	UI       bool
	UIListen string
	// ContactsRetry and ContactsRefresh: see contacts.Config (tests
	// shorten them).
	ContactsRetry, ContactsRefresh time.Duration
}

// softphone is the node's contact list, event stream and web interface.
type softphone struct {
	bus   *events.Bus
	store *contacts.Store
	book  *contacts.Book
	ui    uiServer
}

// uiServer is the web interface as the node holds it (node/ui.go).
type uiServer interface {
	Close() error
	URL() string
}

// Events returns the node's event stream (calls, presence, contacts).
func (n *Node) Events() *events.Bus { return n.soft.bus }

// Contacts returns the node's contact list (nil on a node run for one
// call).
func (n *Node) Contacts() *contacts.Book { return n.soft.book }

// startSoftphone opens the home's contact list and serves
// /peercall/contacts/1; a node run for one call (NoPresence) has none.
func (n *Node) startSoftphone(ctx context.Context) error {
	if n.opts.NoPresence {
		return nil
	}
	st, err := contacts.OpenStore(ctx, n.home.Path(home.ContactsFile))
	if err != nil {
		return err
	}
	n.soft.store = st
	cc := n.cfg.ContactsSection()
	n.soft.book, err = contacts.Open(ctx, contacts.Config{
		Store: st, Host: n.host, Self: n.user, Certificate: n.currentCertificate,
		Verify: func(p peer.ID, raw []byte) (string, error) { return n.checkCertificate(p.String(), raw) },
		Resolve: func(ctx context.Context, username string) (peer.ID, error) {
			p, err := n.reachPeer(ctx, username)
			if errors.Is(err, presence.ErrUnknownUser) {
				return "", fmt.Errorf("%w: %w", contacts.ErrUnknownUser, err)
			}
			return p.ID, err
		},
		Publish:   func(k events.Kind, d any) { n.soft.bus.Publish(k, d) },
		CallsFrom: cc.CallsFrom, AwayAfter: cc.AwayAfter,
		Retry: n.opts.Softphone.ContactsRetry, Refresh: n.opts.Softphone.ContactsRefresh,
		Logger: n.log, Now: n.now,
	})
	if err != nil {
		return err
	}
	if n.opts.Softphone.UI {
		// The node runs without its interface rather than not at all.
		if err := n.startUI(); err != nil {
			n.log.Warn("web interface not served", "err", err)
		}
	}
	return nil
}

// stopSoftphone closes the interface, tells contacts this user went
// offline and closes the store (before the host goes).
func (n *Node) stopSoftphone() error {
	var errs []error
	if n.soft.ui != nil {
		errs = append(errs, n.soft.ui.Close())
	}
	if n.soft.book != nil {
		errs = append(errs, n.soft.book.Close())
	}
	if n.soft.store != nil {
		errs = append(errs, n.soft.store.Close())
	}
	n.soft.bus.Close()
	return errors.Join(errs...)
}

// screenCall is the call manager's screen: the contact list's decision.
func (n *Node) screenCall(username string) (bool, string) {
	if n.soft.book == nil {
		return true, ""
	}
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	d := n.soft.book.Screen(ctx, username)
	return d.Ring, d.Detail
}

// onCall publishes a call's progress on the event stream, records ended
// calls in the history and passes the event on to Options.OnCall.
func (n *Node) onCall(ev call.Event) {
	n.soft.bus.Publish(events.KindCall, ev)
	if ev.Kind == call.EventEnded && ev.Result != nil && n.soft.book != nil {
		r := ev.Result
		c := contacts.Call{CallID: ev.Call.CallID, Peer: ev.Call.Peer, Direction: string(ev.Call.Direction),
			Started: ev.Call.Started, DurationS: r.Summary.DurationS, Connected: r.Connected,
			Route: string(r.Summary.Route), End: r.End}
		if c.Peer == "" {
			c.Peer = r.Summary.Peer
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.soft.book.RecordCall(ctx, c); err != nil {
			n.log.Warn("call not recorded in the history", "err", err)
		}
		cancel()
	}
	if n.opts.OnCall != nil {
		n.opts.OnCall(ev)
	}
}

// Touch records the user's activity (the CLI, the web interface): an
// auto-away user is online again.
func (n *Node) Touch() {
	if n.soft.book != nil {
		n.soft.book.Touch()
	}
}

// softStatus adds this user's availability to the node's status.
func (n *Node) softStatus(st *control.Status) {
	if n.soft.book != nil {
		s, mood := n.soft.book.Self()
		st.Availability, st.Mood = string(s), mood
	}
}
