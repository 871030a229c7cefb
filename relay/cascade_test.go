package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercall/peercall/relay/turncreds"

	"github.com/peercall/peercall/internal/pionlog"

	"github.com/pion/turn/v5"

	"github.com/peercall/peercall/crypto"
)

// The December 2010 failure: a quarter of the super-nodes died and the
// rest collapsed under the load they inherited. TestNoCascade kills 30 %
// of a set of real relays at once while relayed calls flow through them:
// the calls of the dead ones move to survivors (asking each for
// credentials over the /peercall/relay/1 wire format, then allocating, in
// the caller's order of preference, as supernode.PickRelay does), the
// survivors never hold more than relay.max_sessions, every refusal is
// named (max_sessions), the calls on survivors are not disturbed, and new
// calls still set up while there is room. PEERCALL_SCALE=1 adds a larger
// network and prints its timeline (make bench-scale).

type cascadeCase struct {
	name      string
	relays    int
	cap       int // relay.max_sessions of each
	calls     int // in progress when the super-nodes die
	kill      int // how many die at once
	newCalls  int // placed after the moves
	wantMoved int // calls of the dead relays that must find a survivor (exact in the small cases)
	wantNew   int // new calls that must set up (exact in the small cases)
	large     bool
}

func TestNoCascade(t *testing.T) {
	tests := []cascadeCase{
		// 24 calls on 6 relays (4 each), 2 die: their 8 calls fit on the 4
		// survivors, and so do 6 new ones.
		{name: "room on survivors", relays: 6, cap: 10, calls: 24, kill: 2, newCalls: 6, wantMoved: 8, wantNew: 6},
		// The survivors have 1 slot each: 4 of the 8 orphaned calls move,
		// the other 4 and every new call are refused by name, and no
		// survivor takes more than its cap.
		{name: "survivors full", relays: 6, cap: 5, calls: 24, kill: 2, newCalls: 3, wantMoved: 4, wantNew: 0},
	}
	if os.Getenv("PEERCALL_SCALE") != "" {
		tests = append(tests, cascadeCase{name: "large", relays: 20, cap: 40, calls: 400, kill: 6, newCalls: 100,
			wantMoved: 120, wantNew: 100, large: true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.large && testing.Short() {
				t.Skip("the large network is not run with -short")
			}
			runCascade(t, tt)
		})
	}
}

const (
	cascadeTick      = 50 * time.Millisecond // a call's packet interval (larger than voice's 20 ms: fewer packets, same logic)
	cascadeLossAfter = time.Second           // no echo for this long: the path is lost
	cascadeAttempts  = 4                     // placement rounds before a call gives up
)

type cascadeNet struct {
	t       *testing.T
	w       *world
	relays  []*Relay
	dead    []atomic.Bool
	maxSeen []atomic.Int64 // highest session count sampled on each relay
	echo    net.PacketConn
	start   time.Time

	mu     sync.Mutex
	events []cascadeEvent
}

type cascadeEvent struct {
	At     time.Duration `json:"at_ms"`
	Call   int           `json:"call"`
	What   string        `json:"what"` // up, lost, moved, refused, new, new_refused
	Relay  int           `json:"relay"`
	Reason string        `json:"reason,omitempty"`
}

func (n *cascadeNet) event(call int, what string, relay int, reason string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, cascadeEvent{At: time.Since(n.start), Call: call, What: what, Relay: relay, Reason: reason})
}

type cascadeCall struct {
	id    int
	order []int // relays in this caller's order of preference (by RTT in the product)
	cert  *crypto.Certificate
	key   ed25519.PublicKey
	relay int
	a     *allocation
	lost  atomic.Bool
}

