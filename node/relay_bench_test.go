package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/callharness"
)

// BenchmarkRelayCredentials measures what a relayed call adds before its
// offer: asking the fastest known super-node for TURN credentials over
// /peercall/relay/1 (one stream, certificate check, HMAC) on loopback.
func BenchmarkRelayCredentials(b *testing.B) {
	nw := callharness.NewNetwork(b)
	sam := startRelayNode(b, nw, relaySpec{name: "sam", cfg: superNode(10), ranges: loopbackRange})
	alice := startRelayNode(b, nw, relaySpec{name: "alice", cfg: clientNode()})
	deadline := time.Now().Add(20 * time.Second)
	for !sam.m.Promoted() || len(alice.m.SuperNodes()) == 0 {
		if time.Now().After(deadline) {
			b.Fatal("no super-node after 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := alice.m.PickRelay(ctx, "", true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/credentials")
}
