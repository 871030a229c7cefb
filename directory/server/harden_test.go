package server

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercall/peercall/directory"
	"github.com/peercall/peercall/directory/lookalike"
)

// clock is a settable clock for Config.Now.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// clientFrom is an HTTP client whose connections come from the loopback
// address local (every 127.x.y.z is an address of its own).
func clientFrom(t *testing.T, local string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// doWith is do through client c.
func (d *testDir) doWith(c *http.Client, method, path string, v any) answer {
	d.t.Helper()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			d.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.url+path, body)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		d.t.Errorf("%s %s: %v", method, path, err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestRegistrationBudgetCountsOnlySuccesses: a campus behind one address
// trying taken names does not use up its registrations.
func TestRegistrationBudgetCountsOnlySuccesses(t *testing.T) {
	d := newTestDir(t, func(c *Config) {
		l := DefaultLimits()
		l.RegistrationsPerAddr = 3
		c.Limits = l
	})
	campus, other := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")
	reg := func(c *http.Client, name string) int {
		return d.doWith(c, http.MethodPost, "/v1/register", directory.RegisterRequest{Username: name, Password: "a long password"}).status
	}
	if got := reg(campus, "taken"); got != http.StatusCreated {
		t.Fatalf("first registration: %d", got)
	}
	for i := range 25 {
		if got := reg(campus, "taken"); got != http.StatusConflict {
			t.Fatalf("taken name, attempt %d: %d, want 409 (a failed registration costs nothing)", i, got)
		}
		if got := reg(campus, "short"); got != http.StatusCreated && i == 0 || got != http.StatusCreated && got != http.StatusConflict {
			t.Fatalf("attempt %d of a name: %d", i, got)
		}
	}
	// taken and short count: one more success fits in the budget of 3.
	if got := reg(campus, "third"); got != http.StatusCreated {
		t.Fatalf("third successful registration: %d, want 201", got)
	}
	if got := reg(campus, "fourth"); got != http.StatusTooManyRequests {
		t.Fatalf("fourth successful registration: %d, want 429", got)
	}
	if got := reg(other, "fourth"); got != http.StatusCreated {
		t.Fatalf("registration from another address: %d, want 201", got)
	}
}

// TestLookAlikeNamesRefused: next to existing names, their look-alikes are
// answered as taken, with suggestions that are free.
func TestLookAlikeNamesRefused(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			d := newTestDirOn(t, b, func(c *Config) {
				l := DefaultLimits()
				l.RegistrationsPerAddr = 1000
				c.Limits = l
			})
			for _, n := range []string{"alice", "bob", "paypal", "\u00f8bama"} {
				if a := d.register(n, "a long password"); a.status != http.StatusCreated {
					t.Fatalf("register %q: %d %q", n, a.status, a.body)
				}
			}
			for _, tc := range []struct{ name, like string }{
				{"\u0430lice", "alice"},                       // Cyrillic а
				{"alic\u0435", "alice"},                       // Cyrillic е
				{"b\u043eb", "bob"},                           // Cyrillic о
				{"\u0440\u0430\u0443\u0440\u0430l", "paypal"}, // Cyrillic р а у р а
				{"o\u0338bama", "\u00f8bama"},                 // o + combining U+0338
				{"\u0251lice", "alice"},                       // Latin alpha, one script
				{"paypa1", "paypal"},
			} {
				a := d.register(tc.name, "a long password")
				e := a.errorBody(t)
				if a.status != http.StatusConflict || e.Error != directory.CodeNameTaken || !strings.Contains(e.Message, tc.like) {
					t.Errorf("register %q next to %q: %d %+v, want 409 name_taken naming %q", tc.name, tc.like, a.status, e, tc.like)
					continue
				}
				checkFree(t, d, tc.name, e.Suggestions)
			}
			// A suggestion really is free: the first one registers.
			e := d.register("\u0430lice", "a long password").errorBody(t)
			if a := d.register(e.Suggestions[0], "a long password"); a.status != http.StatusCreated {
				t.Errorf("suggested %q: %d %q", e.Suggestions[0], a.status, a.body)
			}
			// A mixed-script name that looks like nothing taken is refused for
			// its scripts.
			a := d.register("\u0430licia", "a long password")
			if e := a.errorBody(t); a.status != http.StatusBadRequest || e.Error != directory.CodeInvalidUsername || !strings.Contains(e.Message, "Cyrillic") {
				t.Errorf("register a Latin-Cyrillic name: %d %+v, want 400 invalid_username naming the scripts", a.status, e)
			}
			m := string(d.do(http.MethodGet, "/metrics", nil).body)
			for _, want := range []string{`peercall_directory_registrations_total{result="look_alike"}`, `peercall_directory_registrations_total{result="mixed_scripts"} 1`} {
				if !strings.Contains(m, want) {
					t.Errorf("metrics lack %s", want)
				}
			}
		})
	}
}

