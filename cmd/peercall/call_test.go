package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/internal/testaudio"
)

// runHome runs peercall in-process on home with args (no stdin).
func runHome(t *testing.T, hm *home.Home, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e := newEnv(strings.NewReader(""), &out, &errb)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	code := run(ctx, e, append([]string{"--home", hm.Dir()}, args...))
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// writeSpeech writes seconds of alice's recording to a WAV file.
func writeSpeech(t *testing.T, seconds float64) (string, []int16) {
	t.Helper()
	s := callharness.Speech("alice", seconds)
	path := filepath.Join(t.TempDir(), "alice-says.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := audio.WriteWAV(f, audio.WAVInfo{SampleRate: audio.SampleRate, Channels: 1}, s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, s
}

// TestCLICalls runs `call`, `status` and their exit codes against a
// loopback network: a real directory, bob's node (auto-answer, recording
// what it hears) and carol's (rejecting), with alice calling from the CLI,
// first with no node of her own running, then through her running node.
func TestCLICalls(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU, carolU := nw.User("alice"), nw.User("bob"), nw.User("carol")
	bobA := &callharness.Audio{Send: callharness.Speech("bob", 1)}
	o := callharness.NodeOptions()
	o.Audio, o.AutoAnswer = bobA.Opener(), true
	bob := nw.Start(bobU, o)
	o = callharness.NodeOptions()
	o.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 1)}).Opener()
	carol := nw.Start(carolU, o)
	callharness.WaitPresence(t, bob, carol)
	aliceU.SetBootstrap(t, bob.AddrInfo())
	wav, sent := writeSpeech(t, 2.5)

	t.Run("call with no node running, --json", func(t *testing.T) {
		r := runHome(t, aliceU.Home, "call", "bob", "--duration", "3500ms", "--audio-in", "wav:"+wav, "--audio-out", "null", "--json")
		if r.code != exitOK {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
		var s map[string]any
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("stdout %q is not one JSON object: %v", r.stdout, err)
		}
		for _, k := range []string{"call_id", "peer", "route", "relay_peer_id", "setup_ms", "duration_s", "packets_sent", "packets_received", "loss", "jitter_ms", "rtt_ms"} {
			if _, ok := s[k]; !ok {
				t.Errorf("summary lacks %q: %s", k, r.stdout)
			}
		}
		if s["peer"] != "bob" || s["route"] != "direct" || s["packets_received"].(float64) == 0 {
			t.Errorf("summary %s", r.stdout)
		}
		heard := bobA.Last()
		if heard == nil {
			t.Fatal("bob heard nothing")
		}
		sim := callharness.SegmentSimilarity(sent, heard.Samples())
		t.Logf("bob heard alice's WAV with similarity %.3f", sim)
		if sim <= testaudio.Threshold {
			t.Errorf("similarity %.3f <= %.2f: bob did not hear the WAV alice sent", sim, testaudio.Threshold)
		}
	})

	t.Run("an unusable microphone fails before dialling", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "mic")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		rung := len(bob.RecentCalls())
		r := runHome(t, aliceU.Home, "call", "bob", "--audio-in", "wav:"+fifo, "--audio-out", "null")
		if r.code != exitFailure || !strings.Contains(r.stderr, "named pipe") || !strings.Contains(r.stderr, "--audio-in") {
			t.Errorf("call with a named pipe as the microphone: exit %d, stderr %q; want 1 naming --audio-in and the pipe", r.code, r.stderr)
		}
		if got := len(bob.RecentCalls()); got != rung {
			t.Errorf("bob's node saw %d new calls; the call must fail before it rings", got-rung)
		}
	})

	t.Run("exit codes", func(t *testing.T) {
		go func() {
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				for _, c := range carol.Calls() {
					if c.State == "ringing" {
						_ = carol.Reject(c.CallID)
						return
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		tests := []struct {
			name, user string
			want       int
			wantText   string
		}{
			{"unknown user", "nobody", exitUnknownUser, "nobody"},
			{"rejected", "carol", exitRejected, "rejected"},
		}
		for _, tc := range tests {
			r := runHome(t, aliceU.Home, "call", tc.user, "--audio-in", "silence", "--audio-out", "null")
			if r.code != tc.want || !strings.Contains(r.stderr, tc.wantText) {
				t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", tc.name, r.code, r.stderr, tc.want, tc.wantText)
			}
		}
		r := runHome(t, aliceU.Home, "call", "bob", "--duration", "-1s")
		if r.code != exitUsage {
			t.Errorf("negative duration: exit %d, want %d", r.code, exitUsage)
		}
	})

	t.Run("through the running node", func(t *testing.T) {
		o := callharness.NodeOptions()
		o.Audio = (&callharness.Audio{Send: callharness.Speech("alice", 1)}).Opener()
		alice := nw.Start(aliceU, o)
		r := runHome(t, aliceU.Home, "status", "--json")
		if r.code != exitOK {
			t.Fatalf("status: exit %d, %s", r.code, r.stderr)
		}
		var st map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status output %q: %v", r.stdout, err)
		}
		for _, k := range []string{"username", "peer_id", "role", "role_reason", "reachability", "relay", "calls"} {
			if _, ok := st[k]; !ok {
				t.Errorf("status lacks %q: %s", k, r.stdout)
			}
		}
		relay, _ := st["relay"].(map[string]any)
		for _, k := range []string{"sessions", "bytes_relayed", "kbps", "limits"} {
			if _, ok := relay[k]; !ok {
				t.Errorf("status relay lacks %q: %s", k, r.stdout)
			}
		}
		if st["username"] != "alice" || st["peer_id"] != alice.PeerID().String() || st["role"] != "client" {
			t.Errorf("status %s", r.stdout)
		}
		r = runHome(t, aliceU.Home, "call", "bob", "--duration", "1s")
		if r.code != exitOK || !strings.Contains(r.stdout, "through the running node") ||
			!strings.Contains(r.stdout, "short authentication string") {
			t.Fatalf("call through the node: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
		// carol calls alice; alice answers and hangs up from the CLI.
		type outcome struct {
			res *call.Result
			err error
		}
		done := make(chan outcome, 1)
		go func() {
			res, err := carol.Call(t.Context(), "alice", call.Options{})
			done <- outcome{res, err}
		}()
		deadline := time.Now().Add(20 * time.Second)
		for len(alice.Calls()) == 0 || alice.Calls()[0].State != "ringing" {
			if time.Now().After(deadline) {
				t.Fatal("carol's call did not ring at alice's")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if r := runHome(t, aliceU.Home, "answer"); r.code != exitOK {
			t.Fatalf("answer: exit %d, %s", r.code, r.stderr)
		}
		for len(alice.Calls()) == 0 || alice.Calls()[0].State != "active" {
			if time.Now().After(deadline) {
				t.Fatal("the answered call did not become active")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if r := runHome(t, aliceU.Home, "hangup"); r.code != exitOK {
			t.Fatalf("hangup: exit %d, %s", r.code, r.stderr)
		}
		got := <-done
		if got.err != nil || !got.res.Connected || got.res.End != "hung up (remote)" {
			t.Errorf("carol's call: %+v, %v; want connected and hung up by alice", got.res, got.err)
		}

		nw.Stop(alice)
		r = runHome(t, aliceU.Home, "status")
		if r.code != exitFailure || !strings.Contains(r.stderr, "peercall run") {
			t.Errorf("status with no node: exit %d, stderr %q; want 1 and a hint to run `peercall run`", r.code, r.stderr)
		}
	})

	t.Run("offline", func(t *testing.T) {
		nw.Stop(bob)
		r := runHome(t, aliceU.Home, "call", "bob", "--audio-in", "silence", "--audio-out", "null", "--json")
		if r.code != exitUnknownUser || !strings.Contains(r.stdout, `"offline"`) {
			t.Errorf("call bob after his node closed: exit %d, stdout %s, stderr %s; want exit 4 and error offline", r.code, r.stdout, r.stderr)
		}
	})
}
