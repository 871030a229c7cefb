package server

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/peercall/peercall/directory/store"
)

// healthTimeout bounds the store's part of /healthz.
const healthTimeout = 3 * time.Second

// HealthResponse is the body of GET /healthz: Status "ok" (200) or
// "unhealthy" (503), with Problems saying what is wrong and what to do.
type HealthResponse struct {
	Status   string      `json:"status"`
	Store    StoreHealth `json:"store"`
	Problems []string    `json:"problems,omitempty"`
}

// StoreHealth is the store's part of HealthResponse. FreeBytes is the
// space left beside an SQLite database (absent for PostgreSQL), and
// Integrity the last integrity check's verdict ("ok", "damaged", or
// "unchecked" for a store that has none).
type StoreHealth struct {
	Backend      string     `json:"backend"`
	OK           bool       `json:"ok"`
	FreeBytes    *int64     `json:"free_bytes,omitempty"`
	MinFreeBytes int64      `json:"min_free_bytes,omitempty"`
	Integrity    string     `json:"integrity"`
	CheckedAt    *time.Time `json:"integrity_checked_at,omitempty"`
}

// healthState holds the background integrity check's last verdict and
// whether the last /healthz was healthy (to log changes once).
type healthState struct {
	mu        sync.Mutex
	integrity error
	checkedAt time.Time
	unhealthy bool
}

// healthz handles GET /healthz: the store answers, has room and is not
// damaged. The answer leaves out the database path (it is logged).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	resp := HealthResponse{Status: "ok", Store: StoreHealth{Integrity: "unchecked"}}
	var h store.Health
	if hc, ok := s.store.(store.HealthChecker); ok {
		h = hc.Health(ctx)
	} else {
		h = store.Health{Backend: fmt.Sprintf("%T", s.store), FreeBytes: -1}
	}
	resp.Store.Backend = h.Backend
	if h.Problem != "" {
		resp.Problems = append(resp.Problems, "store: "+hidePath(h.Problem, h.Path))
	}
	if h.FreeBytes >= 0 {
		free := h.FreeBytes
		resp.Store.FreeBytes = &free
		if s.cfg.MinFreeDisk > 0 {
			resp.Store.MinFreeBytes = s.cfg.MinFreeDisk
			if free < s.cfg.MinFreeDisk {
				resp.Problems = append(resp.Problems, fmt.Sprintf("the disk holding the database has %d MiB free, less than the %d MiB wanted: free space there (or lower min_free_disk_mib) before writes fail",
					free>>20, s.cfg.MinFreeDisk>>20))
			}
		}
	}
	s.health.mu.Lock()
	ierr, at := s.health.integrity, s.health.checkedAt
	s.health.mu.Unlock()
	if _, ok := s.store.(store.IntegrityChecker); ok {
		resp.Store.Integrity = "ok"
		if !at.IsZero() {
			at := at.UTC()
			resp.Store.CheckedAt = &at
		}
		if ierr != nil {
			resp.Store.Integrity = "damaged"
			resp.Problems = append(resp.Problems, "store: "+hidePath(ierr.Error(), h.Path))
		}
	}
	select {
	case <-s.closed:
		resp.Problems = append(resp.Problems, "the directory is shutting down")
	default:
	}
	resp.Store.OK = len(resp.Problems) == 0
	status := http.StatusOK
	if len(resp.Problems) > 0 {
		resp.Status, status = "unhealthy", http.StatusServiceUnavailable
	}
	s.noteHealth(len(resp.Problems) == 0, h.Path, resp.Problems)
	writeJSON(w, status, resp)
}

// hidePath keeps the database's file and folder names out of a public
// answer (the log has them).
func hidePath(msg, path string) string {
	if path == "" || !filepath.IsAbs(path) {
		return msg
	}
	msg = strings.ReplaceAll(msg, path, "the database file")
	return strings.ReplaceAll(msg, filepath.Dir(path), "its folder")
}

// noteHealth logs a change of health once and sets the gauge.
func (s *Server) noteHealth(ok bool, path string, problems []string) {
	if ok {
		s.metrics.healthy.Set(1)
	} else {
		s.metrics.healthy.Set(0)
	}
	s.health.mu.Lock()
	changed := s.health.unhealthy == ok
	s.health.unhealthy = !ok
	s.health.mu.Unlock()
	switch {
	case changed && ok:
		s.log.Info("directory healthy again", "database", path)
	case changed:
		s.log.Warn("directory unhealthy", "database", path, "problems", problems)
	}
}

// checkIntegrity runs the store's integrity check every interval (the
// check at open came first) until ctx is done, keeping the verdict for
// /healthz.
func (s *Server) checkIntegrity(ctx context.Context, c store.IntegrityChecker, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := c.CheckIntegrity(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Error("store integrity check failed", "err", err)
		}
		s.health.mu.Lock()
		s.health.integrity, s.health.checkedAt = err, time.Now()
		s.health.mu.Unlock()
	}
}
