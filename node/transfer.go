package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/relay"
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

	states   *prometheus.CounterVec // peercall_node_file_transfers_total{state}
	refusals *prometheus.CounterVec // peercall_node_file_refusals_total{reason}
}

// blockList is the contact list's block list, once it is open (it opens
// after file transfer starts).
type blockList struct{ n *Node }

func (b blockList) Blocked(user string) bool {
	return b.n.soft.store != nil && b.n.soft.store.Blocked(user)
}

// startTransfers reads [transfer] from config.toml and the admin policy,
// and serves /peercall/file/1.
func (n *Node) startTransfers() error {
	path := n.opts.Relay.PolicyPath
	if path == "" {
		path = relay.DefaultPolicyPath
	}
	admin, err := transfer.LoadPolicy(path)
	if err != nil {
		return err
	}
	tc := n.cfg.TransferSection()
	f := &fileTransfers{n: n, rules: transfer.Effective(tc.Settings, n.home.Path(home.ConfigFile), admin, "admin policy "+path)}
	f.desk = &transfer.Desk{Self: n.user, AutoAccept: map[string]bool{}, Wait: acceptWait, Max: maxRecentTransfers, OnEvent: f.count, Logger: n.log}
	for _, u := range tc.AutoAcceptFrom {
		f.desk.AutoAccept[u] = true
	}
	f.states = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peercall_node_file_transfers_total",
		Help: "File transfers (both ways) that ended or stopped, by state: released, quarantined, failed, refused, interrupted."}, []string{"state"})
	f.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peercall_node_file_refusals_total",
		Help: "Incoming file offers this node refused, by reason (the rule, e.g. transfer.max_file_size, or certificate, blocked, name, busy, storage, quarantined, declined)."}, []string{"reason"})
	n.reg.MustRegister(f.states, f.refusals)
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.recv, err = transfer.NewReceiver(transfer.ReceiverConfig{
		Quarantine: n.home.Path(home.QuarantineDir), Downloads: n.home.Path(home.ReceivedDir),
		Rules: func() transfer.Rules { return f.rules }, Identify: n.checkCertificate, Blocker: blockList{n},
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

// count feeds the metrics and the log with what the desk records.
func (f *fileTransfers) count(ev transfer.Event) {
	switch ev.State {
	case "released", "quarantined", "failed", "refused", "interrupted":
		f.states.WithLabelValues(ev.State).Inc()
	}
	if ev.State == "refused" && ev.Code != "" {
		f.refusals.WithLabelValues(ev.Code).Inc()
	}
	if ev.State != "progress" {
		f.n.log.Info("file transfer", "id", ev.ID, "peer", ev.Peer, "name", ev.Name, "state", ev.State, "bytes", ev.Bytes, "reason", ev.Reason)
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
