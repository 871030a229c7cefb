package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// ErrNoOffer: no offer waits under that id.
var ErrNoOffer = errors.New("no such file offer")

// Desk is a node's desk of transfers: the latest event of each recent
// transfer (both ways), and the offers waiting for the user's decision.
type Desk struct {
	// Self is this user's name (in a refusal's reason).
	Self string
	// AutoAccept are the users whose offers are taken without asking.
	AutoAccept map[string]bool
	// Wait bounds the wait for the user's decision.
	Wait time.Duration
	// Max bounds the transfers kept.
	Max int
	// OnEvent sees every event Record keeps (metrics; nil: none).
	OnEvent func(Event)
	// Logger logs offers and every event but progress (nil: none).
	Logger *slog.Logger

	mu      sync.Mutex
	pending map[string]chan bool
	recent  []Event // oldest first
}

// Accept is a Receiver's decision: auto-accepted users at once, others
// wait for Decide (or Wait, or ctx).
func (d *Desk) Accept(ctx context.Context, in Incoming) error {
	if d.AutoAccept[in.User] {
		return nil
	}
	ch := make(chan bool, 1)
	d.mu.Lock()
	if d.pending == nil {
		d.pending = map[string]chan bool{}
	}
	d.pending[in.ID] = ch
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.pending, in.ID)
		d.mu.Unlock()
	}()
	if d.Logger != nil {
		d.Logger.Info("file offered: accept with `peercall accept ID` or refuse with `peercall refuse ID`",
			"id", in.ID, "from", in.User, "name", in.Name, "size", in.Size)
	}
	t := time.NewTimer(d.Wait)
	defer t.Stop()
	select {
	case ok := <-ch:
		if !ok {
			return fmt.Errorf("%s declined the file", d.Self)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%s did not accept the file within %v", d.Self, d.Wait)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Decide accepts or refuses the waiting offer id.
func (d *Desk) Decide(id string, accept bool) error {
	d.mu.Lock()
	ch := d.pending[id]
	d.mu.Unlock()
	if ch == nil {
		return fmt.Errorf("%w %q: `peercall transfers` lists the offers waiting", ErrNoOffer, id)
	}
	select {
	case ch <- accept:
	default:
	}
	return nil
}

// Record keeps ev as the latest event of its transfer.
func (d *Desk) Record(ev Event) {
	d.mu.Lock()
	if i := slices.IndexFunc(d.recent, func(e Event) bool { return e.ID == ev.ID }); i >= 0 {
		d.recent = slices.Delete(d.recent, i, i+1)
	}
	d.recent = append(d.recent, ev)
	if len(d.recent) > max(d.Max, 1) {
		d.recent = d.recent[1:]
	}
	d.mu.Unlock()
	if d.OnEvent != nil {
		d.OnEvent(ev)
	}
	if d.Logger != nil && ev.State != "progress" {
		d.Logger.Info("file transfer", "id", ev.ID, "peer", ev.Peer, "name", ev.Name, "state", ev.State, "bytes", ev.Bytes, "reason", ev.Reason)
	}
}

// Recent lists the latest event of each recent transfer, oldest first.
func (d *Desk) Recent() []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.recent)
}
