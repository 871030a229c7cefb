package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/internal/pgtest"
)

// Directory replicas: several peercall-directory processes on one
// PostgreSQL database, sharing one signing key (one --data directory here;
// operators copy directory.key), reached round robin by the client.

// cheapHashes keeps the replicas' argon2id cheap: these tests are about the
// database, not the hash.
var cheapHashes = []string{"--argon2-memory-kib", "64", "--argon2-time", "1", "--argon2-threads", "1"}

// startReplicas starts n directory processes on the PostgreSQL schema dsn,
// each with extra flags of its own (extra[i], when given).
func startReplicas(t *testing.T, n int, dsn string, extra ...[]string) []*proc {
	t.Helper()
	data := t.TempDir()
	var ps []*proc
	for i := range n {
		args := append([]string{"--insecure-http", "--listen", "127.0.0.1:0", "--data", data, "--db", dsn}, cheapHashes...)
		if i < len(extra) {
			args = append(args, extra[i]...)
		}
		p := start(t, args...)
		if i > 0 && p.key != ps[0].key {
			t.Fatalf("replica %d printed key %q, replica 0 %q: replicas must share directory.key", i, p.key, ps[0].key)
		}
		ps = append(ps, p)
	}
	return ps
}

// try is one request that may fail on the network (a killed replica):
// status 0 and the error then.
func try(c *http.Client, method, url string, v any) (int, http.Header, []byte, error) {
	var body io.Reader
	if v != nil {
		b, _ := json.Marshal(v)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, nil, nil, err
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, b, nil
}

// loginRequest is a login of a new machine key.
func loginRequest(t *testing.T, name, password string) directory.LoginRequest {
	node, err := crypto.GenerateKey()
	if err != nil {
		t.Error(err)
	}
	pk := crypto.EncodePublicKey(node.Public().(ed25519.PublicKey))
	now := time.Now()
	return directory.LoginRequest{Username: name, Password: password, PeerKey: pk, Time: now,
		Proof: ed25519.Sign(node, directory.LoginProofMessage(name, pk, now))}
}

func errorCode(b []byte) string {
	var e directory.ErrorResponse
	json.Unmarshal(b, &e)
	return e.Error
}

// TestReplicasRegistrationRace: 50 registrations of one name at once,
// spread over three replicas, have exactly one winner; the 49 others are
// told the name is taken, whichever replica they reached.
func TestReplicasRegistrationRace(t *testing.T) {
	dsn := pgtest.SchemaDSN(t)
	reps := startReplicas(t, 3, dsn, nil, nil, nil)
	tr := &http.Transport{MaxIdleConnsPerHost: 50}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	const racers = 50
	type answer struct {
		status int
		code   string
		err    error
	}
	answers := make([]answer, racers)
	var ready, wg sync.WaitGroup
	ready.Add(racers)
	gate := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			ready.Done()
			<-gate
			url := reps[i%len(reps)].url + "/v1/register"
			status, _, b, err := try(c, "POST", url, directory.RegisterRequest{Username: "Racer", Password: fmt.Sprintf("password number %d", i)})
			answers[i] = answer{status, errorCode(b), err}
		})
	}
	ready.Wait()
	close(gate)
	wg.Wait()
	winners := 0
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("racer %d (replica %d): %v", i, i%len(reps), a.err)
		case a.status == http.StatusCreated:
			winners++
		case a.status == http.StatusConflict && a.code == directory.CodeNameTaken:
		default:
			t.Errorf("racer %d (replica %d): %d %q, want 201 or 409 %s", i, i%len(reps), a.status, a.code, directory.CodeNameTaken)
		}
	}
	if winners != 1 {
		t.Fatalf("%d registrations of one name succeeded across %d replicas, want exactly 1", winners, len(reps))
	}
	// Every replica now sees the one account.
	for i, p := range reps {
		if status, _, b, err := try(c, "GET", p.url+"/v1/users/racer", nil); err != nil || status != http.StatusOK {
			t.Errorf("replica %d: lookup of the winner: %d %s %v", i, status, b, err)
		}
	}
}

