package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
)

// TestLoginAddrs: login reports the running node's addresses, else the
// configured listen addresses (port 0 reports nothing: nobody could dial
// it).
func TestLoginAddrs(t *testing.T) {
	d := callharness.StartDirectory(t)
	u := d.NewUser(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := loginAddrs(ctx, u.Home); len(got) != 0 {
		t.Errorf("listen 127.0.0.1:0: login reports %v, want nothing", got)
	}
	cfg, err := u.Home.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Network.Listen = []string{"127.0.0.1:7070"}
	if err := u.Home.SaveConfig(cfg); err != nil {
		t.Fatal(err)
	}
	want := []string{"/ip4/127.0.0.1/tcp/7070", "/ip4/127.0.0.1/udp/7070/quic-v1"}
	if got := loginAddrs(ctx, u.Home); !slices.Equal(got, want) {
		t.Errorf("listen 127.0.0.1:7070: login reports %v, want %v", got, want)
	}
	o := callharness.NodeOptions()
	o.Listen = []string{"127.0.0.1:0"}
	n, err := node.New(ctx, u.Home, o)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var running []string
	for _, a := range n.Addrs() {
		running = append(running, a.String())
	}
	if got := loginAddrs(ctx, u.Home); !slices.Equal(got, running) {
		t.Errorf("with a node running: login reports %v, want the node's %v", got, running)
	}
}
