package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/control"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/internal/netlab"
	"github.com/peercall/peercall/internal/testaudio"
)

const (
	peercallPkg  = "github.com/peercall/peercall/cmd/peercall"
	directoryPkg = "github.com/peercall/peercall/cmd/peercall-directory"

	// password is every lab user's password (piped with --password-stdin).
	password = "correct horse battery staple"
	// directoryPort is the directory's HTTPS port (docs/ports.md's 7443).
	directoryPort = 7443
	// callDuration is how long each scenario's call lasts once connected.
	callDuration = 3 * time.Second
	// startWait bounds the start of a process (directory, node) and each
	// CLI command but `call`.
	startWait = 30 * time.Second
	// callWait bounds one `peercall call`: lookup, setup, the call and the
	// node's shutdown, on a loaded 2-core machine.
	callWait = 90 * time.Second
	// slowSetup is the call setup time above which the caller's log is
	// shown, to tell why.
	slowSetup = 10 * time.Second
)

// speechPath is the absolute path of a testaudio recording ("alice" or
// "bob"), for wav: specs (processes run in other directories).
func speechPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testaudio", "testdata", name+".wav"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("speech recording %s: %v", name, err)
	}
	return p
}

// world is one lab with a running directory on the internet segment and
// the peercall binaries built.
type world struct {
	t        *testing.T
	lab      *netlab.Lab
	inet     *netlab.Segment
	bin      string // peercall
	dirHost  *netlab.Host
	dir      *netlab.Process
	dirURL   string
	dirKey   string
	started  time.Time
	scenario int
	// profile is the impairment of the end users' access links
	// (PEERCALL_LAB_PROFILE; nil: none), noFEC whether their nodes send
	// without Opus FEC (the profile's ":plc" suffix).
	profile *netlab.Profile
	noFEC   bool
}

// newWorld builds the lab's internet, starts peercall-directory on a host
// called "directory" there and returns the world. It skips the test only
// when netlab cannot run (not root, ip or iptables missing).
func newWorld(t *testing.T, scenario int) *world {
	t.Helper()
	return newWorldDirPort(t, scenario, directoryPort)
}

// newWorldDirPort is newWorld with the directory on another TCP port (443
// for users behind a firewall that lets only 443 out).
func newWorldDirPort(t *testing.T, scenario, port int) *world {
	t.Helper()
	lab := netlab.New(t)
	w := &world{t: t, lab: lab, inet: lab.Internet(), started: time.Now(), scenario: scenario}
	w.profile, w.noFEC = labProfile(t)
	w.bin = netlab.BuildBinary(t, peercallPkg)
	dirBin := netlab.BuildBinary(t, directoryPkg)
	w.dirHost = lab.Host("directory", w.inet)
	listen := fmt.Sprintf("%s:%d", w.dirHost.Addr(), port)
	w.dir = w.dirHost.Start(nil, dirBin, "--data", t.TempDir(), "--listen", listen)
	ctx, cancel := context.WithTimeout(t.Context(), startWait)
	defer cancel()
	if err := w.dir.WaitFor(ctx, "listening on"); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(w.dir.Output(), "\n") {
		if k, ok := strings.CutPrefix(line, "directory key: "); ok {
			w.dirKey = strings.TrimSpace(k)
		}
	}
	if w.dirKey == "" {
		t.Fatalf("peercall-directory printed no \"directory key:\" line:\n%s", w.dir.Output())
	}
	w.dirURL = "https://" + listen
	return w
}

// user is one account with its own home directory, used from one host.
type user struct {
	w    *world
	name string
	host *netlab.Host
	// router is the NAT the user is behind (natClient), else nil.
	router *netlab.Router
	home   string
	node   *netlab.Process // the running node (run), if started
	// heard is the WAV file the running node records incoming calls to.
	heard string
}

// settings are config.toml settings by section ("network", "relay") and
// key, written as given (the test does not depend on home.Config having a
// field for each, so a missing one shows as peercall's own "unknown
// setting" error).
type settings map[string]map[string]any