func runCascade(t *testing.T, tt cascadeCase) {
	n := &cascadeNet{t: t, w: newWorld(t), start: time.Now(), dead: make([]atomic.Bool, tt.relays), maxSeen: make([]atomic.Int64, tt.relays)}
	cfg := testConfig()
	cfg.MaxSessions = tt.cap
	cfg.MaxSessionsPerUser = 2
	for range tt.relays {
		n.relays = append(n.relays, startRelay(t, n.w, cfg, Options{UDPListeners: 1}))
	}
	n.echo = udpPeer(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		n.echo.Close()
		wg.Wait()
	}()
	wg.Add(2)
	go func() { defer wg.Done(); n.serveEcho() }()
	go func() { defer wg.Done(); n.sample(ctx) }()

	// The calls in progress: call i prefers relay i mod R, then the next.
	calls := make([]*cascadeCall, tt.calls)
	for i := range calls {
		calls[i] = n.newCall(t, i, tt.relays)
	}
	if err := parallel(calls, 16, func(c *cascadeCall) error {
		if !n.place(c, "up") {
			return fmt.Errorf("call %d found no relay before any died", c.id)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, r := range n.relays {
		if s := r.Stats().Sessions; s != tt.calls/tt.relays {
			t.Fatalf("relay %d holds %d sessions before the kill, want %d (spread evenly)", i, s, tt.calls/tt.relays)
		}
	}
	end := make(chan struct{})
	for _, c := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); n.talk(c, end) }()
	}
	time.Sleep(3 * cascadeTick)

	// 30 % die at once: the relay closes every allocation and its
	// listeners, and the node no longer answers credential requests.
	killedAt := time.Since(n.start)
	for i := range tt.kill {
		n.dead[i].Store(true)
	}
	for i := range tt.kill {
		if err := n.relays[i].Close(); err != nil {
			t.Errorf("kill relay %d: %v", i, err)
		}
	}
	orphans := 0
	for _, c := range calls {
		if c.relay < tt.kill {
			orphans++
		}
	}
	// Wait for every orphan to have moved or given up (bounded).
	settle := time.Now().Add(cascadeLossAfter + 10*time.Second)
	for time.Now().Before(settle) {
		moved, refused := n.count("moved"), n.count("refused")
		if moved+refused >= orphans {
			break
		}
		time.Sleep(cascadeTick)
	}
	newAt := time.Since(n.start)
	fresh := make([]*cascadeCall, tt.newCalls)
	for i := range fresh {
		fresh[i] = n.newCall(t, tt.calls+i, tt.relays)
	}
	_ = parallel(fresh, 16, func(c *cascadeCall) error {
		for attempt := 0; attempt < cascadeAttempts; attempt++ {
			if n.place(c, "new") {
				return nil
			}
			time.Sleep(backoff(attempt))
		}
		n.event(c.id, "new_refused", -1, "")
		return nil
	})
	for _, c := range fresh {
		if c.a != nil {
			wg.Add(1)
			go func() { defer wg.Done(); n.talk(c, end) }()
		}
	}
	time.Sleep(cascadeLossAfter + 2*cascadeTick) // the survivors' calls keep flowing
	close(end)
	cancel()
	n.echo.Close()
	wg.Wait()
	for _, c := range append(calls, fresh...) {
		if c.a != nil {
			c.a.Close()
		}
	}

	moved, refusedCalls, newUp := n.count("moved"), n.count("refused"), n.count("new")
	var refusedReasons []string
	for _, e := range n.snapshot() {
		if e.What == "refused" || e.What == "new_refused" || e.What == "attempt_refused" {
			if e.Reason != "" {
				refusedReasons = append(refusedReasons, e.Reason)
			}
		}
	}
	for i := tt.kill; i < tt.relays; i++ {
		if m := n.maxSeen[i].Load(); m > int64(tt.cap) {
			t.Errorf("survivor %d held %d sessions, above its cap of %d", i, m, tt.cap)
		}
	}
	for _, e := range n.snapshot() {
		if e.What == "attempt_refused" && e.Reason != string(RefusedMaxSessions) {
			t.Errorf("call %d was refused by relay %d without the named reason: %q", e.Call, e.Relay, e.Reason)
		}
	}
	for _, c := range calls {
		if c.relay >= tt.kill && c.lost.Load() && !wasOrphan(n.snapshot(), c.id, tt.kill) {
			t.Errorf("call %d on survivor %d lost its path: the survivors were disturbed", c.id, c.relay)
		}
	}
	survivorRefusals := uint64(0)
	for i := tt.kill; i < tt.relays; i++ {
		survivorRefusals += n.relays[i].Stats().Refused[RefusedMaxSessions]
	}
	report := cascadeReport{Bench: "no_cascade",
		Relays: tt.relays, Cap: tt.cap, Calls: tt.calls, Killed: tt.kill, Orphans: orphans,
		Moved: moved, RefusedCalls: refusedCalls, NewCalls: tt.newCalls, NewUp: newUp,
		SurvivorRefusedMaxSessions: survivorRefusals, KilledAtMs: ms(killedAt), NewAtMs: ms(newAt),
	}
	report.MovedP50Ms, report.MovedP95Ms, report.MovedMaxMs = n.after("moved", killedAt)
	report.NewP50Ms, report.NewP95Ms, report.NewMaxMs = n.after("new", newAt)
	for i := range n.relays {
		report.MaxSessionsSeen = append(report.MaxSessionsSeen, n.maxSeen[i].Load())
	}
	b, _ := json.Marshal(report)
	t.Logf("no cascade: %s", b)
	if tt.large {
		printCascade(report)
		if p := os.Getenv("PEERCALL_SCALE_JSON"); p != "" {
			if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintf(f, "%s\n", b)
				f.Close()
			}
		}
		if float64(moved) < 0.95*float64(tt.wantMoved) || report.MovedP95Ms > 10_000 {
			t.Errorf("%d of %d orphaned calls moved, p95 %.0f ms after the kill; want >= 95 %% within 10 s", moved, tt.wantMoved, report.MovedP95Ms)
		}
		if float64(newUp) < 0.95*float64(tt.wantNew) {
			t.Errorf("%d of %d new calls set up; want >= 95 %%", newUp, tt.wantNew)
		}
		return
	}
	if moved != tt.wantMoved || moved+refusedCalls != orphans {
		t.Errorf("of %d orphaned calls %d moved and %d were refused; want %d moved, the rest refused", orphans, moved, refusedCalls, tt.wantMoved)
	}
	if newUp != tt.wantNew {
		t.Errorf("%d of %d new calls set up, want %d", newUp, tt.newCalls, tt.wantNew)
	}
	if wantRefused := orphans - tt.wantMoved + tt.newCalls - tt.wantNew; wantRefused > 0 {
		if survivorRefusals == 0 || len(refusedReasons) == 0 {
			t.Errorf("%d calls found no room but the survivors counted %d max_sessions refusals (reasons seen: %v)", wantRefused, survivorRefusals, refusedReasons)
		}
	}
}

