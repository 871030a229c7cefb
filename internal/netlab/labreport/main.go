package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peercall/peercall/internal/netlab"
)

// tests are the scenario tests the report runs, in this order, and the
// impairment profiles each runs on by default (`make test` runs each once
// on none). A profile with ":plc" runs the nodes without Opus FEC
// (`run --no-fec`): TestDirect on wan and bad-wifi both ways compares
// FEC+PLC with PLC alone.
var tests = []struct {
	name     string
	profiles []string
}{
	{"TestDirect", []string{"lan", "wan", "wan:plc", "bad-wifi", "bad-wifi:plc"}},
	{"TestConeNAT", []string{"dsl"}},
	{"TestConeNATs", []string{"dsl"}},
	{"TestSymmetricNATs", []string{"dsl"}},
	{"TestForcedRelay", []string{"dsl"}},
	{"TestFirewall443", []string{"dsl"}},
	{"TestRelayKilled", []string{"dsl"}},
	{"TestDirectoryDown", []string{"lan"}},
	{"TestHostMoves", []string{"lan"}},
}

func main() {
	runs := flag.Int("runs", 10, "runs of each scenario test on each profile")
	out := flag.String("out", "bin/lab-report.json", "the JSON report to write")
	only := flag.String("run", "", "comma-separated scenario tests to run (default: all)")
	profiles := flag.String("profiles", "", "comma-separated impairment profiles to run every test on, instead of each test's own (\"none\": no impairment stage)")
	pkgDir := flag.String("pkg", "internal/netlab/scenarios", "the scenarios package directory")
	timeout := flag.Duration("timeout", 10*time.Minute, "bound on one run of one test")
	flag.Parse()
	if err := run(context.Background(), *runs, *out, *only, *profiles, *pkgDir, *timeout, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "labreport:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, runs int, out, only, profiles, pkgDir string, timeout time.Duration, stdout, stderr io.Writer) error {
	if runs < 1 {
		return fmt.Errorf("-runs %d: want at least 1", runs)
	}
	dir, err := filepath.Abs(pkgDir)
	if err != nil {
		return err
	}
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("labreport-scenarios-%d.test", os.Getpid()))
	defer os.Remove(bin)
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, ".")
	build.Dir = dir
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the scenarios test binary in %s: %w\n%s", dir, err, b)
	}
	var want []string
	if only != "" {
		want = strings.Split(only, ",")
	}
	var rows []sample
	failures := map[key]int{}
	for _, tc := range tests {
		if want != nil && !slices.Contains(want, tc.name) {
			continue
		}
		profs := tc.profiles
		if profiles != "" {
			profs = strings.Split(profiles, ",")
		}
		for _, prof := range profs {
			for i := 1; i <= runs; i++ {
				start := time.Now()
				got, ok, log := runOnce(ctx, bin, dir, tc.name, prof, timeout)
				fmt.Fprintf(stderr, "labreport: %s profile %s run %d/%d: %d results, ok=%v, %.0f s\n", tc.name, prof, i, runs, len(got), ok, time.Since(start).Seconds())
				if !ok {
					failures[key{tc.name, prof, "-"}]++
					logPath := filepath.Join(filepath.Dir(out), fmt.Sprintf("lab-report-%s-%s-%d.log", tc.name, prof, i))
					if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err == nil && os.WriteFile(logPath, log, 0o644) == nil {
						fmt.Fprintf(stderr, "labreport: the failed run's output is in %s\n", logPath)
					}
				}
				for j := range got {
					if got[j].profile == "" {
						got[j].profile = prof
					}
				}
				rows = append(rows, got...)
				// After every run, so that a report cut short keeps what it has.
				if err := writeReport(out, summarize(rows, failures)); err != nil {
					return err
				}
			}
		}
	}
	report := summarize(rows, failures)
	if err := writeReport(out, report); err != nil {
		return err
	}
	printTable(stdout, report)
	fmt.Fprintf(stderr, "labreport: wrote %s\n", out)
	return nil
}

