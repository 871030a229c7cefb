package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/netlab"
	"github.com/peercall/peercall/internal/testaudio"
)

// Scenario 5's timings.
const (
	// failoverCall is the length of the call whose relay is killed.
	failoverCall = 12 * time.Second
	// killAfter is how long after the call is active its relay dies.
	killAfter = 2 * time.Second
	// failoverBound is the bound on moving to another super-node.
	failoverBound = 5 * time.Second
)

// TestRelayKilled is scenario 5: the super-node relaying a call loses power
// mid-call. The call is relayed by `--force-relay` between alice on the
// internet and bob behind a symmetric NAT, so that the signalling (over
// the connection bob's node opened to alice's) does not go through the
// super-node that dies. With a second
// super-node the call moves to it (ICE restart) and the speech sent from
// failoverBound after the kill on is heard; with none the call ends on both
// sides with a reason naming the lost relay.
func TestRelayKilled(t *testing.T) {
	t.Parallel()
	t.Run("another super-node takes over", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, 5)
		supers := []*user{w.superNode("super1", nil), w.superNode("super2", nil)}
		alice, bob := w.relayPair()
		ids := map[string]*user{}
		for _, s := range supers {
			ids[s.waitSuperNode().PeerID] = s
		}
		bob.waitPublished()

		long := longSpeech(t)
		ctx, cancel := context.WithTimeout(t.Context(), callWait+failoverCall)
		defer cancel()
		heard := filepath.Join(t.TempDir(), "alice-call-heard.wav")
		ac := alice.callAsync(ctx, bob, failoverCall, long.path, heard, "--force-relay", "--json")
		active := alice.waitActive(30 * time.Second)
		connectedAt := time.Now()
		time.Sleep(killAfter)
		victim := busiest(t, supers)
		killedAt := time.Now()
		if victim.host.Kill() == 0 {
			t.Fatalf("no process to kill on %s", victim.host)
		}
		t.Logf("killed %s (relaying the call %s) %.1f s into it", victim.name, active.CallID, killedAt.Sub(connectedAt).Seconds())
		gap := alice.audioGap(killedAt, failoverCall-killAfter-2*time.Second)
		t.Logf("alice received no audio for at most %.1f s after the kill", gap.Seconds())

		r, err := ac.wait()
		if err != nil || r.code != 0 {
			t.Fatalf("the call did not survive its relay's death: exit %d, %v\nstdout: %s\nstderr: %s", r.code, err, r.stdout, r.stderr)
		}
		var c finishedCall
		c.cliResult = r
		if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &c.summary); err != nil {
			t.Fatalf("stdout is not one JSON summary: %v\n%s", err, r.stdout)
		}
		survivor := ids[c.RelayPeerID]
		if c.Route != "relay" || survivor == nil || survivor == victim {
			t.Errorf("route %q via %q after the kill; want relay via the surviving super-node", c.Route, c.RelayPeerID)
		}
		// The source is paced from the moment the call is active, so what
		// alice says failoverBound after the kill is at this offset.
		from := killedAt.Sub(connectedAt) + failoverBound
		sim := checkHeardPart(t, "bob", bob.heard, long.samples, from, failoverCall-time.Second)
		switches, restarts := 0, 0
		for _, u := range []*user{alice, bob} {
			for _, line := range strings.Split(u.node.Output(), "\n") {
				if strings.Contains(line, "call path") {
					t.Logf("%s: %s", u.name, strings.TrimSpace(line))
				}
				switches += strings.Count(line, "switched to a standby pair")
				restarts += strings.Count(line, "failover ICE restart sent")
			}
		}
		// gap_ms is alice's node's own measure (the longest wait between
		// two packets it received, longest_gap_ms); polled_gap_ms is the
		// test's, from `status` polled every 50 ms or so, coarser.
		t.Logf("alice's node: longest gap between two packets %.0f ms", c.LongestGapMs)
		if c.LongestGapMs <= 0 {
			t.Errorf("alice's summary has longest_gap_ms %v after a relay died mid-call; want the gap it saw", c.LongestGapMs)
		}
		w.reportExtra("relay-killed-failover", c, fmt.Sprintf("gap_ms=%.0f polled_gap_ms=%.0f switches=%d restarts=%d", c.LongestGapMs, float64(gap.Milliseconds()), switches, restarts), sim)
	})

	t.Run("no other super-node", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, 5)
		super := w.superNode("super", nil)
		alice, bob := w.relayPair()
		super.waitSuperNode()
		bob.waitPublished()

		const long = 60 * time.Second
		ctx, cancel := context.WithTimeout(t.Context(), callWait+long)
		defer cancel()
		heard := filepath.Join(t.TempDir(), "alice-call-heard.wav")
		ac := alice.callAsync(ctx, bob, long, speechPath(t, "alice"), heard, "--force-relay")
		alice.waitActive(30 * time.Second)
		time.Sleep(killAfter)
		killedAt := time.Now()
		super.host.Kill()

		r, err := ac.wait()
		ended := time.Since(killedAt)
		if err != nil {
			t.Fatalf("the call did not end after its only relay died: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
		}
		aliceReason := endReason(r.stdout + r.stderr)
		bobCtx, bobCancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer bobCancel()
		if err := bob.node.WaitFor(bobCtx, "call with alice ended"); err != nil {
			t.Fatalf("bob's node did not report the end of the call: %v", err)
		}
		bobReason := endReason(bob.node.Output())
		t.Logf("the call ended %.1f s after the kill; alice: %q; bob: %q", ended.Seconds(), aliceReason, bobReason)
		for who, reason := range map[string]string{"alice": aliceReason, "bob": bobReason} {
			if !strings.Contains(reason, "relay") || strings.Contains(reason, "hung up") {
				t.Errorf("%s's end of the call gives no reason naming the lost relay: %q", who, reason)
			}
		}
		if ended > long-killAfter-10*time.Second {
			t.Errorf("the call ran on %v after its only relay died, to the end of its %v", ended, long)
		}
		w.t.Logf("SCENARIO n=5 name=relay-killed-alone profile=%s route=relay ended_after_kill_s=%.1f wall_s=%.1f", w.profileName(), ended.Seconds(), time.Since(w.started).Seconds())
	})
}

