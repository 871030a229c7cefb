package transfer

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
)

const benchSize = 64 << 20

// cpuTime is this process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoopback compares, in one run, a plain TCP copy of a 64 MiB
// file (file -> socket -> file) with a transfer of the same file over
// TCP and over a libp2p stream (Noise, yamux), on loopback: MB/s and the
// CPU (both sides, user+system) per MiB.
//
//	go test -run '^$' -bench Loopback -benchtime 5x ./transfer/
func BenchmarkLoopback(b *testing.B) {
	path, _ := bigFile(&testing.T{}, benchSize)
	defer os.Remove(path)
	run := func(b *testing.B, once func(b *testing.B, dir string)) {
		b.SetBytes(benchSize)
		cpu0 := cpuTime(b)
		for i := 0; i < b.N; i++ {
			dir := b.TempDir()
			once(b, dir)
			os.RemoveAll(dir)
		}
		cpu := cpuTime(b) - cpu0
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N)/float64(benchSize>>20), "cpu-ms/MiB")
	}
	b.Run("tcp-copy", func(b *testing.B) {
		run(b, func(b *testing.B, dir string) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				f, _ := os.Create(filepath.Join(dir, "copy"))
				defer f.Close()
				_, _ = io.Copy(f, c)
				_ = f.Sync()
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			f, _ := os.Open(path)
			_, _ = io.Copy(c, f)
			f.Close()
			c.Close()
			wg.Wait()
		})
	})
	b.Run("transfer-tcp", func(b *testing.B) {
		run(b, func(b *testing.B, dir string) {
			r, _ := NewReceiver(ReceiverConfig{Quarantine: filepath.Join(dir, "q"), Downloads: filepath.Join(dir, "d"), Rules: defaultRules, Identify: testCertCheck})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err == nil {
					_ = r.Handle(context.Background(), "peer", c)
				}
			}()
			cfg := SendConfig{Cert: []byte("alice"), Rules: defaultRules(), Attempts: 1,
				Dial: func(ctx context.Context) (Stream, error) { return net.Dial("tcp", ln.Addr().String()) }}
			if _, err := Send(context.Background(), cfg, path); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("transfer-libp2p", func(b *testing.B) {
		// As the node: Noise, yamux, TCP.
		h1, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Security(noise.ID, noise.New))
		if err != nil {
			b.Fatal(err)
		}
		defer h1.Close()
		h2, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Security(noise.ID, noise.New))
		if err != nil {
			b.Fatal(err)
		}
		defer h2.Close()
		if err := h1.Connect(context.Background(), peer.AddrInfo{ID: h2.ID(), Addrs: h2.Addrs()}); err != nil {
			b.Fatal(err)
		}
		var r *Receiver
		h2.SetStreamHandler(ProtocolID, func(s network.Stream) { _ = r.Handle(context.Background(), s.Conn().RemotePeer().String(), s) })
		run(b, func(b *testing.B, dir string) {
			r, _ = NewReceiver(ReceiverConfig{Quarantine: filepath.Join(dir, "q"), Downloads: filepath.Join(dir, "d"), Rules: defaultRules, Identify: testCertCheck})
			cfg := SendConfig{Cert: []byte("alice"), Rules: defaultRules(), Attempts: 1,
				Dial: func(ctx context.Context) (Stream, error) { return h1.NewStream(ctx, h2.ID(), ProtocolID) }}
			if _, err := Send(context.Background(), cfg, path); err != nil {
				b.Fatal(err)
			}
		})
	})
}
