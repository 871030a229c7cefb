package server

import (
	"testing"
	"time"

	"github.com/peercall/peercall/directory/store"
)

func TestPruneOldSightings(t *testing.T) {
	d := newTestDir(t, func(c *Config) { c.PruneInterval = 20 * time.Millisecond })
	if a := d.register("pruned", "pruned's password"); a.status != 201 {
		t.Fatal(a.status, string(a.body))
	}
	now := time.Now()
	for _, sg := range []store.Sighting{
		{Username: "pruned", PeerID: "old-peer", Addrs: []string{}, Seen: now.Add(-8 * 24 * time.Hour)},
		{Username: "pruned", PeerID: "new-peer", Addrs: []string{}, Seen: now.Add(-time.Hour)},
	} {
		if err := d.store.Seen(t.Context(), sg); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		all, err := d.store.Sightings(t.Context(), "pruned", time.Unix(0, 0), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == 1 && all[0].PeerID == "new-peer" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the sightings are %+v; want only new-peer (old-peer is older than the 7-day window)", all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