// writeReport writes the report as JSON to out.
func writeReport(out string, report []Row) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// runOnce runs one scenario test once and returns its SCENARIO results,
// whether the test passed, and its output.
func runOnce(ctx context.Context, bin, dir, test, profile string, timeout time.Duration) ([]sample, bool, []byte) {
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run", "^"+test+"$", "-test.v", "-test.count=1", "-test.timeout", timeout.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PEERCALL_LAB_PROFILE="+profile)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return parse(buf.Bytes()), err == nil, buf.Bytes()
}

// sample is one SCENARIO line.
type sample struct {
	scenario, profile, route string
	setupMs, gapMs, sim      float64 // NaN when the line has none
	firstAudioMs             float64 // from `call` to the first frame played, NaN when none
	// the caller's RFC 3550 jitter, jitter buffer depth and late share
	jitterMs, bufferMs, latePct float64 // NaN when the line has none
}

// parse reads the SCENARIO lines of a test's output:
//
//	... SCENARIO n=2 name=cone-nat profile=dsl route=direct ... setup_ms=812 similarity=0.93 gap_ms=640
func parse(out []byte) []sample {
	var res []sample
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "SCENARIO ")
		if i < 0 {
			continue
		}
		nan := math.NaN()
		s := sample{setupMs: nan, firstAudioMs: nan, gapMs: nan, sim: nan, jitterMs: nan, bufferMs: nan, latePct: nan}
		for _, f := range strings.Fields(line[i+len("SCENARIO "):]) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			num := func() float64 {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return math.NaN()
				}
				return x
			}
			switch k {
			case "name":
				s.scenario = v
			case "profile":
				s.profile = v
			case "route":
				s.route = v
			case "setup_ms":
				s.setupMs = num()
			case "first_audio_ms":
				// 0: no frame was played (an older node's summary has none).
				if s.firstAudioMs = num(); s.firstAudioMs <= 0 {
					s.firstAudioMs = math.NaN()
				}
			case "gap_ms":
				s.gapMs = num()
			case "similarity":
				s.sim = num()
			case "jitter_ms":
				s.jitterMs = num()
			case "buffer_ms":
				s.bufferMs = num()
			case "late_pct":
				s.latePct = num()
			}
		}
		if s.scenario != "" {
			res = append(res, s)
		}
	}
	return res
}

// Row is one line of the report: a scenario on a profile by a route.
type Row struct {
	Scenario   string   `json:"scenario"`
	Profile    string   `json:"profile"`
	Route      string   `json:"route"`
	Runs       int      `json:"runs"`
	Failed     int      `json:"failed_runs,omitempty"`
	SetupMsP50 *float64 `json:"setup_ms_p50"`
	SetupMsP95 *float64 `json:"setup_ms_p95"`
	// From `call` to the first frame of the peer's audio played (the
	// issue's targets are on this one).
	FirstAudioMsP50 *float64 `json:"first_audio_ms_p50"`
	FirstAudioMsP95 *float64 `json:"first_audio_ms_p95"`
	GapMsP95        *float64 `json:"gap_ms_p95,omitempty"`
	SimilarityP50   *float64 `json:"similarity_p50"`
	// The jitter buffer next to the path's jitter: the profile's (the
	// standard deviation of its added delay), the RFC 3550 jitter the
	// caller measured, the caller's mean buffer depth and the share of
	// packets it dropped as late (p50 over the runs).
	ProfileJitterMs *float64 `json:"profile_jitter_ms,omitempty"`
	JitterMsP50     *float64 `json:"jitter_ms_p50,omitempty"`
	BufferMsP50     *float64 `json:"buffer_ms_p50,omitempty"`
	LatePctP50      *float64 `json:"late_pct_p50,omitempty"`
}

type key struct{ scenario, profile, route string }