// cascadeReport is the outcome and timeline of one run (a JSON line).
type cascadeReport struct {
	Bench                      string  `json:"bench"` // "no_cascade"
	Relays                     int     `json:"relays"`
	Cap                        int     `json:"max_sessions"`
	Calls                      int     `json:"calls"`
	Killed                     int     `json:"killed"`
	Orphans                    int     `json:"orphaned_calls"`
	Moved                      int     `json:"moved"`
	RefusedCalls               int     `json:"orphans_refused"`
	NewCalls                   int     `json:"new_calls"`
	NewUp                      int     `json:"new_set_up"`
	SurvivorRefusedMaxSessions uint64  `json:"survivor_refused_max_sessions"`
	KilledAtMs                 float64 `json:"killed_at_ms"`
	MovedP50Ms                 float64 `json:"moved_p50_ms_after_kill"`
	MovedP95Ms                 float64 `json:"moved_p95_ms_after_kill"`
	MovedMaxMs                 float64 `json:"moved_max_ms_after_kill"`
	NewAtMs                    float64 `json:"new_calls_at_ms"`
	NewP50Ms                   float64 `json:"new_p50_ms"`
	NewP95Ms                   float64 `json:"new_p95_ms"`
	NewMaxMs                   float64 `json:"new_max_ms"`
	MaxSessionsSeen            []int64 `json:"max_sessions_seen"`
}

