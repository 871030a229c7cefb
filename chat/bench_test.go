package chat

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSend: one message queued (on disk), sent, stored on the
// recipient's node (on disk, synchronous=FULL) and acked, over libp2p on
// loopback.
func BenchmarkSend(b *testing.B) {
	n := newNet(b)
	alice, bob := n.user("alice"), n.user("bob")
	bob.config = func(c *Config) { c.Rate, c.Burst = 1e9, 1<<30 }
	alice.open()
	bob.open()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.ResetTimer()
	for i := range b.N {
		if _, ok, err := alice.svc.Send(ctx, "bob", fmt.Sprintf("message %d", i)); err != nil || !ok {
			b.Fatalf("message %d: %v %v", i, ok, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
