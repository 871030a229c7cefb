package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/transfer"
)

// acceptWait bounds the wait for the user's decision on an offer from
// someone not in transfer.auto_accept_from.
const acceptWait = 2 * time.Minute

// maxRecentTransfers bounds the transfers `peercall transfers` lists.
const maxRecentTransfers = 100

var _ control.TransferNode = (*Node)(nil)

// fileTransfers is the node's file transfer: /peercall/file/1 streams
// served by a transfer.Receiver, sends through Node.SendFile, the desk of
// recent transfers and offers waiting for the user.
type fileTransfers struct {
	n      *Node
	rules  transfer.Rules
	recv   *transfer.Receiver
	desk   *transfer.Desk
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // orders handle's wg.Add against close
	closed bool
	wg     sync.WaitGroup
}

// startTransfers applies [transfer] of config.toml under the admin
// policy's, and serves /peercall/file/1.
func (n *Node) startTransfers() error {
	tc := n.cfg.TransferSection()
	f := &fileTransfers{n: n, rules: transfer.Effective(tc.Settings, n.home.Path(home.ConfigFile), n.policy.transfer, n.policy.file.Source())}
	f.desk = &transfer.Desk{Self: n.user, AutoAccept: map[string]bool{}, Wait: acceptWait, Max: maxRecentTransfers, OnEvent: transfer.NewMetrics(n.reg).Count, Logger: n.log}
	for _, u := range tc.AutoAcceptFrom {
		f.desk.AutoAccept[u] = true
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	var err error
	f.recv, err = transfer.NewReceiver(transfer.ReceiverConfig{
		Quarantine: n.home.Path(home.QuarantineDir), Downloads: n.home.Path(home.ReceivedDir),
		Rules: func() transfer.Rules { return f.rules }, Identify: n.checkCertificate, Blocker: transfer.BlockerFunc(n.blocked),
		Accept: f.desk.Accept, OnEvent: f.desk.Record, Logger: n.log,
	})
	if err != nil {
		f.cancel()
		return err
	}
	n.log.Info("file transfer rules", "rules", f.rules.Describe())
	n.files = f
	n.host.SetStreamHandler(transfer.ProtocolID, n.adm.GuardSignal(f.handle))
	return nil
}

// handle serves one incoming file stream.
func (f *fileTransfers) handle(s network.Stream) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = s.Reset()
		return
	}
	f.wg.Add(1)
	f.mu.Unlock()
	defer f.wg.Done()
	remote := s.Conn().RemotePeer()
	if err := f.recv.Handle(f.ctx, remote.String(), f.n.adm.Protect(s)); err != nil {
		f.n.log.Info("incoming file transfer ended", "peer", remote, "err", err)
	}
}

func (f *fileTransfers) close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.n.host.RemoveStreamHandler(transfer.ProtocolID)
	f.cancel()
	f.wg.Wait()
	return nil
}

// SendFile sends the file at path to username (transfer.Send), resuming
// what an earlier send left.
func (n *Node) SendFile(ctx context.Context, username, path string, onEvent func(transfer.Event)) (*transfer.Report, error) {
	f := n.files
	cert, err := n.currentCertificate()
	if err != nil {
		return nil, err
	}
	p, err := n.reachPeer(ctx, username)
	if err != nil {
		return nil, err
	}
	cfg := transfer.SendConfig{
		Cert: cert.Marshal(), Rules: f.rules, StateDir: n.home.Path(home.TransferStateDir),
		Dial: func(ctx context.Context) (transfer.Stream, error) {
			_ = n.adm.WaitCertified(ctx, p.ID)
			// A recipient behind a NAT is reached over its super-node's
			// circuit, within the circuit's limits.
			s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "file transfer"), p.ID, transfer.ProtocolID)
			if err != nil {
				return nil, fmt.Errorf("open %s to %s: %w", transfer.ProtocolID, username, err)
			}
			return n.adm.Protect(s), nil
		},
		OnEvent: func(ev transfer.Event) {
			ev.Peer = username
			f.desk.Record(ev)
			if onEvent != nil {
				onEvent(ev)
			}
		},
	}
	rep, err := transfer.Send(ctx, cfg, path)
	return &rep, err
}

// Transfers lists the latest event of recent transfers, both ways.
func (n *Node) Transfers() []transfer.Event { return n.files.desk.Recent() }

// DecideTransfer accepts or refuses the waiting offer id.
func (n *Node) DecideTransfer(id string, accept bool) error { return n.files.desk.Decide(id, accept) }

// TransferRules describes the file transfer rules in force (status).
func (n *Node) TransferRules() []string {
	if n.files == nil {
		return nil
	}
	return n.files.rules.Describe()
}