// printCascade prints the run's timeline as a table (make bench-scale).
func printCascade(r cascadeReport) {
	fmt.Printf("\nno cascade: %d relays (max_sessions %d), %d calls, %d relays killed at once at t=%.0f ms\n\n", r.Relays, r.Cap, r.Calls, r.Killed, r.KilledAtMs)
	fmt.Println("| what | count | p50 | p95 | max |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| orphaned calls moved to a survivor (ms after the kill) | %d of %d | %.0f | %.0f | %.0f |\n", r.Moved, r.Orphans, r.MovedP50Ms, r.MovedP95Ms, r.MovedMaxMs)
	fmt.Printf("| orphaned calls refused everywhere | %d | | | |\n", r.RefusedCalls)
	fmt.Printf("| new calls set up after the moves (ms after placing) | %d of %d | %.0f | %.0f | %.0f |\n", r.NewUp, r.NewCalls, r.NewP50Ms, r.NewP95Ms, r.NewMaxMs)
	fmt.Printf("| survivors' max_sessions refusals | %d | | | |\n", r.SurvivorRefusedMaxSessions)
	fmt.Printf("| highest session count seen per relay (cap %d) | %v | | | |\n\n", r.Cap, r.MaxSessionsSeen)
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e5) / 10 }

func wasOrphan(events []cascadeEvent, call, kill int) bool {
	for _, e := range events {
		if e.Call == call && (e.What == "up" || e.What == "new") {
			return e.Relay < kill
		}
	}
	return false
}

func (n *cascadeNet) newCall(t *testing.T, id, relays int) *cascadeCall {
	cert, key := n.w.user(t, fmt.Sprintf("caller%d", id))
	c := &cascadeCall{id: id, cert: cert, key: key, relay: -1}
	for k := range relays {
		c.order = append(c.order, (id+k)%relays)
	}
	return c
}

func (n *cascadeNet) count(what string) int {
	k := 0
	for _, e := range n.snapshot() {
		if e.What == what {
			k++
		}
	}
	return k
}

func (n *cascadeNet) snapshot() []cascadeEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.events)
}

// after is the p50, p95 and max of the times of what's events after t0.
func (n *cascadeNet) after(what string, t0 time.Duration) (p50, p95, maxMs float64) {
	var ds []time.Duration
	for _, e := range n.snapshot() {
		if e.What == what && e.At >= t0 {
			ds = append(ds, e.At-t0)
		}
	}
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	q := func(p float64) float64 { return ms(ds[int(p*float64(len(ds)-1))]) }
	return q(0.5), q(0.95), ms(ds[len(ds)-1])
}

// sample records the highest session count of each live relay.
func (n *cascadeNet) sample(ctx context.Context) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, r := range n.relays {
			if n.dead[i].Load() {
				continue
			}
			s := int64(r.Stats().Sessions)
			for {
				m := n.maxSeen[i].Load()
				if s <= m || n.maxSeen[i].CompareAndSwap(m, s) {
					break
				}
			}
		}
	}
}

// serveEcho is every call's far end: it sends each packet back.
func (n *cascadeNet) serveEcho() {
	buf := make([]byte, 256)
	for {
		k, from, err := n.echo.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = n.echo.WriteTo(buf[:k], from)
	}
}

// place finds the call a relay, in its order of preference, skipping the
// dead (unreachable) ones; it records what each refusal said. ok: the
// call's path is up (an echo came back).
func (n *cascadeNet) place(c *cascadeCall, what string) bool {
	for _, i := range c.order {
		if n.dead[i].Load() || i == c.relay {
			continue
		}
		reason, err := n.allocate(c, i)
		if err != nil {
			if reason != "" {
				n.event(c.id, "attempt_refused", i, reason)
			}
			continue
		}
		c.relay = i
		n.event(c.id, what, i, "")
		return true
	}
	return false
}