// checkFree checks that suggestions for name are at least 3, not taken,
// like no taken name nor each other, and in one script.
func checkFree(t *testing.T, d *testDir, name string, suggestions []string) {
	t.Helper()
	if len(suggestions) < minSuggestions {
		t.Errorf("for %q: %d suggestions %q, want at least %d", name, len(suggestions), suggestions, minSuggestions)
	}
	skels := map[string]bool{}
	var sks []string
	for _, s := range suggestions {
		sk := lookalike.Skeleton(s)
		if skels[sk] {
			t.Errorf("for %q: suggestions %q hold two look-alikes", name, suggestions)
		}
		skels[sk] = true
		sks = append(sks, sk)
		if err := lookalike.CheckScripts(s); err != nil {
			t.Errorf("for %q: suggestion %q: %v", name, s, err)
		}
	}
	taken, err := d.store.Taken(t.Context(), suggestions)
	if err != nil {
		t.Fatal(err)
	}
	owners, err := d.store.SkeletonOwners(t.Context(), sks)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range suggestions {
		if taken[s] {
			t.Errorf("for %q: suggestion %q is taken", name, s)
		}
	}
	if len(owners) > 0 {
		t.Errorf("for %q: suggestions look like taken names: %q", name, owners)
	}
}

// TestConcurrentLookAlikeRegistrations: of look-alike names registered at
// once, one wins.
func TestConcurrentLookAlikeRegistrations(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			d := newTestDirOn(t, b, func(c *Config) {
				l := DefaultLimits()
				l.RegistrationsPerAddr = 1000
				l.MaxHashQueue = 100
				l.MaxHashWait = 30 * time.Second
				c.Limits = l
			})
			names := []string{"alice", "\u0251lice", "a1ice", "al\u0131ce"}
			answers := make([]answer, 24)
			var wg sync.WaitGroup
			for i := range answers {
				wg.Go(func() { answers[i] = d.register(names[i%len(names)], "a long password") })
			}
			wg.Wait()
			created := 0
			for i, a := range answers {
				switch a.status {
				case http.StatusCreated:
					created++
				case http.StatusConflict:
				default:
					t.Errorf("register %q: %d %q, want 201 or 409", names[i%len(names)], a.status, a.body)
				}
			}
			if created != 1 {
				t.Fatalf("%d of the look-alike registrations succeeded, want 1", created)
			}
		})
	}
}

