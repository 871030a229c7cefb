package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/store"
	"github.com/peercall/peercall/internal/pgtest"
)

// The login storm of issue 16 (Skype, August 2007): every client of the
// directory comes back at once after a mass reboot. Each simulated client is
// a real directory.Client over its own TLS connection from its own
// loopback address (127.1.x.y), against the real peercall-directory binary
// on real PostgreSQL: most check in with the certificate they hold, some
// renew it first, some log in with their password (argon2id) first, and
// each retries what the directory refuses with directory.Backoff, as nodes
// do. Meanwhile another address looks up users who were online before the
// storm.

// stormConfig sizes one storm.
type stormConfig struct {
	Clients  int // simulated nodes coming back at once
	LoginPct int // per cent that log in with a password (then check in)
	RenewPct int // per cent that renew their certificate (then check in)
	Online   int // users checked in before the storm, looked up during it
	// LookupRate is lookups per second of online users during the storm.
	LookupRate int
	// Deadline bounds the storm: clients not back by then fail the test.
	Deadline time.Duration
	// BackoffMax caps the clients' backoff (nodes: 2 min).
	BackoffMax time.Duration
	Argon      crypto.PasswordParams
	Args       []string // more flags of the directory
	// PlainHTTP serves the API without TLS (--insecure-http), to tell the
	// handshakes' share of the storm from the rest.
	PlainHTTP bool
}

// stormResult is what one storm measured (a JSON line of bench-scale).
type stormResult struct {
	Bench           string  `json:"bench"`
	Clients         int     `json:"clients"`
	Logins          int     `json:"logins"`
	Renewals        int     `json:"renewals"`
	CheckinsOnly    int     `json:"checkins_only"`
	Back            int     `json:"back"`
	AllBackS        float64 `json:"all_back_s"`
	BackP50S        float64 `json:"back_p50_s"`
	BackP95S        float64 `json:"back_p95_s"`
	Requests        int64   `json:"requests"`
	Shed503         int64   `json:"shed_503"`
	Throttled429    int64   `json:"throttled_429"`
	NetworkErrors   int64   `json:"network_errors"`
	NoRetryAfter    int64   `json:"refusals_without_retry_after"`
	OtherErrors     int64   `json:"other_errors"`
	ServerRSSPeakMi float64 `json:"server_rss_peak_mib"`
	ServerRSSEndMi  float64 `json:"server_rss_end_mib"`
	// ServerCPUS is the directory's CPU time (user and system) from the
	// storm's start until all were back.
	ServerCPUS      float64 `json:"server_cpu_s"`
	ClientRSSPeakMi float64 `json:"generator_rss_peak_mib"`
	Lookups         int     `json:"lookups"`
	LookupFailures  int     `json:"lookup_failures"`
	LookupP50Ms     float64 `json:"lookup_p50_ms"`
	LookupP99Ms     float64 `json:"lookup_p99_ms"`
	LookupMaxMs     float64 `json:"lookup_max_ms"`
	Argon2          string  `json:"argon2"`
	DirectoryArgs   string  `json:"directory_args"`
	TLS             bool    `json:"tls"`
	// NetworkSamples are every 1000th network error (what they were).
	NetworkSamples []string `json:"network_error_samples"`
	Load1          string   `json:"loadavg_before"`
	firstErrors    []string
}

// stormNode is one simulated client: its account, node key and certificate.
type stormNode struct {
	name string
	key  ed25519.PrivateKey
	cert *crypto.Certificate
	kind string // "login", "renew" or "checkin"
}

const stormPassword = "the storm's password"