// TestReplicaKilledLosesNoAcknowledgedWrite: clients register and log in
// round robin over two replicas; one replica is killed with SIGKILL while
// requests are in flight. Every registration answered 201 and every
// certificate answered 200, by either replica, is found afterwards through
// the survivor.
func TestReplicaKilledLosesNoAcknowledgedWrite(t *testing.T) {
	dsn := pgtest.SchemaDSN(t)
	// The registration budget is per replica and per address: the test
	// registers more than the default from 127.0.0.1.
	limits := []string{"--registrations-per-addr", "100000", "--login-failures-per-addr", "100000"}
	reps := startReplicas(t, 2, dsn, limits, limits)
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	const workers, perWorker, killAfter = 8, 30, 40
	var (
		mu      sync.Mutex
		names   []string           // registrations acknowledged
		certs   = map[string]int{} // certificates acknowledged, per name
		acked   atomic.Int64
		killed  = make(chan struct{})
		refused atomic.Int64 // requests the dead replica did not answer
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if acked.Load() >= killAfter {
					select {
					case <-killed:
					default:
						mu.Lock() // one worker kills, the others go on
						select {
						case <-killed:
						default:
							reps[0].cmd.Process.Signal(syscall.SIGKILL)
							close(killed)
						}
						mu.Unlock()
					}
				}
				name := fmt.Sprintf("durable%d-%d", w, i)
				password := "password of " + name
				p := reps[(w+i)%2]
				status, _, b, err := try(c, "POST", p.url+"/v1/register", directory.RegisterRequest{Username: name, Password: password})
				if err != nil {
					refused.Add(1)
					continue
				}
				if status != http.StatusCreated {
					t.Errorf("register %s: %d %s", name, status, b)
					continue
				}
				mu.Lock()
				names = append(names, name)
				mu.Unlock()
				acked.Add(1)
				// The login goes to the other replica (dead or not).
				p = reps[(w+i+1)%2]
				status, _, b, err = try(c, "POST", p.url+"/v1/login", loginRequest(t, name, password))
				if err != nil {
					refused.Add(1)
					continue
				}
				if status != http.StatusOK {
					t.Errorf("login %s: %d %s", name, status, b)
					continue
				}
				mu.Lock()
				certs[name]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("only %d registrations were acknowledged; the replica was never killed", acked.Load())
	}
	if code := reps[0].wait(t); code != -1 {
		t.Fatalf("killed replica exit code %d, want -1 (SIGKILL)", code)
	}
	if refused.Load() == 0 {
		t.Fatalf("no request failed on the killed replica: the kill did not happen under load")
	}
	survivor := reps[1]
	for _, name := range names {
		status, _, b, err := try(c, "GET", survivor.url+"/v1/users/"+name, nil)
		if err != nil || status != http.StatusOK {
			t.Errorf("acknowledged registration %s is lost: %d %s %v", name, status, b, err)
			continue
		}
		var u directory.UserResponse
		if err := json.Unmarshal(b, &u); err != nil {
			t.Errorf("lookup %s: %v", name, err)
			continue
		}
		if len(u.Certificates) < certs[name] {
			t.Errorf("%s: %d acknowledged certificates, the survivor lists %d", name, certs[name], len(u.Certificates))
		}
	}
	t.Logf("%d registrations and %d logins acknowledged, %d requests failed on the killed replica", len(names), len(certs), refused.Load())
}