// TestNameBudgetSurvivesFlood: after four wrong guesses at the victim's
// password, a flood of 70,000 logins of random names (through the
// throttle, from 1,400 addresses, with the clock moving 10.7 s) neither
// evicts nor resets the victim's name budget: one guess is left, as before
// the flood. Logins the address budget refuses never touch a name.
func TestNameBudgetSurvivesFlood(t *testing.T) {
	clk := newClock()
	d := newTestDir(t, func(c *Config) { c.Now = clk.now })
	if a := d.register("victim", "the victim's password"); a.status != http.StatusCreated {
		t.Fatal(a.status, string(a.body))
	}
	attacker := clientFrom(t, "127.0.0.2")
	guess := func(c *http.Client) int {
		return d.doWith(c, http.MethodPost, "/v1/login", loginRequest("victim", "a wrong guess", newNodeKey(t), clk.now())).status
	}
	for i := range 4 {
		if got := guess(attacker); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, got)
		}
	}
	const addrs, perAddr, admittedPerAddr = 1400, 60, 50
	step := 10700 * time.Millisecond / (addrs * perAddr)
	key := make([]byte, 32)
	refused, overflowRefused := 0, 0
	for a := range addrs {
		addr := fmt.Sprintf("127.1.%d.%d", a/250, a%250+1)
		for i := range perAddr {
			name := fmt.Sprintf("rnd%d_%d", a, i)
			clk.advance(step)
			_, aerr := d.srv.admitLogin(clk.now(), addr, name, key, false)
			full := d.srv.loginsByName.Len() >= DefaultLimits().MaxTrackedKeys
			switch {
			case i < admittedPerAddr && aerr != nil && full && strings.Contains(aerr.message, name):
				// The name table is full of spent budgets: newcomers share
				// the overflow budget, which ran out.
				overflowRefused++
			case i < admittedPerAddr && aerr != nil:
				t.Fatalf("flood login %d from %s refused: %v", i, addr, aerr)
			case i >= admittedPerAddr && (aerr == nil || aerr.status != http.StatusTooManyRequests):
				t.Fatalf("flood login %d from %s past the address budget: %v, want 429", i, addr, aerr)
			case aerr != nil:
				refused++
				if a == 0 && d.srv.loginsByName.Has(name) {
					t.Fatalf("a login the address budget refused recorded its name %q", name)
				}
			}
		}
	}
	if n := d.srv.loginsByName.Len(); n > DefaultLimits().MaxTrackedKeys {
		t.Fatalf("the name table holds %d names, bound %d", n, DefaultLimits().MaxTrackedKeys)
	}
	t.Logf("flood: %d logins passed their address, %d refused by it; %d refused by the exhausted overflow budget; name table holds %d",
		addrs*admittedPerAddr, refused, overflowRefused, d.srv.loginsByName.Len())
	if overflowRefused == 0 {
		t.Error("70,000 names did not fill the name table of 65,536")
	}
	// One guess left, as before the flood; then the name is throttled.
	other := clientFrom(t, "127.0.0.3")
	if got := guess(other); got != http.StatusUnauthorized {
		t.Fatalf("fifth guess after the flood: %d, want 401", got)
	}
	if got := guess(other); got != http.StatusTooManyRequests {
		t.Fatalf("sixth guess after the flood: %d, want 429: the flood reset the victim's budget", got)
	}
	if m := string(d.do(http.MethodGet, "/metrics", nil).body); !strings.Contains(m, `peercall_directory_throttle_overflow_total{table="name"}`) {
		t.Errorf("metrics do not count the overflow of the name table")
	}
}

