package relay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"

	"github.com/peercall/peercall/internal/pionlog"
	"github.com/peercall/peercall/relay/peerfilter"

	"github.com/pion/transport/v5/reuseport"
	"github.com/pion/turn/v5"
)

// benchSecret is the TURN REST secret shared by the benchmark's server
// process and its load generator, which mints credentials itself (the
// relay's credential format is the TURN REST one, so the same code serves
// both servers).
const benchSecret = "peercall-bench-secret"

// benchServerMain runs in a child process of BenchmarkRelayedCalls (see
// TestMain): the TURN server under test, alone in its process so that its
// CPU time can be read apart from the load generator's. It prints "ADDR
// host:port" and serves until stdin closes.
func benchServerMain(kind string) int {
	calls, _ := strconv.Atoi(os.Getenv("RELAY_BENCH_CALLS"))
	var addr string
	var stop func()
	switch kind {
	case "peercall", "peercall-kernel":
		cfg := testConfig()
		cfg.MaxSessions = 2*calls + 16
		cfg.MaxSessionsPerUser = 2
		cfg.MaxKbps = 1_000_000 // far above the offered load: measure the path, not the cap
		cfg.AllowedPeerRanges = peerfilter.NewRanges("127.0.0.0/8")
		r, err := New(cfg, Options{DirectoryKey: make([]byte, 32), Secret: []byte(benchSecret),
			ListenIP: net.IPv4(127, 0, 0, 1), Logger: quietLogger(), NoFastPath: kind == "peercall-kernel"})
		if err == nil {
			err = r.Start(context.Background())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		addr, stop = r.Addrs().UDP.String(), func() { r.Close() }
	case "bare":
		srv, a, err := startBareTURN()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		addr, stop = a, func() { srv.Close() }
	default:
		fmt.Fprintf(os.Stderr, "unknown server %q\n", kind)
		return 2
	}
	if path := os.Getenv("RELAY_BENCH_PROFILE"); path != "" { // a CPU profile of the server's run
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	fmt.Printf("ADDR %s\n", addr)
	io.Copy(io.Discard, bufio.NewReader(os.Stdin)) //nolint:errcheck // until the parent closes stdin
	stop()
	return 0
}

// startBareTURN is pion/turn's simple-multithreaded example: one UDP socket
// per core sharing the port and the same socket buffers as the relay's,
// static relay addresses, TURN REST credentials, and nothing else: the
// difference between the two servers is the relay's limits, metering and
// credential checks.
func startBareTURN() (*turn.Server, string, error) {
	lc := net.ListenConfig{Control: reuseport.Control}
	conn, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	gen := &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}
	pcs := []turn.PacketConnConfig{{PacketConn: conn, RelayAddressGenerator: gen}}
	for len(pcs) < runtime.GOMAXPROCS(0) {
		c, err := lc.ListenPacket(context.Background(), "udp4", conn.LocalAddr().String())
		if err != nil {
			return nil, "", err
		}
		pcs = append(pcs, turn.PacketConnConfig{PacketConn: c, RelayAddressGenerator: gen})
	}
	for _, pc := range pcs {
		setSocketBuffers(pc.PacketConn)
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:             DefaultRealm,
		AuthHandler:       turn.LongTermTURNRESTAuthHandler(benchSecret, pionlog.New(quietLogger(), pionlog.Server).NewLogger("turn")),
		LoggerFactory:     pionlog.New(quietLogger(), pionlog.Server),
		PacketConnConfigs: pcs,
	})
	if err != nil {
		return nil, "", err
	}
	return srv, conn.LocalAddr().String(), nil
}