// user creates name's home on host h, pins the directory (init), adds
// set (nil: none) to config.toml, registers and logs in.
func (w *world) user(name string, h *netlab.Host, set settings) *user {
	t := w.t
	t.Helper()
	u := &user{w: w, name: name, host: h, home: filepath.Join(t.TempDir(), name)}
	if err := os.MkdirAll(u.home, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), startWait)
	defer cancel()
	u.must(ctx, "", "init", "--directory", w.dirURL, "--directory-key", w.dirKey)
	if len(set) > 0 {
		u.configure(set)
	}
	for _, cmd := range []string{"register", "login"} {
		r, err := u.cli(ctx, password+"\n", cmd, name, "--password-stdin")
		if err == nil && r.code != 0 && strings.Contains(r.stderr, "unknown setting") {
			first, _, _ := strings.Cut(strings.TrimSpace(r.stderr), "\n")
			t.Fatalf("%s on %s: peercall %s refuses config.toml settings the scenario needs (%v): %s", name, h, cmd, set, first)
		}
		if err != nil || r.code != 0 {
			t.Fatalf("%s on %s: peercall %s: exit %d, %v\nstdout: %s\nstderr: %s", name, h, cmd, r.code, err, r.stdout, r.stderr)
		}
	}
	return u
}

// configure merges set into the user's config.toml.
func (u *user) configure(set settings) {
	t := u.w.t
	t.Helper()
	path := filepath.Join(u.home, home.ConfigFile)
	cfg := map[string]any{}
	if _, err := toml.DecodeFile(path, &cfg); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	for section, kv := range set {
		sec, _ := cfg[section].(map[string]any)
		if sec == nil {
			sec = map[string]any{}
			cfg[section] = sec
		}
		for k, v := range kv {
			sec[k] = v
		}
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		t.Fatalf("encode %s: %v", path, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cliResult is one finished peercall command.
type cliResult struct {
	code           int
	stdout, stderr string
	wall           time.Duration
}

// cli runs peercall --home HOME args... on the user's host with stdin.
func (u *user) cli(ctx context.Context, stdin string, args ...string) (cliResult, error) {
	cmd := u.host.Command(ctx, u.w.bin, append([]string{"--home", u.home}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := cliResult{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String(), wall: time.Since(start)}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = nil // the exit code says it
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return r, err
}

// must runs a peercall command that has to succeed.
func (u *user) must(ctx context.Context, stdin string, args ...string) cliResult {
	u.w.t.Helper()
	r, err := u.cli(ctx, stdin, args...)
	if err != nil || r.code != 0 {
		u.w.t.Fatalf("%s on %s: peercall %s: exit %d, %v\nstdout: %s\nstderr: %s", u.name, u.host, strings.Join(args, " "), r.code, err, r.stdout, r.stderr)
	}
	return r
}

// run starts `peercall run --auto-answer` for the user, answering with
// the speech recording `says` and recording what it hears to u.heard, with
// extra flags; it returns once the node listens on its control socket.
func (u *user) run(says string, extra ...string) *netlab.Process {
	t := u.w.t
	t.Helper()
	u.heard = filepath.Join(t.TempDir(), u.name+"-heard.wav")
	args := append([]string{"--home", u.home, "-v", "run", "--auto-answer",
		"--audio-in", "wav:" + speechPath(t, says), "--audio-out", "wav:" + u.heard}, extra...)
	if u.w.noFEC {
		args = append(args, "--no-fec")
	}
	u.node = u.host.Start(nil, u.w.bin, args...)
	if dir := os.Getenv("PEERCALL_LAB_LOGS"); dir != "" {
		// Every node's whole log, for reading where a call's time went.
		node, name := u.node, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-"+u.name+".log"
		t.Cleanup(func() { _ = os.WriteFile(filepath.Join(dir, name), []byte(node.Output()), 0o644) })
	}
	ctx, cancel := context.WithTimeout(t.Context(), startWait)
	defer cancel()
	if err := u.node.WaitFor(ctx, "control socket"); err != nil {
		t.Fatal(err)
	}
	return u.node
}

// summary is `call --json`'s object (docs/cli.md).
type summary struct {
	CallID          string  `json:"call_id"`
	Peer            string  `json:"peer"`
	Route           string  `json:"route"`
	RelayPeerID     string  `json:"relay_peer_id"`
	SetupMs         float64 `json:"setup_ms"`
	FirstAudioMs    float64 `json:"first_audio_ms"`
	DurationS       float64 `json:"duration_s"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	Loss            float64 `json:"loss"`
	JitterMs        float64 `json:"jitter_ms"`
	RTTMs           float64 `json:"rtt_ms"`
	LongestGapMs    float64 `json:"longest_gap_ms"`
	Quality         *struct {
		Late uint64 `json:"late"`
	} `json:"quality"`
}

// finishedCall is one finished `peercall call NAME --json`.
type finishedCall struct {
	cliResult
	summary
	heard string // what the caller recorded
	// bufferMs is the caller's jitter buffer depth over the call (the
	// mean of its node's per-second "call stats" lines); nil if unknown.
	bufferMs *float64
}

// call runs `peercall call callee --duration 3s --audio-in wav:SAYS
// --audio-out wav:FILE --json` and decodes the summary; a failed call is a
// test failure unless the caller checks code itself (allowFail).
func (u *user) call(callee *user, says string, allowFail bool, extra ...string) finishedCall {
	t := u.w.t
	t.Helper()
	c := finishedCall{heard: filepath.Join(t.TempDir(), u.name+"-call-heard.wav")}
	ctx, cancel := context.WithTimeout(t.Context(), callWait)
	defer cancel()
	args := append([]string{"-v", "call", callee.name, "--duration", callDuration.String(),
		"--audio-in", "wav:" + speechPath(t, says), "--audio-out", "wav:" + c.heard, "--json"}, extra...)
	r, err := u.cli(ctx, "", args...)
	c.cliResult = r
	if err != nil {
		t.Fatalf("%s calls %s: %v\nstdout: %s\nstderr: %s", u.name, callee.name, err, r.stdout, r.stderr)
	}
	if r.code != 0 {
		if !allowFail {
			t.Fatalf("%s calls %s: exit %d\nstdout: %s\nstderr: %s", u.name, callee.name, r.code, r.stdout, r.stderr)
		}
		return c
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &c.summary); err != nil {
		t.Fatalf("%s calls %s: stdout is not one JSON summary: %v\n%s", u.name, callee.name, err, r.stdout)
	}
	if c.SetupMs > slowSetup.Seconds()*1000 {
		log := r.stderr
		if u.node != nil { // the call went through the running node
			log = tail(u.node.Output(), 30)
		}
		t.Logf("%s's call to %s took %.1f s to set up; the log (debug lines left out):\n%s", u.name, callee.name, c.SetupMs/1000, log)
	}
	t.Logf("%s called %s: route %s relay %q setup %.0f ms, %d packets sent, %d received, loss %.3f, rtt %.1f ms, wall %.1f s",
		u.name, callee.name, c.Route, c.RelayPeerID, c.SetupMs, c.PacketsSent, c.PacketsReceived, c.Loss, c.RTTMs, r.wall.Seconds())
	callerLog := r.stderr
	if u.node != nil {
		callerLog = u.node.Output()
	}
	c.bufferMs = bufferDepth(callerLog)
	t.Logf("%s's set-up: %s; %s", u.name, lastLine(callerLog, "callee reached"), setupPhases(callerLog))
	if callee.node != nil {
		t.Logf("%s's set-up: %s", callee.name, setupPhases(callee.node.Output()))
	}
	return c
}

// status runs `peercall status --json` against the user's running node.
func (u *user) status() control.Status {
	t := u.w.t
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startWait)
	defer cancel()
	r := u.must(ctx, "", "status", "--json")
	var st control.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("%s: status --json printed %q: %v", u.name, r.stdout, err)
	}
	return st
}

// waitStatus polls the user's status until ok accepts it or d passes.
func (u *user) waitStatus(d time.Duration, what string, ok func(control.Status) bool) control.Status {
	t := u.w.t
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := u.status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's node: %s not reached within %v; last status %+v", u.name, what, d, st)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// speechSent is the part of a recording a call of callDuration sends (the
// last half second left out: the hang-up may cut it).
func speechSent(name string) []int16 {
	s := testaudio.MustSpeech(name)
	n := int((callDuration - 500*time.Millisecond).Seconds() * audio.SampleRate)
	return s[:min(n, len(s))]
}

// checkHeard fails the test unless the WAV at path holds the speech
// recording `said`: testaudio.Similarity per half-second segment
// (callharness.SegmentSimilarity, which tolerates the jitter buffer's
// stretching) above testaudio.Threshold. It returns the similarity.
func checkHeard(t *testing.T, who, path, said string) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("%s recorded nothing: %v", who, err)
		return 0
	}
	defer f.Close()
	heard, _, err := audio.ReadWAV(f)
	if err != nil {
		t.Errorf("%s's recording %s: %v", who, path, err)
		return 0
	}
	sim := callharness.SegmentSimilarity(speechSent(said), heard)
	t.Logf("%s heard %.2f s; similarity with %s's speech %.3f (threshold %.2f)", who, float64(len(heard))/audio.SampleRate, said, sim, testaudio.Threshold)
	if sim <= testaudio.Threshold {
		t.Errorf("%s heard audio with similarity %.3f <= %.2f to what %s sent: the audio did not arrive intact", who, sim, testaudio.Threshold, said)
	}
	return sim
}

// report logs the scenario's parseable result line (see doc.go), with the
// speech similarity of the call's worse direction (sims: each side's
// checkHeard) and extra key=value fields.
func (w *world) report(name string, c finishedCall, sims ...float64) {
	w.reportExtra(name, c, "", sims...)
}

// reportExtra is report with extra "key=value ..." fields.
func (w *world) reportExtra(name string, c finishedCall, extra string, sims ...float64) {
	sim := "-"
	if len(sims) > 0 {
		sim = fmt.Sprintf("%.3f", slices.Min(sims))
	}
	if extra != "" {
		extra = " " + extra
	}
	w.t.Logf("SCENARIO n=%d name=%s profile=%s route=%s relay_peer_id=%s setup_ms=%.0f first_audio_ms=%.0f similarity=%s%s%s call_wall_s=%.1f wall_s=%.1f",
		w.scenario, name, w.profileName(), orDash(c.Route), orDash(c.RelayPeerID), c.SetupMs, c.FirstAudioMs, sim, extra, bufferFields(c), c.wall.Seconds(), time.Since(w.started).Seconds())
}

// bufferFields are the SCENARIO line's jitter buffer figures of the
// caller's side: the RFC 3550 jitter it measured, its buffer's mean depth
// and the share of packets it dropped for arriving late (media's stats).
func bufferFields(c finishedCall) string {
	out := fmt.Sprintf(" jitter_ms=%.1f", c.JitterMs)
	if c.bufferMs != nil {
		out += fmt.Sprintf(" buffer_ms=%.1f", *c.bufferMs)
	}
	if c.Quality != nil && c.PacketsReceived > 0 {
		out += fmt.Sprintf(" late_pct=%.2f", 100*float64(c.Quality.Late)/float64(c.PacketsReceived))
	}
	return out
}

// bufferDepth is the mean jitter buffer depth (delay_ms) of the "call
// stats" lines of a node's log since its last "call media started", or
// nil.
func bufferDepth(log string) *float64 {
	i := strings.LastIndex(log, `msg="call media started"`)
	if i < 0 {
		return nil
	}
	sum, n := 0.0, 0
	for _, line := range strings.Split(log[i:], "\n") {
		if !strings.Contains(line, `msg="call stats"`) {
			continue
		}
		_, rest, ok := strings.Cut(line, " delay_ms=")
		if !ok {
			continue
		}
		v, _, _ := strings.Cut(rest, " ")
		if x, err := strconv.ParseFloat(v, 64); err == nil {
			sum += x
			n++
		}
	}
	if n == 0 {
		return nil
	}
	mean := sum / float64(n)
	return &mean
}

// setupPhases is the phases of the last "call set up" line of a node's
// log (call/phases.go), or "-".
func setupPhases(log string) string { return lastLine(log, "call set up") }

// lastLine is the last log line of a node with message msg, from the
// message on, or "-".
func lastLine(log, msg string) string {
	i := strings.LastIndex(log, `msg="`+msg+`"`)
	if i < 0 {
		return "-"
	}
	line, _, _ := strings.Cut(log[i:], "\n")
	return line
}

// profileName is the impairment profile the world's links run on, with
// ":plc" when the nodes send without FEC.
func (w *world) profileName() string {
	name := "none"
	if w.profile != nil {
		name = w.profile.Name
	}
	if w.noFEC {
		name += ":plc"
	}
	return name
}

// labProfile reads PEERCALL_LAB_PROFILE: a netlab profile name ("" or
// "none": no impairment), optionally followed by ":plc" for nodes that
// send without Opus FEC (to compare FEC+PLC with PLC alone). `make test`
// sets none; `make lab-report` sets each scenario's profiles.
func labProfile(t *testing.T) (*netlab.Profile, bool) {
	t.Helper()
	v := os.Getenv("PEERCALL_LAB_PROFILE")
	name, opt, _ := strings.Cut(v, ":")
	noFEC := false
	switch opt {
	case "":
	case "plc":
		noFEC = true
	default:
		t.Fatalf("PEERCALL_LAB_PROFILE=%q: the part after ':' may only be \"plc\" (no FEC)", v)
	}
	if name == "" || name == "none" {
		return nil, noFEC
	}
	p, ok := netlab.Profiles[name]
	if !ok {
		t.Fatalf("PEERCALL_LAB_PROFILE=%q: no such profile; use none or one of %v", v, netlab.ProfileNames())
	}
	return &p, noFEC
}

// endHost adds an end user's machine called name to the internet
// segment, its access link shaped by half the world's profile (a call
// between two end users crosses two access links: the whole profile).
func (w *world) endHost(name string) *netlab.Host {
	w.t.Helper()
	if w.profile == nil {
		return w.lab.Host(name, w.inet)
	}
	return w.lab.Host(name, w.inet, netlab.Link(w.profile.Half()))
}

// endRouter adds an end user's router (home or office) to the internet
// segment, its WAN link (the access line) shaped as endHost's.
func (w *world) endRouter(name string, nat netlab.NAT, opts ...netlab.RouterOption) *netlab.Router {
	w.t.Helper()
	if w.profile != nil {
		opts = append(opts, netlab.WANLink(w.profile.Half()))
	}
	return w.lab.Router(name, w.inet, nat, opts...)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// waitPublished waits until the user's node has its presence in the DHT.
func (u *user) waitPublished() control.Status {
	u.w.t.Helper()
	return u.waitStatus(startWait, "presence published", func(st control.Status) bool { return st.Presence == "published" })
}

// waitCheckedIn waits until the user's node is listed at the directory
// (its first check-in accepted): a caller that finds the callee only
// through the directory (no DHT peers in common yet) needs that. On a
// lossy profile the first check-in may be lost and retried.
func (u *user) waitCheckedIn() control.Status {
	u.w.t.Helper()
	return u.waitStatus(startWait, "a check-in accepted by the directory", func(st control.Status) bool { return st.Identity != nil && !st.Identity.CheckedIn.IsZero() })
}

// tail is the last n lines of out that are not debug logs.
func tail(out string, n int) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "level=DEBUG") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep[max(0, len(keep)-n):], "\n")
}

// audioGap polls the user's status from since on, for patience or until
// its call is no longer active, and returns the longest time its active
// call went without new audio packets (a stall still going on at the end
// counts to the end). Its resolution is the time a `status` takes, tens
// to hundreds of milliseconds.
func (u *user) audioGap(since time.Time, patience time.Duration) time.Duration {
	received := func() (uint64, bool) {
		for _, c := range u.status().Calls {
			if c.State == "active" {
				return c.PacketsReceived, true
			}
		}
		return 0, false
	}
	last, _ := received()
	lastAt, gap := since, time.Duration(0)
	for time.Since(since) < patience {
		time.Sleep(50 * time.Millisecond)
		n, active := received()
		now := time.Now()
		if !active {
			break
		}
		if n != last {
			gap = max(gap, now.Sub(lastAt))
			last, lastAt = n, now
		}
	}
	return max(gap, time.Since(lastAt)-time.Second) // a trailing stall, less polling slack
}
