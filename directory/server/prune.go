package server

import (
	"context"
	"time"

	"github.com/peercall/peercall/directory/store"
)

// DefaultPruneInterval is how often sightings older than the seen window
// are deleted when the store can (store.SightingsPruner).
const DefaultPruneInterval = time.Hour

// prune deletes old sightings at start and then every interval, until ctx
// is done. It is the one goroutine a Server starts; Close stops and waits
// for it.
func (s *Server) prune(ctx context.Context, p store.SightingsPruner, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		before := s.now().Add(-s.cfg.SeenWindow)
		n, err := p.PruneSightings(ctx, before)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Warn("prune old sightings; will retry", "err", err, "retry_in", interval)
		case n > 0:
			s.log.Info("pruned old sightings", "deleted", n, "seen_before", before.UTC().Format(time.RFC3339))
		}
		s.metrics.pruned.Add(float64(n))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
