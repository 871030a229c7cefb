package node

import (
	"context"
	"fmt"
	"slices"
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
// served by a transfer.Receiver, sends through Node.SendFile, offers
// waiting for the user.
type fileTransfers struct {
	n          *Node
	rules      transfer.Rules
	recv       *transfer.Receiver
	autoAccept map[string]bool
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	states   *prometheus.CounterVec // peercall_node_file_transfers_total{state}
	refusals *prometheus.CounterVec // peercall_node_file_refusals_total{reason}

	mu      sync.Mutex
	closed  bool
	pending map[string]chan bool
	recent  []transfer.Event // the latest event of each transfer, oldest first
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
	f := &fileTransfers{n: n, pending: map[string]chan bool{}, autoAccept: map[string]bool{},
		rules: transfer.Effective(tc.Settings, n.home.Path(home.ConfigFile), admin, "admin policy "+path)}
	for _, u := range tc.AutoAcceptFrom {
		f.autoAccept[u] = true
	}
	f.states = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peercall_node_file_transfers_total",
		Help: "File transfers (both ways) that ended or stopped, by state: released, quarantined, failed, refused, interrupted."}, []string{"state"})
	f.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peercall_node_file_refusals_total",
		Help: "Incoming file offers this node refused, by reason (the rule, e.g. transfer.max_file_size, or certificate, blocked, name, busy, storage, quarantined, declined)."}, []string{"reason"})
	n.reg.MustRegister(f.states, f.refusals)
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.recv, err = transfer.NewReceiver(transfer.ReceiverConfig{
		Quarantine: n.home.Path(home.QuarantineDir), Downloads: n.home.Path(home.ReceivedDir),
		Rules: func() transfer.Rules { return f.rules }, Identify: n.checkCertificate,
		Accept: f.accept, OnEvent: f.record, Logger: n.log,
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

// accept is the receiver's decision: auto-accepted names at once, others
// wait for `peercall accept ID`.
func (f *fileTransfers) accept(ctx context.Context, in transfer.Incoming) error {
	if f.autoAccept[in.User] {
		return nil
	}
	ch := make(chan bool, 1)
	f.mu.Lock()
	f.pending[in.ID] = ch
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.pending, in.ID)
		f.mu.Unlock()
	}()
	f.n.log.Info("file offered: accept with `peercall accept ID` or refuse with `peercall refuse ID`",
		"id", in.ID, "from", in.User, "name", in.Name, "size", in.Size)
	t := time.NewTimer(acceptWait)
	defer t.Stop()
	select {
	case ok := <-ch:
		if !ok {
			return fmt.Errorf("%s declined the file", f.n.user)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%s did not accept the file within %v", f.n.user, acceptWait)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// record keeps the latest event of each transfer.
func (f *fileTransfers) record(ev transfer.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := slices.IndexFunc(f.recent, func(e transfer.Event) bool { return e.ID == ev.ID }); i >= 0 {
		f.recent = slices.Delete(f.recent, i, i+1)
	}
	f.recent = append(f.recent, ev)
	if len(f.recent) > maxRecentTransfers {
		f.recent = f.recent[1:]
	}
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
			f.record(ev)
			if onEvent != nil {
				onEvent(ev)
			}
		},
	}
	rep, err := transfer.Send(ctx, cfg, path)
	return &rep, err
}

// Transfers lists the latest event of recent transfers, both ways.
func (n *Node) Transfers() []transfer.Event {
	n.files.mu.Lock()
	defer n.files.mu.Unlock()
	return slices.Clone(n.files.recent)
}

// DecideTransfer accepts or refuses the waiting offer id.
func (n *Node) DecideTransfer(id string, accept bool) error {
	f := n.files
	f.mu.Lock()
	ch := f.pending[id]
	f.mu.Unlock()
	if ch == nil {
		return fmt.Errorf("%w %q: `peercall transfers` lists the offers waiting", control.ErrNoSuchTransfer, id)
	}
	select {
	case ch <- accept:
	default:
	}
	return nil
}

// TransferRules describes the file transfer rules in force (status).
func (n *Node) TransferRules() []string {
	if n.files == nil {
		return nil
	}
	return n.files.rules.Describe()
}
