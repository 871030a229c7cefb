package transfer

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/peercall/peercall/internal/p2phost"
)

const benchSize = 64 << 20

var benchSyncEvery = int64(0)

func init() {
	if v := os.Getenv("SYNCEVERY"); v != "" {
		benchSyncEvery, _ = strconv.ParseInt(v, 10, 64)
	}
}

// cpuTime is this process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tcpCopy copies the file at path into dir over a plain TCP connection on
// loopback (file -> socket -> file, then fsync): the kernel's sendfile and
// splice, no user-space copy.
func tcpCopy(b *testing.B, path, dir string) {
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
}

// BenchmarkLoopback compares, in one run, a plain TCP copy of a 64 MiB
// file (tcpCopy) with a transfer of the same file over TCP and over libp2p
// streams on loopback: transfer-node between hosts made with the node's
// options (p2phost.Options) listening on TCP and QUIC as a node does (it
// logs the connection it got), transfer-quic on QUIC only, transfer-noise
// on TCP with Noise only (an older node). Each iteration runs a copy and
// a transfer, one after the other, so that both see the same load.
// Metrics: MB/s of the transfer, pct-of-tcp (its throughput against the
// copies'), and the CPU (both sides, user+system) per MiB of the transfer
// (cpu-ms/MiB) and of the copy (tcp-cpu-ms/MiB).
//
//	go test -run '^$' -bench Loopback -benchtime 5x ./transfer/
func BenchmarkLoopback(b *testing.B) {
	path, _ := bigFile(&testing.T{}, benchSize)
	defer os.Remove(path)
	// run times once (a transfer) against tcpCopy.
	run := func(b *testing.B, once func(b *testing.B, dir string)) {
		b.SetBytes(benchSize)
		var copyWall, copyCPU, xferWall, xferCPU time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dir := b.TempDir()
			t0, c0 := time.Now(), cpuTime(b)
			tcpCopy(b, path, dir)
			copyWall += time.Since(t0)
			copyCPU += cpuTime(b) - c0
			os.RemoveAll(dir)
			dir = b.TempDir()
			b.StartTimer()
			t0, c0 = time.Now(), cpuTime(b)
			once(b, dir)
			xferWall += time.Since(t0)
			xferCPU += cpuTime(b) - c0
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
		mib := float64(b.N) * float64(benchSize>>20)
		b.ReportMetric(float64(xferCPU.Microseconds())/1000/mib, "cpu-ms/MiB")
		b.ReportMetric(float64(copyCPU.Microseconds())/1000/mib, "tcp-cpu-ms/MiB")
		b.ReportMetric(100*copyWall.Seconds()/xferWall.Seconds(), "pct-of-tcp")
		b.ReportMetric(mib/copyWall.Seconds()*(1<<20)/1e6, "tcp-MB/s")
	}
	b.Run("transfer-tcp", func(b *testing.B) {
		run(b, func(b *testing.B, dir string) {
			r, _ := NewReceiver(ReceiverConfig{Quarantine: filepath.Join(dir, "q"), Downloads: filepath.Join(dir, "d"), Rules: defaultRules, Identify: testCertCheck, SyncEvery: benchSyncEvery})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			var wg sync.WaitGroup
			defer wg.Wait()
			wg.Go(func() {
				c, err := ln.Accept()
				if err == nil {
					_ = r.Handle(context.Background(), "peer", c)
				}
			})
			cfg := SendConfig{Cert: []byte("alice"), Rules: defaultRules(), Attempts: 1,
				Dial: func(ctx context.Context) (Stream, error) { return net.Dial("tcp", ln.Addr().String()) }}
			if _, err := Send(context.Background(), cfg, path); err != nil {
				b.Fatal(err)
			}
		})
	})
	// transfer-node runs over hosts made as a node makes its own
	// (p2phost.Options: TLS before Noise, TCP first on a LAN), listening on
	// TCP and QUIC as a node does; transfer-quic over the same hosts on QUIC
	// only (a peer whose TCP does not answer); transfer-noise over TCP with
	// Noise only (an older peer).
	for _, c := range []struct {
		name   string
		listen []string
		opts   []libp2p.Option
	}{
		{"transfer-node", []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}, p2phost.Options()},
		{"transfer-quic", []string{"/ip4/127.0.0.1/udp/0/quic-v1"}, p2phost.Options()},
		{"transfer-noise", []string{"/ip4/127.0.0.1/tcp/0"}, []libp2p.Option{libp2p.Security(noise.ID, noise.New)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			h1, h2 := benchHosts(b, c.listen, c.opts)
			var r *Receiver
			h2.SetStreamHandler(ProtocolID, func(s network.Stream) { _ = r.Handle(context.Background(), s.Conn().RemotePeer().String(), s) })
			var once sync.Once
			run(b, func(b *testing.B, dir string) {
				r, _ = NewReceiver(ReceiverConfig{Quarantine: filepath.Join(dir, "q"), Downloads: filepath.Join(dir, "d"), Rules: defaultRules, Identify: testCertCheck, SyncEvery: benchSyncEvery})
				cfg := SendConfig{Cert: []byte("alice"), Rules: defaultRules(), Attempts: 1,
					Dial: func(ctx context.Context) (Stream, error) {
						s, err := h1.NewStream(ctx, h2.ID(), ProtocolID)
						if err == nil {
							once.Do(func() {
								cs := s.Conn().ConnState()
								b.Logf("%s: %s, security %s, muxer %s", c.name, s.Conn().RemoteMultiaddr(), cs.Security, cs.StreamMultiplexer)
							})
						}
						return s, err
					}}
				if _, err := Send(context.Background(), cfg, path); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// benchHosts starts two connected libp2p hosts listening on listen, with
// opts and the node's TCP transport (no SO_REUSEPORT).
func benchHosts(b *testing.B, listen []string, opts []libp2p.Option) (host.Host, host.Host) {
	mk := func() host.Host {
		h, err := libp2p.New(append(opts, libp2p.ListenAddrStrings(listen...), libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()))...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		return h
	}
	h1, h2 := mk(), mk()
	if err := h1.Connect(context.Background(), peer.AddrInfo{ID: h2.ID(), Addrs: h2.Addrs()}); err != nil {
		b.Fatal(err)
	}
	return h1, h2
}
