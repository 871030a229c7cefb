package node

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/peercall/peercall/directory"
)

// Check-ins tell the directory where the node is (docs/architecture.md,
// "Check-in"): at start, within checkinPoll of a change of its addresses
// or of its super-node role, every interval the directory asks for (two
// fifths of the check-in's time-to-live), and a withdrawal at Close.
const (
	// checkinPoll is how often the node compares its addresses (listen,
	// observed, circuit) and role with those it last checked in.
	checkinPoll = 500 * time.Millisecond
	// The interval the directory asks for is kept within these bounds.
	checkinMinInterval = 5 * time.Second
	checkinMaxInterval = time.Hour
	// A refused or failed check-in is retried after a jittered backoff
	// from checkinRetryMin, doubling up to checkinRetryMax.
	checkinRetryMin = time.Second
	checkinRetryMax = 2 * time.Minute
	// checkinWithdrawTimeout bounds the withdrawal at Close.
	checkinWithdrawTimeout = 2 * time.Second
)

// CheckinStatus is the state of the node's check-ins (status).
type CheckinStatus struct {
	Last    time.Time // when the directory last accepted one (zero: never)
	Expires time.Time // until when it lists the node
	Addrs   int       // addresses checked in
	Err     error     // the last attempt's error, nil when it was accepted
}

type checkinState struct {
	mu sync.Mutex
	st CheckinStatus
}

// CheckinStatus returns the state of the node's check-ins.
func (n *Node) CheckinStatus() CheckinStatus {
	n.checkins.mu.Lock()
	defer n.checkins.mu.Unlock()
	return n.checkins.st
}

// startCheckin runs the check-in loop until Close, when a directory is
// configured.
func (n *Node) startCheckin() {
	if n.dir == nil {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.runCheckin(n.ctx)
	}()
}

// checkinAddrs are the addresses a check-in reports: the circuit
// addresses (at most four) and the host's, at most
// directory.MaxCheckinAddrs, sorted, without duplicates.
func (n *Node) checkinAddrs() []string {
	var circuits []string
	if n.relay != nil {
		for _, a := range n.relay.CircuitAddrs() {
			circuits = append(circuits, a.String())
		}
	}
	slices.Sort(circuits)
	circuits = slices.Compact(circuits)
	circuits = circuits[:min(len(circuits), 4)]
	var direct []string
	for _, a := range n.host.Addrs() {
		direct = append(direct, a.String())
	}
	slices.Sort(direct)
	direct = slices.Compact(direct)
	direct = direct[:min(len(direct), directory.MaxCheckinAddrs-len(circuits))]
	return append(direct, circuits...)
}

// runCheckin checks in whenever due, until ctx is done; then it withdraws.
func (n *Node) runCheckin(ctx context.Context) {
	var (
		sent     []string // addresses of the last accepted check-in
		super    bool
		accepted bool
		next     time.Time // when a check-in is due regardless of changes
		retry    time.Duration
		last     time.Time // the time of the last check-in sent: the next is later
	)
	tick := time.NewTicker(checkinPoll)
	defer tick.Stop()
	for {
		addrs := n.checkinAddrs()
		sup := n.relay != nil && n.relay.Promoted()
		now := n.now()
		changed := !accepted || !slices.Equal(addrs, sent) || sup != super
		if !now.Before(next) || (retry == 0 && changed) {
			at := now.UTC().Truncate(time.Microsecond)
			if !at.After(last) {
				at = last.Add(time.Microsecond)
			}
			last = at
			resp, err := n.checkIn(ctx, at, addrs, sup, false)
			switch {
			case err == nil:
				if !accepted || changed {
					n.log.Info("checked in at the directory", "addrs", addrs, "super_node", sup, "expires", resp.Expires)
				}
				sent, super, accepted, retry = addrs, sup, true, 0
				interval := min(max(time.Duration(resp.IntervalSeconds)*time.Second, checkinMinInterval), checkinMaxInterval)
				next = now.Add(interval)
			case ctx.Err() != nil:
			default:
				retry = min(max(2*retry, checkinRetryMin), checkinRetryMax)
				wait := retry/2 + rand.N(retry/2+1) // jittered: [retry/2, retry]
				var apiErr *directory.APIError
				if errors.As(err, &apiErr) && apiErr.RetryAfter > wait {
					wait = apiErr.RetryAfter
				}
				next = now.Add(wait)
				n.log.Warn("check-in at the directory failed; lookups by name may not find this node until one succeeds", "err", err, "retry_in", wait.Round(time.Millisecond))
			}
		}
		select {
		case <-ctx.Done():
			if accepted {
				n.withdrawCheckin(last)
			}
			return
		case <-tick.C:
		}
	}
}

// checkIn sends one check-in with the current certificate and records
// its outcome.
func (n *Node) checkIn(ctx context.Context, at time.Time, addrs []string, super, withdraw bool) (directory.CheckinResponse, error) {
	cert, err := n.currentCertificate()
	var resp directory.CheckinResponse
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err = n.dir.CheckIn(cctx, directory.CheckinParams{Key: n.key, Certificate: cert, Time: at,
			Addrs: addrs, SuperNode: super, Withdraw: withdraw})
		cancel()
	}
	n.checkins.mu.Lock()
	defer n.checkins.mu.Unlock()
	n.checkins.st.Err = err
	if err == nil {
		n.checkins.st.Last, n.checkins.st.Expires, n.checkins.st.Addrs = n.now(), resp.Expires, len(addrs)
	}
	return resp, err
}

// withdrawCheckin ends the node's listing at the directory (Close).
func (n *Node) withdrawCheckin(last time.Time) {
	at := n.now().UTC().Truncate(time.Microsecond)
	if !at.After(last) {
		at = last.Add(time.Microsecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkinWithdrawTimeout)
	defer cancel()
	if _, err := n.checkIn(ctx, at, nil, false, true); err != nil {
		n.log.Warn("withdraw the check-in; the directory lists this node until it expires", "err", err)
		return
	}
	n.log.Debug("check-in withdrawn")
}
