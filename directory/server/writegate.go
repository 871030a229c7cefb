package server

import (
	"net/http"

	"github.com/peercall/peercall/directory"
)

// gateWrite answers h only with a write slot (Limits.MaxConcurrentWrites,
// MaxWriteQueue, MaxWriteWait): a check-in, renewal or revocation that
// finds every slot busy and the queue full, or that waited too long, is
// answered 503 overloaded at once with a jittered Retry-After, before its
// body is read. Lookups are not gated: during a mass return of nodes they
// keep the database connections the gated writes leave.
func (s *Server) gateWrite(h func(w http.ResponseWriter, r *http.Request) (int, any, *apiError)) func(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	if s.cfg.Limits.MaxConcurrentWrites == 0 {
		return h // no bound (the default)
	}
	return func(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
		if !s.writes.acquire(r.Context()) {
			s.metrics.shed.WithLabelValues(r.Pattern).Inc()
			return 0, nil, &apiError{status: http.StatusServiceUnavailable, code: directory.CodeOverloaded,
				retryAfter: jitter(s.cfg.Limits.RetryAfterMin, s.cfg.Limits.RetryAfterMax),
				message:    "the directory is busy with many nodes checking in at once; retry after the delay in Retry-After"}
		}
		defer s.writes.release()
		return h(w, r)
	}
}