// allocate asks relay i for credentials over the wire format and makes
// the allocation; a refusal returns the relay's named reason.
func (n *cascadeNet) allocate(c *cascadeCall, i int) (reason string, err error) {
	r := n.relays[i]
	client, server := net.Pipe()
	defer client.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		defer server.Close()
		_ = server.SetDeadline(time.Now().Add(3 * time.Second))
		_ = r.ServeCredentials(server, c.key)
	}()
	_ = client.SetDeadline(time.Now().Add(3 * time.Second))
	var nonce [turncreds.NonceSize]byte
	_, _ = rand.Read(nonce[:])
	creds, err := turncreds.Request(client, c.cert, nonce)
	client.Close()
	<-served
	if err != nil {
		var re *turncreds.RemoteError
		if errors.As(err, &re) {
			return refusalIn(re.Message), err
		}
		return "", err
	}
	a, err := dialAllocation(r, creds.Username, creds.Password)
	if err != nil {
		if strings.Contains(err.Error(), "486") || strings.Contains(err.Error(), "Quota") {
			return string(RefusedMaxSessions), err // the relay's 486 is its max_sessions (or per-user) refusal
		}
		return "", err
	}
	if err := echoOnce(a, n.echo.LocalAddr(), c.id); err != nil {
		a.Close()
		return "", err
	}
	c.a = a
	return "", nil
}

// refusalIn names the refusal a super-node's message gives.
func refusalIn(msg string) string {
	for _, r := range refusalReasons {
		if strings.Contains(msg, "relay."+string(r)) || strings.Contains(msg, string(r)) {
			return string(r)
		}
	}
	return "unnamed: " + msg
}

// talk sends the call's packets and watches the echoes; when they stop
// for cascadeLossAfter it moves the call (as call/failover.go does after
// an ICE disconnect), with backoff between rounds, or gives up.
func (n *cascadeNet) talk(c *cascadeCall, end <-chan struct{}) {
	buf := make([]byte, 256)
	last := time.Now()
	for seq := uint32(0); ; seq++ {
		select {
		case <-end:
			return
		default:
		}
		if c.a == nil {
			return
		}
		pkt := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(c.id)), seq) //nolint:gosec // small
		_, _ = c.a.relay.WriteTo(pkt, n.echo.LocalAddr())
		_ = c.a.relay.SetReadDeadline(time.Now().Add(cascadeTick))
		for {
			k, _, err := c.a.relay.ReadFrom(buf)
			if err != nil {
				break
			}
			if k == 8 && binary.BigEndian.Uint32(buf) == uint32(c.id) { //nolint:gosec // small
				last = time.Now()
			}
		}
		if time.Since(last) < cascadeLossAfter {
			continue
		}
		c.lost.Store(true)
		n.event(c.id, "lost", c.relay, "")
		c.a.Close()
		c.a = nil
		for attempt := 0; attempt < cascadeAttempts; attempt++ {
			select {
			case <-end:
				n.event(c.id, "refused", -1, "test ended")
				return
			default:
			}
			if n.place(c, "moved") {
				last = time.Now()
				break
			}
			time.Sleep(backoff(attempt))
		}
		if c.a == nil {
			n.event(c.id, "refused", -1, "")
			return
		}
	}
}

// backoff is the jittered pause before placement round attempt+1: callers
// that all lost their super-node at once must not come back at once.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << attempt
	return d/2 + mrand.N(d) //nolint:gosec // jitter
}

// dialAllocation is allocate without a testing.TB: a UDP allocation on r.
func dialAllocation(r *Relay, username, password string) (*allocation, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: r.Addrs().UDP.String(), Conn: conn, Username: username, Password: password,
		RTO: 200 * time.Millisecond, LoggerFactory: pionlog.New(quietLogger(), pionlog.Server),
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	a := &allocation{client: client, conn: conn}
	if err := client.Listen(); err != nil {
		a.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if a.relay, err = client.AllocateWithContext(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// echoOnce sends until the first echo comes back (permission and
// channel set up), up to 3 s.
func echoOnce(a *allocation, peer net.Addr, id int) error {
	buf := make([]byte, 256)
	pkt := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(id)), math.MaxUint32) //nolint:gosec // small
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := a.relay.WriteTo(pkt, peer); err != nil {
			return err
		}
		_ = a.relay.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if k, _, err := a.relay.ReadFrom(buf); err == nil && k == 8 {
			return a.waitChannelBound(peer)
		}
	}
	return errors.New("no echo through the new allocation in 3 s")
}

// parallel runs f on every call, k at a time, and returns the first error.
func parallel(calls []*cascadeCall, k int, f func(*cascadeCall) error) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, k)
	errs := make([]error, len(calls))
	for i, c := range calls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f(c)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
