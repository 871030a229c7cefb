package server

import (
	"net/http"

	"github.com/peercall/peercall/directory"
)

// gateWrite answers h only with a write slot (Limits.MaxConcurrentWrites):
// without one, 503 overloaded with a jittered Retry-After, before the body
// is read. Lookups are not gated.
func (s *Server) gateWrite(h func(w http.ResponseWriter, r *http.Request) (int, any, *apiError)) func(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	if s.cfg.Limits.MaxConcurrentWrites == 0 {
		return h // no bound (the default)
	}
	return func(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
		if !s.writes.Acquire(r.Context()) {
			s.metrics.shed.WithLabelValues(r.Pattern).Inc()
			return 0, nil, &apiError{status: http.StatusServiceUnavailable, code: directory.CodeOverloaded,
				retryAfter: jitter(s.cfg.Limits.RetryAfterMin, s.cfg.Limits.RetryAfterMax),
				message:    "the directory is busy with many nodes checking in at once; retry after the delay in Retry-After"}
		}
		defer s.writes.Release()
		return h(w, r)
	}
}
