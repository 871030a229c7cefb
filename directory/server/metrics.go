package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors, peercall_directory_*.
type metrics struct {
	requests      *prometheus.CounterVec // route, code
	registrations *prometheus.CounterVec // result
	logins        *prometheus.CounterVec // result
	throttled     *prometheus.CounterVec // limit
	shed          *prometheus.CounterVec // route
	hashing       prometheus.Gauge
	hashWaiting   prometheus.Gauge
	writing       prometheus.Gauge
	writeWaiting  prometheus.Gauge
	hashSeconds   prometheus.Histogram
	pruned        prometheus.Counter
	overflow      *prometheus.CounterVec // table
	dialBacks     *prometheus.CounterVec // result
	healthy       prometheus.Gauge
	checkins      *prometheus.CounterVec // result
	renewals      *prometheus.CounterVec // result
	revocations   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_registrations_total",
			Help: "Registration attempts by result (created, taken, look_alike, mixed_scripts, invalid, reserved, weak_password).",
		}, []string{"result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_logins_total",
			Help: "Login attempts by result (ok, unknown_user, bad_password, bad_proof, invalid, disabled).",
		}, []string{"result"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_throttled_total",
			Help: "Requests answered 429 throttled, by the limit that refused them (name, addr, device: logins; register: registrations per address; checkin, renew: per node key).",
		}, []string{"limit"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_shed_total",
			Help: "Requests answered 503 overloaded, by route: logins and registrations because too many password hashes were running or queued, check-ins, renewals and revocations because too many writes were (max_concurrent_writes, max_write_queue).",
		}, []string{"route"}),
		hashing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peercall_directory_hashes_in_flight",
			Help: "argon2id password hashes running now.",
		}),
		hashWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peercall_directory_hashes_waiting",
			Help: "Requests waiting for a password hash slot.",
		}),
		writing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peercall_directory_writes_in_flight",
			Help: "Check-ins, renewals and revocations being answered now (at most max_concurrent_writes).",
		}),
		writeWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peercall_directory_writes_waiting",
			Help: "Check-ins, renewals and revocations waiting for a write slot (at most max_write_queue).",
		}),
		hashSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "peercall_directory_hash_seconds",
			Help:    "Time of one argon2id password hash or verification.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peercall_directory_sightings_pruned_total",
			Help: "Sightings deleted because they are older than the seen window.",
		}),
		overflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_throttle_overflow_total",
			Help: "Requests charged to a throttling table's shared overflow budget because the table was full of spent budgets, by table (name, addr, device, register); raise max_tracked_keys if this grows outside an attack.",
		}, []string{"table"}),
		dialBacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_dialbacks_total",
			Help: "Super-node claims checked by dialling the node back, by result (ok, failed: per address dialled; cached: a login answered from cached verdicts; no_address: no TCP address on the login's IP; queue_full: not checked).",
		}, []string{"result"}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peercall_directory_healthy",
			Help: "1 when the last /healthz found the directory healthy, 0 when not.",
		}),
		checkins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_checkins_total",
			Help: "Check-ins by result (ok, withdrawn, invalid, replay, disabled, unknown_user, or the error code of a refused certificate, time or proof); throttled ones count in peercall_directory_throttled_total{limit=\"checkin\"}.",
		}, []string{"result"}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peercall_directory_renewals_total",
			Help: "Certificate renewals by result (ok, disabled, unknown_user, or the error code of a refused certificate, time or proof).",
		}, []string{"result"}),
		revocations: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peercall_directory_revocations",
			Help: "Entries of the revocation list nodes fetch (revoked certificates not yet expired).",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.registrations, m.logins, m.throttled, m.shed, m.hashing, m.hashWaiting, m.writing, m.writeWaiting, m.hashSeconds, m.pruned, m.overflow, m.dialBacks, m.healthy, m.checkins, m.renewals, m.revocations} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