// TestNameBudgetSurvivesHTTPFlood is the flood over real sockets: 2,200
// logins of random names from 40 loopback addresses, against a name table
// of 300.
func TestNameBudgetSurvivesHTTPFlood(t *testing.T) {
	d := newTestDir(t, func(c *Config) {
		l := DefaultLimits()
		l.MaxTrackedKeys = 300
		l.MaxConcurrentHashes = 4
		l.MaxHashQueue = 64
		l.MaxHashWait = 30 * time.Second
		c.Limits = l
	})
	if a := d.register("victim", "the victim's password"); a.status != http.StatusCreated {
		t.Fatal(a.status, string(a.body))
	}
	attacker := clientFrom(t, "127.0.0.2")
	guess := func(c *http.Client) int {
		return d.doWith(c, http.MethodPost, "/v1/login", loginRequest("victim", "a wrong guess", newNodeKey(t), time.Now())).status
	}
	for range 4 {
		guess(attacker)
	}
	node := newNodeKey(t)
	var wg sync.WaitGroup
	var unauthorized, throttled atomic.Int64
	for a := range 40 {
		wg.Go(func() {
			c := clientFrom(t, fmt.Sprintf("127.0.2.%d", a+1))
			for i := range 55 {
				st := d.doWith(c, http.MethodPost, "/v1/login", loginRequest(fmt.Sprintf("rnd%d_%d", a, i), "a wrong guess", node, time.Now())).status
				switch st {
				case http.StatusUnauthorized:
					unauthorized.Add(1)
				case http.StatusTooManyRequests:
					throttled.Add(1)
				default:
					t.Errorf("flood login: %d", st)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("HTTP flood: %d answered 401, %d 429", unauthorized.Load(), throttled.Load())
	// The table of 300 fills up; then newcomers share the overflow budget.
	if unauthorized.Load() < 250 || throttled.Load() == 0 {
		t.Fatalf("the flood had %d failures and %d refusals; want the table filled, and refusals", unauthorized.Load(), throttled.Load())
	}
	if m := string(d.do(http.MethodGet, "/metrics", nil).body); !strings.Contains(m, `peercall_directory_throttle_overflow_total{table="name"}`) {
		t.Errorf("metrics do not count the overflow of the name table")
	}
	other := clientFrom(t, "127.0.0.3")
	if got := guess(other); got != http.StatusUnauthorized {
		t.Fatalf("fifth guess after the flood: %d, want 401", got)
	}
	if got := guess(other); got != http.StatusTooManyRequests {
		t.Fatalf("sixth guess after the flood: %d, want 429: the flood reset the victim's budget", got)
	}
}

// TestOwnerLogsInDuringGuessingAttack: four wrong guesses and then one
// every three minutes keep the name throttled, from the owner's own
// address too, yet the owner logs in from his own machine (a key the
// account had certified) every time; that machine's budget is its own.
func TestOwnerLogsInDuringGuessingAttack(t *testing.T) {
	clk := newClock()
	d := newTestDir(t, func(c *Config) {
		c.Now = clk.now
		l := DefaultLimits()
		l.LoginFailuresPerAddr = 5
		c.Limits = l
	})
	if a := d.register("owner", "the owner's password"); a.status != http.StatusCreated {
		t.Fatal(a.status, string(a.body))
	}
	home := clientFrom(t, "127.0.0.1")
	laptop := newNodeKey(t)
	login := func(c *http.Client, password string, key ed25519.PrivateKey) answer {
		return d.doWith(c, http.MethodPost, "/v1/login", loginRequest("owner", password, key, clk.now()))
	}
	if a := login(home, "the owner's password", laptop); a.status != http.StatusOK {
		t.Fatalf("owner's first login: %d %q", a.status, a.body)
	}
	// The attacker shares the owner's address (one NAT) and guesses until
	// both the address and the name are throttled.
	for i := range 4 {
		if a := login(home, "a wrong guess", newNodeKey(t)); a.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, a.status)
		}
	}
	if a := login(home, "a wrong guess", newNodeKey(t)); a.status != http.StatusTooManyRequests {
		t.Fatalf("fifth guess: %d, want 429", a.status)
	}
	if a := login(home, "the owner's password", newNodeKey(t)); a.status != http.StatusTooManyRequests {
		t.Fatalf("the right password from a new machine during the attack: %d, want 429 (the attack works on new machines)", a.status)
	}
	for round := range 5 {
		clk.advance(3 * time.Minute)
		login(home, "a wrong guess", newNodeKey(t))
		if a := login(home, "the owner's password", laptop); a.status != http.StatusOK {
			t.Fatalf("round %d: the owner from his own machine: %d %q, want 200", round, a.status, a.body)
		}
	}
	// The machine's budget is real: wrong passwords from it run it out
	// (from full: a window later).
	clk.advance(16 * time.Minute)
	for i := range 5 {
		if a := login(home, "the owner mistypes", laptop); a.status != http.StatusUnauthorized {
			t.Fatalf("own machine, wrong password %d: %d", i, a.status)
		}
	}
	a := login(home, "the owner's password", laptop)
	if e := a.errorBody(t); a.status != http.StatusTooManyRequests || !strings.Contains(e.Message, "this machine") {
		t.Fatalf("own machine after five failures: %d %+v, want 429 naming this machine", a.status, e)
	}
	if m := string(d.do(http.MethodGet, "/metrics", nil).body); !strings.Contains(m, `peercall_directory_throttled_total{limit="device"} 1`) {
		t.Errorf("metrics do not count the machine's throttling")
	}
}