// setUpStorm creates the directory key in data and, in the database dsn,
// every account with a certificate for its node key (directly through the
// store: the registrations are not what is measured).
func setUpStorm(t testing.TB, cfg stormConfig, data, dsn string) (ed25519.PrivateKey, []*stormNode, []*stormNode) {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	key, _, err := crypto.LoadOrCreateKey(data + "/directory.key")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open the storm's database: %v", err)
	}
	defer st.Close()
	hash, err := crypto.HashPassword(stormPassword, cfg.Argon)
	if err != nil {
		t.Fatal(err)
	}
	total := cfg.Clients + cfg.Online
	nodes := make([]*stormNode, total)
	now := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total || failed.Load() != nil {
					return
				}
				n := &stormNode{name: fmt.Sprintf("storm%05d", i), kind: "checkin"}
				_, n.key, _ = ed25519.GenerateKey(nil)
				if i < cfg.Clients {
					switch p := i * 100 / cfg.Clients; {
					case p < cfg.LoginPct:
						n.kind = "login"
					case p < cfg.LoginPct+cfg.RenewPct:
						n.kind = "renew"
					}
				}
				err := st.CreateUser(ctx, store.User{Name: n.name, Display: n.name, PasswordHash: hash, Created: now})
				var serial uint64
				if err == nil {
					serial, err = st.NextSerial(ctx)
				}
				if err == nil {
					n.cert, err = crypto.IssueCertificate(key, n.name, n.key.Public().(ed25519.PublicKey), serial, now.Add(-time.Hour), 7*24*time.Hour)
				}
				if err == nil {
					c := n.cert
					err = st.AddCertificate(ctx, store.Certificate{Serial: serial, Username: n.name, PeerKey: c.PeerKey, Issued: c.Issued, Expires: c.Expires, Raw: c.Marshal()})
				}
				if err != nil {
					failed.Store(fmt.Errorf("set up %s: %w", n.name, err))
					return
				}
				nodes[i] = n
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	return key, nodes[:cfg.Clients], nodes[cfg.Clients:]
}

