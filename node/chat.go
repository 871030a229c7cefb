package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peercall/peercall/chat"
	"github.com/peercall/peercall/events"
	"github.com/peercall/peercall/home"
)

// startChat serves /peercall/chat/1 with its tables in contacts.db, after
// the contact list whose block list it honours; a node run for one call
// has none.
func (n *Node) startChat(ctx context.Context) error {
	if n.opts.NoPresence {
		return nil
	}
	cc := n.cfg.ChatSection()
	st, err := chat.NewStore(ctx, n.soft.store.DB())
	if err != nil {
		return err
	}
	n.chat, err = chat.Open(ctx, chat.Config{
		Store: st, Host: n.host, Self: n.user, Certificate: n.currentCertificate,
		Verify: func(p peer.ID, raw []byte) (string, error) { return n.checkCertificate(p.String(), raw) },
		Resolve: func(ctx context.Context, username string) (peer.ID, error) {
			p, err := n.reachPeer(ctx, username)
			return p.ID, err
		},
		Rule: chat.Effective(cc.ChatEnabled(), n.home.Path(home.ConfigFile), n.policy.chat.Enabled, n.policy.file.Path).
			WithVoiceCap(cc.VoicemailMaxLength, n.home.Path(home.ConfigFile), n.policy.chat.VoicemailMaxLength, n.policy.file.Path),
		Blocked: n.blocked, Guard: n.adm.GuardSignal, WaitCertified: n.adm.WaitCertified,
		Publish:  func(k events.Kind, d any) { n.soft.bus.Publish(k, d) },
		RetryFor: cc.RetryFor, Retry: n.opts.Softphone.ContactsRetry, Logger: n.log, Now: n.now, NoTyping: !cc.Typing(),
	})
	if err != nil {
		st.Close()
	}
	return err
}

// Chat returns the node's chat (nil on a node run for one call).
func (n *Node) Chat() *chat.Service { return n.chat }

// blocked says whether user is on the contact list's block list (which
// opens after file transfer starts).
func (n *Node) blocked(user string) bool { return n.soft.store != nil && n.soft.store.Blocked(user) }