// TestReplicasThrottleAndShedPerReplica: each replica keeps its own
// throttling budgets and hash slots (docs/operator.md, "SQLite or
// PostgreSQL"): failed logins of one name are refused by each replica once
// its own budget is spent (so N replicas allow at most N times the budget),
// with Retry-After; a replica whose hash slots are full sheds with a
// jittered Retry-After in its bounds while another replica still logs
// users in.
func TestReplicasThrottleAndShedPerReplica(t *testing.T) {
	dsn := pgtest.SchemaDSN(t)
	const perName = 2
	common := []string{"--login-failures-per-name", strconv.Itoa(perName), "--retry-after-min", "2s", "--retry-after-max", "4s"}
	// Replica 1 has one hash slot and no queue: two logins at once shed one.
	// Replica 0 hashes the passwords it registers at 16 MiB, so that
	// verifying one takes long enough (tens of ms) for logins to overlap.
	costly := append([]string{"--argon2-memory-kib", "16384", "--argon2-time", "2"}, common...)
	reps := startReplicas(t, 2, dsn, costly, append([]string{"--max-concurrent-hashes", "1", "--max-hash-queue", "0"}, common...))
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	if status, _, b, err := try(c, "POST", reps[0].url+"/v1/register", directory.RegisterRequest{Username: "guessed", Password: "the right password"}); err != nil || status != http.StatusCreated {
		t.Fatalf("register: %d %s %v", status, b, err)
	}

	t.Run("login budget per replica", func(t *testing.T) {
		failures := make([]int, len(reps))
		for attempt := range 4 * perName {
			i := attempt % len(reps)
			status, h, b, err := try(c, "POST", reps[i].url+"/v1/login", loginRequest(t, "guessed", "a wrong password"))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case status == http.StatusUnauthorized:
				failures[i]++
			case status == http.StatusTooManyRequests && errorCode(b) == directory.CodeThrottled:
				if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("replica %d: 429 with Retry-After %q, want whole seconds >= 1", i, h.Get("Retry-After"))
				}
			default:
				t.Fatalf("replica %d: wrong password answered %d %s", i, status, b)
			}
		}
		for i, f := range failures {
			if f != perName {
				t.Errorf("replica %d answered %d wrong passwords before throttling, want its own budget %d", i, f, perName)
			}
		}
	})

	t.Run("shedding per replica", func(t *testing.T) {
		// One user per login of a burst, so that no name budget refuses.
		const burstSize = 16
		for i := range burstSize + 1 {
			name := fmt.Sprintf("busy%d", i)
			if status, _, b, err := try(c, "POST", reps[0].url+"/v1/register", directory.RegisterRequest{Username: name, Password: "busy's password"}); err != nil || status != http.StatusCreated {
				t.Fatalf("register %s: %d %s %v", name, status, b, err)
			}
		}
		// Bursts of logins at replica 1 until one is shed (a burst of 16
		// on one slot sheds at once; bounded at 5 bursts).
		shed := 0
		for burst := 0; burst < 5 && shed == 0; burst++ {
			var wg sync.WaitGroup
			var mu sync.Mutex
			for i := range burstSize {
				wg.Go(func() {
					status, h, b, err := try(c, "POST", reps[1].url+"/v1/login", loginRequest(t, fmt.Sprintf("busy%d", i), "busy's password"))
					if err != nil {
						t.Error(err)
						return
					}
					switch status {
					case http.StatusOK:
					case http.StatusServiceUnavailable:
						ra, err := strconv.Atoi(h.Get("Retry-After"))
						if errorCode(b) != directory.CodeOverloaded || err != nil || ra < 2 || ra > 4 {
							t.Errorf("shed login: %s, Retry-After %q; want %s and 2..4 s", b, h.Get("Retry-After"), directory.CodeOverloaded)
						}
						mu.Lock()
						shed++
						mu.Unlock()
					default:
						t.Errorf("login at the busy replica: %d %s", status, b)
					}
				})
			}
			wg.Wait()
		}
		if shed == 0 {
			t.Fatal("a replica with one hash slot and no queue shed none of 5 bursts of 16 logins")
		}
		// The other replica's slots are its own: it logs in.
		if status, _, b, err := try(c, "POST", reps[0].url+"/v1/login", loginRequest(t, fmt.Sprintf("busy%d", burstSize), "busy's password")); err != nil || status != http.StatusOK {
			t.Fatalf("login at the other replica: %d %s %v", status, b, err)
		}
	})
}
