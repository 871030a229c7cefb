package main

import (
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	out := []byte(`=== RUN   TestConeNAT
    world_test.go:390: SCENARIO n=2 name=cone-nat profile=dsl route=direct relay_peer_id=- setup_ms=812 first_audio_ms=990 similarity=0.931 jitter_ms=6.5 buffer_ms=120.0 late_pct=0.68 call_wall_s=3.1 wall_s=14.7
    failover_test.go:80: SCENARIO n=5 name=relay-killed-failover profile=none route=relay relay_peer_id=12D3 setup_ms=300 gap_ms=2900 similarity=0.88
noise SCENARIO n=1 route=direct
    x.go:1: SCENARIO n=1 name=direct route=direct setup_ms=bad
--- PASS: TestConeNAT (20.00s)
`)
	got := parse(out)
	want := []sample{
		{scenario: "cone-nat", profile: "dsl", route: "direct", setupMs: 812, firstAudioMs: 990, gapMs: math.NaN(), sim: 0.931, jitterMs: 6.5, bufferMs: 120, latePct: 0.68},
		{scenario: "relay-killed-failover", profile: "none", route: "relay", setupMs: 300, firstAudioMs: math.NaN(), gapMs: 2900, sim: 0.88, jitterMs: math.NaN(), bufferMs: math.NaN(), latePct: math.NaN()},
		{scenario: "direct", route: "direct", setupMs: math.NaN(), firstAudioMs: math.NaN(), gapMs: math.NaN(), sim: math.NaN(), jitterMs: math.NaN(), bufferMs: math.NaN(), latePct: math.NaN()},
	}
	if len(got) != len(want) {
		t.Fatalf("parse found %d lines, want %d: %+v", len(got), len(want), got)
	}
	same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
	for i := range want {
		g, w := got[i], want[i]
		if g.scenario != w.scenario || g.profile != w.profile || g.route != w.route || !same(g.setupMs, w.setupMs) || !same(g.firstAudioMs, w.firstAudioMs) || !same(g.gapMs, w.gapMs) || !same(g.sim, w.sim) ||
			!same(g.jitterMs, w.jitterMs) || !same(g.bufferMs, w.bufferMs) || !same(g.latePct, w.latePct) {
			t.Errorf("line %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestPct(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		p    float64
		want float64
	}{
		{[]float64{5}, 50, 5},
		{[]float64{5}, 95, 5},
		{[]float64{3, 1, 2}, 50, 2},
		{[]float64{1, 2, 3, 4}, 50, 2},
		{[]float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5}, 95, 10},
		{[]float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5}, 50, 5},
	} {
		got := pct(tc.v, tc.p)
		if got == nil || *got != tc.want {
			t.Errorf("pct(%v, %v) = %v, want %v", tc.v, tc.p, got, tc.want)
		}
	}
	if pct(nil, 50) != nil {
		t.Error("pct of nothing is not nil")
	}
}

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	rows := []sample{
		{"cone-nat", "dsl", "direct", 800, nan, 0.9, 950, 4, 60, 0.5},
		{"cone-nat", "dsl", "direct", 1200, nan, 0.8, 1400, 6, 80, 0.2},
		{"cone-nat", "dsl", "relay", 3000, nan, 0.7, nan, nan, nan, nan},
		{"failover", "dsl", "relay", 300, 900, nan, nan, nan, nan, nan},
	}
	rep := summarize(rows, map[key]int{{"TestConeNAT", "dsl", "-"}: 2})
	if len(rep) != 4 {
		t.Fatalf("%d rows, want 4: %+v", len(rep), rep)
	}
	r := rep[0]
	if r.Scenario != "cone-nat" || r.Route != "direct" || r.Runs != 2 || *r.SetupMsP50 != 800 || *r.SetupMsP95 != 1200 || *r.SimilarityP50 != 0.8 || r.GapMsP95 != nil {
		t.Errorf("row 0: %+v", r)
	}
	if r.FirstAudioMsP50 == nil || *r.FirstAudioMsP50 != 950 || *r.FirstAudioMsP95 != 1400 || rep[1].FirstAudioMsP50 != nil {
		t.Errorf("first audio figures: %+v", r)
	}
	if r.ProfileJitterMs == nil || *r.ProfileJitterMs != 5 || *r.JitterMsP50 != 4 || *r.BufferMsP50 != 60 || *r.LatePctP50 != 0.2 {
		t.Errorf("row 0's jitter buffer figures: %+v", r)
	}
	if rep[1].Route != "relay" || rep[1].Runs != 1 || rep[1].BufferMsP50 != nil {
		t.Errorf("row 1: %+v", rep[1])
	}
	if rep[2].GapMsP95 == nil || *rep[2].GapMsP95 != 900 || rep[2].SimilarityP50 != nil {
		t.Errorf("row 2: %+v", rep[2])
	}
	if rep[3].Scenario != "TestConeNAT" || rep[3].Failed != 2 || rep[3].Runs != 0 {
		t.Errorf("failure row: %+v", rep[3])
	}
}