// stormClient is a directory client from a loopback address of its own,
// in a /24 of its own (the directory's connection limits count IPv4 /24s,
// and the nodes of a real mass return come from many networks): client i
// is 127.(16 + i/256).(i%256).1. retry is its retry policy.
func stormClient(t testing.TB, url string, pub ed25519.PublicKey, i int, retry directory.RetryPolicy) *directory.Client {
	local := net.IPv4(127, byte(16+i/256), byte(i%256), 1)
	tr := &http.Transport{
		DialContext:         (&net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	c, err := directory.NewClient(url, directory.ClientOptions{DirectoryKey: pub, HTTPClient: &http.Client{Transport: tr},
		Timeout: 20 * time.Second, Retry: retry})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rss reads a process's resident set (VmRSS) and its peak (VmHWM), in MiB.
func rss(pid int) (now, peak float64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for l := range strings.Lines(string(b)) {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kib, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			now = kib / 1024
		case "VmHWM:":
			peak = kib / 1024
		}
	}
	return now, peak
}

// cpuSeconds is a process's CPU time so far, user and system
// (/proc/PID/stat fields 14 and 15, in clock ticks of 1/100 s).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from its ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// runStorm runs one storm against a fresh directory and returns what it
// measured; it fails t when a client is not back by the deadline, when a
// refusal lacks Retry-After, or when the directory died.
func runStorm(t *testing.T, cfg stormConfig) stormResult {
	raiseOpenFiles(t, uint64(cfg.Clients+cfg.Online+512))
	load, _ := os.ReadFile("/proc/loadavg")
	res := stormResult{Bench: "login_storm", Clients: cfg.Clients,
		Argon2:        fmt.Sprintf("m=%dKiB,t=%d,p=%d", cfg.Argon.Memory, cfg.Argon.Time, cfg.Argon.Threads),
		Load1:         strings.Join(strings.Fields(string(load))[:3], " "),
		DirectoryArgs: strings.Join(cfg.Args, " "), TLS: !cfg.PlainHTTP}
	dsn := pgtest.SchemaDSN(t)
	data := t.TempDir()
	setup := time.Now()
	key, nodes, online := setUpStorm(t, cfg, data, dsn)
	t.Logf("set up %d accounts with certificates in %v", len(nodes)+len(online), time.Since(setup).Round(time.Millisecond))
	args := []string{"--listen", "127.0.0.1:0", "--data", data, "--db", dsn}
	if cfg.PlainHTTP {
		args = append(args, "--insecure-http")
	}
	args = append(append(args,
		"--argon2-memory-kib", strconv.Itoa(int(cfg.Argon.Memory)), "--argon2-time", strconv.Itoa(int(cfg.Argon.Time)),
		"--argon2-threads", strconv.Itoa(int(cfg.Argon.Threads))), cfg.Args...)
	p := start(t, args...)
	pub := key.Public().(ed25519.PublicKey)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Deadline)
	defer cancel()

	// The users online before the storm check in (politely).
	// The lookups come from 16 nodes of their own (127.216.0-15.1), as
	// any: their clients retry a lookup that failed on the network (the
	// default policy).
	var probes []*directory.Client
	for i := range 16 {
		probes = append(probes, stormClient(t, p.url, pub, 200*256+i, directory.RetryPolicy{}))
	}
	probe := probes[0]
	for _, n := range online {
		if _, err := probe.CheckIn(ctx, directory.CheckinParams{Key: n.key, Certificate: n.cert, Time: time.Now(), Addrs: []string{"/ip4/192.0.2.1/udp/4001/quic-v1"}}); err != nil {
			t.Fatalf("check in online user %s before the storm: %v", n.name, err)
		}
	}

	// Memory of the directory, sampled through the storm.
	var serverPeak atomic.Int64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if now, _ := rss(p.cmd.Process.Pid); int64(now) > serverPeak.Load() {
				serverPeak.Store(int64(now))
			}
			select {
			case <-tick.C:
			case <-stopSampling:
				return
			}
		}
	})

	// Lookups of online users at a steady rate through the storm.
	var lookupMu sync.Mutex
	var lookupTimes []time.Duration
	lookupFailures := 0
	stormDone := make(chan struct{})
	var lookers sync.WaitGroup
	lookers.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(max(cfg.LookupRate, 1)))
		defer tick.Stop()
		var inflight sync.WaitGroup
		defer inflight.Wait()
		for i := 0; ; i++ {
			select {
			case <-tick.C:
			case <-stormDone:
				return
			}
			inflight.Go(func() {
				n := online[i%len(online)]
				t0 := time.Now()
				u, err := probes[i%len(probes)].User(ctx, n.name)
				d := time.Since(t0)
				lookupMu.Lock()
				defer lookupMu.Unlock()
				lookupTimes = append(lookupTimes, d)
				if err != nil || len(u.Nodes) == 0 {
					lookupFailures++
					if len(res.firstErrors) < 5 {
						res.firstErrors = append(res.firstErrors, fmt.Sprintf("lookup %s: %v (%d nodes)", n.name, err, len(u.Nodes)))
					}
				}
			})
		}
	})

	// The storm: every client at once.
	var requests, shed, throttled, network, noRetryAfter, other atomic.Int64
	backAt := make([]time.Duration, len(nodes))
	var errMu sync.Mutex
	var clients sync.WaitGroup
	gate := make(chan struct{})
	t0 := time.Now()
	for i, n := range nodes {
		switch n.kind {
		case "login":
			res.Logins++
		case "renew":
			res.Renewals++
		default:
			res.CheckinsOnly++
		}
		clients.Go(func() {
			// One attempt per call: the loop below retries as a node's does.
			c := stormClient(t, p.url, pub, i, directory.RetryPolicy{MaxAttempts: 1})
			defer c.Close()
			bo := &directory.Backoff{Min: time.Second, Max: cfg.BackoffMax}
			// until repeats op until it succeeds, as a node's retry loop does.
			until := func(op func() error) bool {
				for {
					requests.Add(1)
					err := op()
					if err == nil {
						bo.Reset()
						return true
					}
					var apiErr *directory.APIError
					switch {
					case errors.As(err, &apiErr) && apiErr.Status == http.StatusServiceUnavailable:
						shed.Add(1)
					case errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests:
						throttled.Add(1)
					case errors.Is(err, directory.ErrUnavailable):
						if network.Add(1)%1000 == 1 {
							errMu.Lock()
							res.NetworkSamples = append(res.NetworkSamples, err.Error())
							errMu.Unlock()
						}
					default:
						other.Add(1)
					}
					if apiErr != nil && (apiErr.Status == http.StatusServiceUnavailable || apiErr.Status == http.StatusTooManyRequests) && apiErr.RetryAfter <= 0 {
						noRetryAfter.Add(1)
					}
					if !directory.Retryable(err) {
						errMu.Lock()
						if len(res.firstErrors) < 5 {
							res.firstErrors = append(res.firstErrors, fmt.Sprintf("%s (%s): %v", n.name, n.kind, err))
						}
						errMu.Unlock()
						return false
					}
					w := bo.Next(err)
					// The directory closes idle connections under
					// pressure (pressure_idle_timeout): a request after
					// a long wait on the old one would fail on the
					// network and count as one more failure. A fresh
					// connection after the wait costs a handshake only.
					if w > time.Second {
						c.Close()
					}
					select {
					case <-time.After(w):
					case <-ctx.Done():
						return false
					}
				}
			}
			<-gate
			cert := n.cert
			ok := true
			switch n.kind {
			case "login":
				ok = until(func() (err error) {
					cert, _, err = c.Login(ctx, directory.LoginParams{Username: n.name, Password: stormPassword, Key: n.key})
					return err
				})
			case "renew":
				ok = until(func() (err error) {
					cert, _, err = c.Renew(ctx, n.key, n.cert)
					return err
				})
			}
			ok = ok && until(func() error {
				_, err := c.CheckIn(ctx, directory.CheckinParams{Key: n.key, Certificate: cert, Time: time.Now(), Addrs: []string{"/ip4/198.51.100.7/udp/4001/quic-v1"}})
				return err
			})
			if ok {
				errMu.Lock()
				backAt[i] = time.Since(t0)
				errMu.Unlock()
			}
		})
	}
	cpu0 := cpuSeconds(p.cmd.Process.Pid)
	close(gate)
	progress := make(chan struct{})
	go func() {
		defer close(progress)
		for {
			select {
			case <-time.After(15 * time.Second):
			case <-stormDone:
				return
			}
			back := 0
			errMu.Lock()
			for _, d := range backAt {
				if d > 0 {
					back++
				}
			}
			last := ""
			if n := len(res.NetworkSamples); n > 0 {
				last = res.NetworkSamples[n-1]
			}
			errMu.Unlock()
			now, _ := rss(p.cmd.Process.Pid)
			t.Logf("%v: %d of %d back, %d requests, %d shed, %d network errors (latest sampled: %.160s), directory RSS %.0f MiB",
				time.Since(t0).Round(time.Second), back, len(nodes), requests.Load(), shed.Load(), network.Load(), last, now)
		}
	}()
	clients.Wait()
	res.ServerCPUS = cpuSeconds(p.cmd.Process.Pid) - cpu0
	close(stormDone)
	<-progress
	lookers.Wait()
	close(stopSampling)
	sampler.Wait()

	var backs []time.Duration
	for _, d := range backAt {
		if d > 0 {
			backs = append(backs, d)
		}
	}
	slices.Sort(backs)
	slices.Sort(lookupTimes)
	res.Back = len(backs)
	if len(backs) > 0 {
		res.AllBackS = backs[len(backs)-1].Seconds()
	}
	res.BackP50S, res.BackP95S = quantile(backs, 0.5).Seconds(), quantile(backs, 0.95).Seconds()
	res.Requests, res.Shed503, res.Throttled429, res.NetworkErrors = requests.Load(), shed.Load(), throttled.Load(), network.Load()
	res.NoRetryAfter, res.OtherErrors = noRetryAfter.Load(), other.Load()
	var end, peak float64
	end, peak = rss(p.cmd.Process.Pid)
	res.ServerRSSEndMi, res.ServerRSSPeakMi = end, max(peak, float64(serverPeak.Load()))
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	res.ClientRSSPeakMi = float64(ru.Maxrss) / 1024
	res.Lookups, res.LookupFailures = len(lookupTimes), lookupFailures
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.LookupP50Ms, res.LookupP99Ms = ms(quantile(lookupTimes, 0.5)), ms(quantile(lookupTimes, 0.99))
	if len(lookupTimes) > 0 {
		res.LookupMaxMs = ms(lookupTimes[len(lookupTimes)-1])
	}

	// What must hold whatever the machine.
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("the directory exited during the storm (%v): %s", err, p.stderr)
	default:
	}
	if res.Back != len(nodes) {
		t.Errorf("%d of %d clients were back within %v; first errors: %q", res.Back, len(nodes), cfg.Deadline, res.firstErrors)
	}
	if res.NoRetryAfter > 0 {
		t.Errorf("%d refusals (429/503) came without Retry-After", res.NoRetryAfter)
	}
	if res.OtherErrors > 0 {
		t.Errorf("%d answers were neither success nor a refusal to retry: %q", res.OtherErrors, res.firstErrors)
	}
	if res.LookupFailures > 0 {
		t.Errorf("%d of %d lookups of online users failed during the storm: %q", res.LookupFailures, res.Lookups, res.firstErrors)
	}
	if res.Lookups == 0 {
		t.Error("no lookup ran during the storm")
	}
	hc := stormClient(t, p.url, pub, 200*256+16, directory.RetryPolicy{})
	if _, err := hc.Key(context.Background()); err != nil {
		t.Errorf("the directory does not answer after the storm: %v", err)
	}
	return res
}

