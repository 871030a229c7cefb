package dirlink

import (
	"context"
	"slices"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/directory"
)

// Check-ins tell the directory where the node is (docs/architecture.md,
// "Check-in"): at start, within checkinPoll of a change of its addresses
// or of its super-node role (at once after CheckInNow), every interval the
// directory asks for (two fifths of the check-in's time-to-live), and a
// withdrawal at Close.
const (
	// checkinPoll is how often the link compares the node's addresses
	// (listen, observed, circuit) and role with those it last checked in.
	checkinPoll = 500 * time.Millisecond
	// The interval the directory asks for is kept within these bounds.
	checkinMinInterval = 5 * time.Second
	checkinMaxInterval = time.Hour
	// A refused or failed check-in is retried after directory.Backoff:
	// jittered, from checkinRetryMin doubling up to checkinRetryMax, and
	// never before the directory's Retry-After.
	checkinRetryMin = time.Second
	checkinRetryMax = 2 * time.Minute
	// checkinWithdrawTimeout bounds the withdrawal at Close.
	checkinWithdrawTimeout = 2 * time.Second
	// maxCircuitAddrs is how many circuit addresses a check-in carries.
	maxCircuitAddrs = 4
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
func (l *Link) CheckinStatus() CheckinStatus {
	l.checkins.mu.Lock()
	defer l.checkins.mu.Unlock()
	return l.checkins.st
}

// CheckinAddrs are the addresses a check-in reports: the circuit
// addresses (at most four) and the direct ones, at most
// directory.MaxCheckinAddrs in all, each part sorted, without duplicates.
func CheckinAddrs(direct, circuits []string) []string {
	circuits = slices.Compact(slices.Sorted(slices.Values(circuits)))
	circuits = circuits[:min(len(circuits), maxCircuitAddrs)]
	direct = slices.Compact(slices.Sorted(slices.Values(direct)))
	direct = direct[:min(len(direct), directory.MaxCheckinAddrs-len(circuits))]
	return append(direct, circuits...)
}

func (l *Link) addrs() []string {
	var direct, circuits []string
	for _, a := range l.cfg.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			circuits = append(circuits, a.String())
		} else {
			direct = append(direct, a.String())
		}
	}
	return CheckinAddrs(direct, circuits)
}

// runCheckin checks in whenever due, until ctx is done; then it withdraws.
func (l *Link) runCheckin(ctx context.Context) {
	var (
		sent     []string // addresses of the last accepted check-in
		super    bool
		accepted bool
		next     time.Time // when a check-in is due regardless of changes
		backoff  = directory.Backoff{Min: checkinRetryMin, Max: checkinRetryMax}
		failing  bool      // the last check-in failed: wait out the backoff, changes or not
		last     time.Time // the time of the last check-in sent: the next is later
		kicked   bool
	)
	tick := time.NewTicker(checkinPoll)
	defer tick.Stop()
	for {
		addrs := l.addrs()
		sup := l.cfg.SuperNode()
		now := l.now()
		changed := kicked || !accepted || !slices.Equal(addrs, sent) || sup != super
		if !now.Before(next) || (!failing && changed) {
			at := now.UTC().Truncate(time.Microsecond)
			if !at.After(last) {
				at = last.Add(time.Microsecond)
			}
			last = at
			resp, err := l.checkIn(ctx, at, addrs, sup, false)
			switch {
			case err == nil:
				if !accepted || changed {
					l.log.Info("checked in at the directory", "addrs", addrs, "super_node", sup, "expires", resp.Expires)
				}
				sent, super, accepted, failing = addrs, sup, true, false
				backoff.Reset()
				interval := min(max(time.Duration(resp.IntervalSeconds)*time.Second, checkinMinInterval), checkinMaxInterval)
				next = now.Add(interval)
			case ctx.Err() != nil:
			default:
				// Jittered doubling, and never before the directory's
				// Retry-After plus a jitter of our own: nodes told the same
				// whole second must not come back in the same instant.
				wait := backoff.Next(err)
				failing = true
				next = now.Add(wait)
				l.log.Warn("check-in at the directory failed; lookups by name may not find this node until one succeeds", "err", err, "retry_in", wait.Round(time.Millisecond))
			}
		}
		kicked = false
		select {
		case <-ctx.Done():
			if accepted {
				l.withdraw(last)
			}
			return
		case <-tick.C:
		case <-l.kick:
			kicked = true
		}
	}
}

// checkIn sends one check-in with the current certificate and records
// its outcome.
func (l *Link) checkIn(ctx context.Context, at time.Time, addrs []string, super, withdraw bool) (directory.CheckinResponse, error) {
	cert, err := l.cfg.Certificate()
	var resp directory.CheckinResponse
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err = l.cfg.Directory.CheckIn(cctx, directory.CheckinParams{Key: l.cfg.Key, Certificate: cert, Time: at,
			Addrs: addrs, SuperNode: super, Withdraw: withdraw})
		cancel()
	}
	l.checkins.mu.Lock()
	defer l.checkins.mu.Unlock()
	l.checkins.st.Err = err
	if err == nil {
		l.checkins.st.Last, l.checkins.st.Expires, l.checkins.st.Addrs = l.now(), resp.Expires, len(addrs)
	}
	return resp, err
}

// withdraw ends the node's listing at the directory (Close).
func (l *Link) withdraw(last time.Time) {
	at := l.now().UTC().Truncate(time.Microsecond)
	if !at.After(last) {
		at = last.Add(time.Microsecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkinWithdrawTimeout)
	defer cancel()
	if _, err := l.checkIn(ctx, at, nil, false, true); err != nil {
		l.log.Warn("withdraw the check-in; the directory lists this node until it expires", "err", err)
		return
	}
	l.log.Debug("check-in withdrawn")
}