// summarize groups samples by scenario, profile and route. failures counts
// failed test runs by test name and profile: they are reported on rows of
// their own (route "-", scenario the test's name) so that none is hidden.
func summarize(rows []sample, failures map[key]int) []Row {
	groups := map[key][]sample{}
	var order []key
	for _, s := range rows {
		k := key{s.scenario, s.profile, s.route}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	var rep []Row
	for _, k := range order {
		g := groups[k]
		pick := func(f func(sample) float64) []float64 {
			var v []float64
			for _, s := range g {
				if x := f(s); !math.IsNaN(x) {
					v = append(v, x)
				}
			}
			return v
		}
		setup := pick(func(s sample) float64 { return s.setupMs })
		first := pick(func(s sample) float64 { return s.firstAudioMs })
		gap := pick(func(s sample) float64 { return s.gapMs })
		sim := pick(func(s sample) float64 { return s.sim })
		rep = append(rep, Row{
			Scenario: k.scenario, Profile: k.profile, Route: k.route, Runs: len(g),
			SetupMsP50: pct(setup, 50), SetupMsP95: pct(setup, 95),
			FirstAudioMsP50: pct(first, 50), FirstAudioMsP95: pct(first, 95),
			GapMsP95: pct(gap, 95), SimilarityP50: pct(sim, 50),
			ProfileJitterMs: profileJitter(k.profile),
			JitterMsP50:     pct(pick(func(s sample) float64 { return s.jitterMs }), 50),
			BufferMsP50:     pct(pick(func(s sample) float64 { return s.bufferMs }), 50),
			LatePctP50:      pct(pick(func(s sample) float64 { return s.latePct }), 50),
		})
	}
	var fk []key
	for k := range failures {
		fk = append(fk, k)
	}
	sort.Slice(fk, func(i, j int) bool { return fk[i].scenario+fk[i].profile < fk[j].scenario+fk[j].profile })
	for _, k := range fk {
		rep = append(rep, Row{Scenario: k.scenario, Profile: k.profile, Route: "-", Failed: failures[k]})
	}
	return rep
}

// profileJitter is the jitter of a netlab profile ("wan", "wan:plc"), or
// nil for none or an unknown name.
func profileJitter(name string) *float64 {
	name, _, _ = strings.Cut(name, ":")
	p, ok := netlab.Profiles[name]
	if !ok {
		return nil
	}
	ms := float64(p.Jitter) / float64(time.Millisecond)
	return &ms
}

// pct is the p-th percentile of v by nearest rank, or nil for no values.
func pct(v []float64, p float64) *float64 {
	if len(v) == 0 {
		return nil
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	x := s[max(0, min(i, len(s)-1))]
	return &x
}

func printTable(w io.Writer, rep []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tprofile\troute\truns\tfailed\tsetup p50 ms\tsetup p95 ms\tfirst audio p50 ms\tfirst audio p95 ms\tgap p95 ms\tsimilarity p50\tprofile jitter ms\tjitter p50 ms\tbuffer p50 ms\tlate p50 %\t")
	f := func(x *float64, format string) string {
		if x == nil {
			return "-"
		}
		return fmt.Sprintf(format, *x)
	}
	for _, r := range rep {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Scenario, r.Profile, r.Route, r.Runs, r.Failed,
			f(r.SetupMsP50, "%.0f"), f(r.SetupMsP95, "%.0f"), f(r.FirstAudioMsP50, "%.0f"), f(r.FirstAudioMsP95, "%.0f"), f(r.GapMsP95, "%.0f"), f(r.SimilarityP50, "%.3f"),
			f(r.ProfileJitterMs, "%.0f"), f(r.JitterMsP50, "%.1f"), f(r.BufferMsP50, "%.0f"), f(r.LatePctP50, "%.2f"))
	}
	if err := tw.Flush(); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		fmt.Fprintln(os.Stderr, "labreport:", err)
	}
}
