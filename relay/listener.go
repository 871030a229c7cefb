package relay

import (
	"errors"
	"net"

	"github.com/peercall/peercall/relay/tcplisten"
)

// handoff is a listener handed to the relay (Options.TURNListeners,
// TURNTLSListeners). Its accept loop (pump) runs from New to Close and
// passes each connection to the run's tcplisten.Chan, or closes it while the
// relay is stopped: pion/turn closes its listeners at every Stop, and a
// handed listener must outlive a demotion.
type handoff struct {
	ln  net.Listener
	tls bool
	cur *tcplisten.Chan // this run's listener, nil while stopped (guarded by Relay.mu)
}

func (r *Relay) pump(h *handoff) {
	defer r.pumps.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				r.log.Info("relay: shared TURN listener stopped", "addr", h.ln.Addr(), "err", err)
			}
			return
		}
		r.mu.Lock()
		cur := h.cur
		r.mu.Unlock()
		if cur == nil || !cur.Deliver(c) {
			_ = c.Close()
		}
	}
}