// busiest is the super-node relaying the most sessions now (the call's).
func busiest(t *testing.T, supers []*user) *user {
	t.Helper()
	var best *user
	most := 0
	for _, s := range supers {
		if n := s.relaySessions(); n > most {
			best, most = s, n
		}
	}
	if best == nil {
		t.Fatal("no super-node reports a relayed session during the call")
	}
	return best
}

// endReason is what follows "ended: " in the last call summary line of out.
func endReason(out string) string {
	i := strings.LastIndex(out, " ended: ")
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(out[i+len(" ended: "):], "\n")
	return strings.TrimSpace(line)
}

// speechFile is a speech recording written to a WAV file.
type speechFile struct {
	path    string
	samples []int16
}

// longSpeech is alice's recording followed by bob's (16 s), for calls
// longer than either.
func longSpeech(t *testing.T) speechFile {
	t.Helper()
	s := append(testaudio.MustSpeech("alice"), testaudio.MustSpeech("bob")...)
	p := filepath.Join(t.TempDir(), "long-speech.wav")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := audio.WriteWAV(f, audio.WAVInfo{SampleRate: audio.SampleRate, Channels: 1}, s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return speechFile{path: p, samples: s}
}

// checkHeardPart fails the test unless the part of sent between from and
// to (offsets into it) was heard: each half second of it with speech is
// looked for in the WAV at path from 1 s before to 3 s after the same
// offset (a failover shifts the audio by its gap, or the jitter buffer by
// a frame now and then), and the speech-weighted mean of the
// testaudio.Similarity scores must pass testaudio.Threshold.
func checkHeardPart(t *testing.T, who, path string, sent []int16, from, to time.Duration) float64 {
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
	const seg = audio.SampleRate / 2
	i, j := int(from.Seconds()*audio.SampleRate), min(int(to.Seconds()*audio.SampleRate), len(sent))
	var mean float64
	for _, v := range sent[i:j] {
		mean += float64(v) * float64(v)
	}
	mean /= float64(max(j-i, 1))
	var sum, weight float64
	var scores []string
	for off := i; off+seg <= j; off += seg {
		var e float64
		for _, v := range sent[off : off+seg] {
			e += float64(v) * float64(v)
		}
		if e < 0.1*mean*seg {
			continue // a pause
		}
		lo, hi := max(0, off-audio.SampleRate), min(len(heard), off+3*audio.SampleRate)
		sim := 0.0
		if hi-lo >= seg {
			sim, _ = testaudio.Similarity(sent[off:off+seg], heard[lo:hi], hi-lo)
		}
		sum += sim * e
		weight += e
		scores = append(scores, fmt.Sprintf("%.1fs:%.2f", float64(off)/audio.SampleRate, sim))
	}
	score := 0.0
	if weight > 0 {
		score = sum / weight
	}
	t.Logf("%s heard the speech sent %.1f..%.1f s into the call with similarity %.3f (per half second: %s)", who, from.Seconds(), to.Seconds(), score, strings.Join(scores, " "))
	if score <= testaudio.Threshold {
		t.Errorf("%s did not hear what was sent %.1f..%.1f s into the call (similarity %.3f <= %.2f)", who, from.Seconds(), to.Seconds(), score, testaudio.Threshold)
	}
	return score
}

// relayPair starts alice's node on the internet and bob's behind a
// symmetric NAT; bob's node joins the DHT through alice's, so their
// signalling needs no circuit relay, and `call --force-relay` relays only
// the audio.
func (w *world) relayPair() (alice, bob *user) {
	w.t.Helper()
	alice = w.user("alice", w.endHost("alice"), w.labRanges())
	alice.run("alice")
	bob = w.natClient("bob", netlab.SymmetricNAT, "bob")
	return alice, bob
}
