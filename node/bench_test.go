package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/internal/callharness"
)

// BenchmarkCallSetup measures call setup on loopback as a user sees it:
// from `call` (lookup by name in the DHT, dial, INVITE with the SDP offer,
// auto-answer, ICE and DTLS) to the first decoded audio frame played on the
// caller's side. It places max(b.N, 20) calls and reports the median and
// the 95th percentile.
func BenchmarkCallSetup(b *testing.B) {
	nw := callharness.NewNetwork(b)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	firstFrames := make(chan *callharness.Recorder, 1)
	o := callharness.NodeOptions()
	o.Audio = func(context.Context, call.Info) (audio.Source, audio.Sink, error) {
		rec := callharness.NewRecorder()
		firstFrames <- rec
		return audio.Paced(audio.NewSilence(), audio.Frame20ms), rec, nil
	}
	alice := nw.Start(aliceU, o)
	bo := callharness.NodeOptions()
	bo.AutoAnswer = true
	bo.Audio = (&callharness.Audio{Send: callharness.Speech("bob", 8)}).Opener()
	bob := nw.Start(bobU, bo)
	callharness.WaitPresence(b, alice, bob)

	calls := max(b.N, 20)
	setups := make([]time.Duration, 0, calls)
	b.ResetTimer()
	for range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := alice.Call(ctx, "bob", call.Options{})
			done <- err
		}()
		var rec *callharness.Recorder
		select {
		case rec = <-firstFrames:
		case err := <-done:
			b.Fatalf("call ended before audio: %v", err)
		}
		select {
		case <-rec.First():
		case err := <-done:
			b.Fatalf("call ended before the first frame: %v", err)
		}
		setups = append(setups, rec.FirstAt().Sub(start))
		cancel()
		if err := <-done; err != nil {
			b.Fatalf("call: %v", err)
		}
		for deadline := time.Now().Add(5 * time.Second); len(bob.Calls()) > 0; {
			if time.Now().After(deadline) {
				b.Fatal("bob's side of the call did not end")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	b.StopTimer()
	slices.Sort(setups)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(setups[len(setups)/2]), "median_ms")
	b.ReportMetric(ms(setups[(len(setups)*95+99)/100-1]), "p95_ms")
	b.ReportMetric(float64(len(setups)), "calls")
}
