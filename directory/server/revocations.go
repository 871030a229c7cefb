package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
)

// revocationList is the signed list nodes fetch, rebuilt from the store
// after every revocation made here and every RevocationRefresh; check-ins
// and renewals are checked against it without a store read.
type revocationList struct {
	mu   sync.Mutex
	list *crypto.RevocationList
	raw  []byte
}

// revoked reports whether serial is on the current list.
func (s *Server) revoked(serial uint64) bool {
	s.revs.mu.Lock()
	defer s.revs.mu.Unlock()
	return s.revs.list.Revokes(serial)
}

// rebuildRevocations signs a new list of the store's revocations.
func (s *Server) rebuildRevocations(ctx context.Context) error {
	now := s.now()
	revs, err := s.store.Revocations(ctx, now, crypto.MaxRevocations+1)
	if err != nil {
		return err
	}
	if len(revs) > crypto.MaxRevocations {
		// Listing part would tell nodes the rest are good: keep the
		// newest serials (the oldest expire first) and say so loudly.
		s.log.Error("more certificates are revoked than one revocation list holds; the lowest serials are left out until they expire",
			"revoked", len(revs), "limit", crypto.MaxRevocations)
		revs = revs[len(revs)-crypto.MaxRevocations:]
	}
	entries := make([]crypto.Revoked, len(revs))
	for i, c := range revs {
		entries[i] = crypto.Revoked{Serial: c.Serial, Expires: c.Expires}
	}
	l, err := crypto.SignRevocationList(s.key, now, entries)
	if err != nil {
		return err
	}
	raw := l.Marshal()
	s.revs.mu.Lock()
	s.revs.list, s.revs.raw = l, raw
	s.revs.mu.Unlock()
	s.metrics.revocations.Set(float64(len(entries)))
	return nil
}

// refreshRevocations rebuilds the list every interval until ctx is done.
func (s *Server) refreshRevocations(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.rebuildRevocations(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("rebuild the revocation list; nodes keep the last one", "err", err, "retry_in", interval)
		}
	}
}

// revocations handles GET /v1/revocations.
func (s *Server) revocations(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	if _, aerr := query(r); aerr != nil {
		return 0, nil, aerr
	}
	s.revs.mu.Lock()
	raw := s.revs.raw
	s.revs.mu.Unlock()
	if raw == nil { // the first build failed; try once more
		if err := s.rebuildRevocations(r.Context()); err != nil {
			return 0, nil, s.internal(r, "build the revocation list", err)
		}
		s.revs.mu.Lock()
		raw = s.revs.raw
		s.revs.mu.Unlock()
	}
	return http.StatusOK, directory.RevocationsResponse{List: raw}, nil
}
