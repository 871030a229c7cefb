package call

import (
	"log/slog"
	"strings"
	"sync"
	"time"
)

// phases times the steps of a call's set-up (resolve, relay credentials,
// candidate gathering, INVITE, answer, ICE and DTLS), for the "call set
// up" log line that tells where the seconds went.
type phases struct {
	mu    sync.Mutex
	start time.Time
	last  time.Time
	steps []string
}

func newPhases(start time.Time) *phases { return &phases{start: start, last: start} }

// mark ends the step called name.
func (p *phases) mark(name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.steps = append(p.steps, name+"="+now.Sub(p.last).Round(time.Millisecond).String())
	p.last = now
}

// note adds a step that ran beside the others (took d), without ending
// the current one.
func (p *phases) note(name string, d time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.steps = append(p.steps, name+"="+d.Round(time.Millisecond).String())
}

// log writes the steps so far, with the total, at info.
func (p *phases) log(log *slog.Logger, msg string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	steps, total := strings.Join(p.steps, " "), time.Since(p.start).Round(time.Millisecond)
	p.mu.Unlock()
	log.Info(msg, append(args, "total", total, "phases", steps)...)
}