// TestLoginStorm is the small storm of make test: 300 clients at once, a
// third of them logging in with a password at a directory of one hash slot
// and a queue of two, so that it must shed. All come back; every refusal
// carries Retry-After; lookups of online users answer throughout.
func TestLoginStorm(t *testing.T) {
	res := runStorm(t, stormConfig{
		Clients: 300, LoginPct: 34, RenewPct: 16, Online: 20, LookupRate: 50,
		Deadline: 90 * time.Second, BackoffMax: 4 * time.Second,
		Argon: crypto.PasswordParams{Memory: 8 << 10, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},
		Args:  []string{"--max-concurrent-hashes", "1", "--max-hash-queue", "2", "--max-hash-wait", "500ms", "--retry-after-min", "1s", "--retry-after-max", "2s"},
	})
	if res.Shed503 == 0 {
		t.Errorf("no login was shed by a directory of one hash slot and a queue of two under %d logins at once: the storm did not storm", res.Logins)
	}
	t.Logf("%+v", res)
}

// TestLoginStormLong is the full storm of bench-scale (PEERCALL_SCALE=1):
// 10,000 clients, the directory at its production defaults (argon2id at
// OWASP's parameters, hash slots = CPUs), nodes' backoff (1 s doubling to 2
// min). Figures go to the log and, as a JSON line, to PEERCALL_SCALE_JSON.
// STORM_CLIENTS changes the number of clients, STORM_ARGS adds flags of
// the directory (such as --max-conns 2048), STORM_HTTP=1 serves it without
// TLS.
func TestLoginStormLong(t *testing.T) {
	if os.Getenv("PEERCALL_SCALE") != "1" {
		t.Skip("the 10,000-client login storm runs with PEERCALL_SCALE=1 (make bench-scale)")
	}
	clients := 10_000
	if v, err := strconv.Atoi(os.Getenv("STORM_CLIENTS")); err == nil && v > 0 {
		clients = v
	}
	res := runStorm(t, stormConfig{
		Clients: clients, LoginPct: 5, RenewPct: 10, Online: 500, LookupRate: 200,
		Deadline: 10 * time.Minute, BackoffMax: 2 * time.Minute,
		Argon:     crypto.DefaultPasswordParams(),
		Args:      strings.Fields(os.Getenv("STORM_ARGS")),
		PlainHTTP: os.Getenv("STORM_HTTP") == "1",
	})
	line, _ := json.Marshal(res)
	t.Logf("%s", line)
	if path := os.Getenv("PEERCALL_SCALE_JSON"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fmt.Fprintf(f, "%s\n", line)
	}
	fmt.Printf("login storm: %d clients (%d log in, %d renew, %d check in), all back in %.1f s (p50 %.1f s, p95 %.1f s), %d requests, %d shed (503), %d throttled (429), %d network errors; directory CPU %.1f s, RSS peak %.0f MiB (end %.0f), generator %.0f MiB; %d lookups of online users during it: p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d failed; load before %s\n",
		res.Clients, res.Logins, res.Renewals, res.CheckinsOnly, res.AllBackS, res.BackP50S, res.BackP95S, res.Requests, res.Shed503, res.Throttled429, res.NetworkErrors,
		res.ServerCPUS, res.ServerRSSPeakMi, res.ServerRSSEndMi, res.ClientRSSPeakMi, res.Lookups, res.LookupP50Ms, res.LookupP99Ms, res.LookupMaxMs, res.LookupFailures, res.Load1)
}
