//go:build linux

package relay

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/pionlog"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

var (
	benchCalls   = flag.String("relay.calls", "100,250,500,750", "BenchmarkRelayedCalls: comma-separated numbers of concurrent calls")
	benchTraffic = flag.Duration("relay.traffic", 5*time.Second, "BenchmarkRelayedCalls: measured traffic time per run")
)

// BenchmarkRelayedCalls runs N concurrent relayed calls through one
// super-node and, as the reference, through a bare pion/turn server (static
// relay addresses, TURN REST auth, no limits, no metering) in the same run.
// A call is two TURN clients on 127.0.0.1, each with its own UDP
// allocation, sending to the other's relayed address at 50 packets/s of 80
// bytes (20 ms Opus frames) over a bound channel (ChannelData), as ICE
// does with two relayed candidates: every packet crosses the server twice.
// It reports the loss and the one-way delay through the server (p50, p99;
// direct loopback adds microseconds, so this is the delay the relay adds).
//
//	go test -run '^$' -bench BenchmarkRelayedCalls -benchtime 1x ./relay/
//	go test -run '^$' -bench BenchmarkRelayedCalls -benchtime 1x ./relay/ -relay.calls 500 -relay.traffic 5s
func BenchmarkRelayedCalls(b *testing.B) {
	var ns []int
	for _, s := range strings.Split(*benchCalls, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			b.Fatalf("-relay.calls: %q is not a positive number", s)
		}
		ns = append(ns, n)
	}
	for _, n := range ns {
		for _, kind := range []string{"bare", "peercall"} {
			b.Run(fmt.Sprintf("calls=%d/server=%s", n, kind), func(b *testing.B) {
				for range b.N {
					res := runCalls(b, kind, n, *benchTraffic)
					b.ReportMetric(res.lossPct, "loss-%")
					b.ReportMetric(res.p50ms, "p50-ms")
					b.ReportMetric(res.p99ms, "p99-ms")
					b.ReportMetric(res.sentPPS, "sent-pkt/s")
					b.ReportMetric(res.cpuUsPerPkt, "client-cpu-us/pkt")
					b.ReportMetric(res.serverUsPerPkt, "server-cpu-us/pkt")
					if res.serverUsPerPkt > 0 {
						b.ReportMetric(1e6/(res.serverUsPerPkt*100), "calls/core")
					}
					ok := res.lossPct < 1 && res.p99ms < 5
					b.Logf("%s: %d calls, %d streams x 50 pkt/s for %v: loss %.3f%%, p50 %.2f ms, p99 %.2f ms, server %.1f µs CPU/pkt, meets <1%% loss & <5 ms p99: %v",
						kind, n, 2*n, *benchTraffic, res.lossPct, res.p50ms, res.p99ms, res.serverUsPerPkt, ok)
				}
			})
		}
	}
}

type callResult struct {
	lossPct, p50ms, p99ms, sentPPS float64
	cpuUsPerPkt                    float64 // load generator CPU per delivered packet
	serverUsPerPkt                 float64 // server process CPU per delivered packet
}

// benchTURN is the server under test, running in a child process: its
// UDP address, a way to mint credentials, and its CPU time so far.
type benchTURN struct {
	addr  string
	cpu   func() time.Duration
	close func()
}

func (benchTURN) creds(user string) (string, string) {
	u, p, err := turn.GenerateLongTermTURNRESTCredentials(benchSecret, user, time.Hour)
	if err != nil {
		panic(err) // HMAC cannot fail
	}
	return u, p
}

// startBenchServer re-runs this test binary as the server (see TestMain
// and benchServerMain).
func startBenchServer(b *testing.B, kind string, calls int) benchTURN {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RELAY_BENCH_SERVER="+kind, "RELAY_BENCH_CALLS="+strconv.Itoa(calls))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		stdin.Close()
		cmd.Wait()
		b.Fatalf("bench server %s did not start: %q, %v", kind, line, err)
	}
	pid := cmd.Process.Pid
	return benchTURN{
		addr: addr,
		cpu:  func() time.Duration { return procCPU(pid) },
		close: func() {
			stdin.Close()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					b.Errorf("bench server %s: %v", kind, err)
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				b.Errorf("bench server %s did not stop in 10 s; killed", kind)
			}
		},
	}
}

// procCPU is the user and system CPU time of process pid, from
// /proc/pid/stat (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s) // f[0] is field 3 (state); utime is field 14, stime 15
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// benchEndpoint is one side of a call: a UDP socket read by one goroutine
// that takes ChannelData (the media) itself and hands every STUN message
// to the pion client (which was not started with Listen).
type benchEndpoint struct {
	conn   net.PacketConn
	client *turn.Client
	relay  net.PacketConn
	// written by the reader goroutine only, read after it ends
	received int
	delays   []time.Duration
	done     chan struct{}
}

const (
	benchPayload  = 80
	phaseWarmUp   = 0
	phaseMeasured = 1
)

func (e *benchEndpoint) read(base time.Time) {
	defer close(e.done)
	buf := make([]byte, 1600)
	for {
		n, from, err := e.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		p := buf[:n]
		if n >= 4 && p[0] >= 0x40 && p[0] <= 0x7f { // ChannelData
			l := int(binary.BigEndian.Uint16(p[2:4]))
			if 4+l > n || l < 13 {
				continue
			}
			data := p[4 : 4+l]
			if data[12] != phaseMeasured {
				continue
			}
			sent := time.Duration(binary.BigEndian.Uint64(data[0:8]))
			e.delays = append(e.delays, time.Since(base)-sent)
			e.received++
			continue
		}
		if stun.IsMessage(p) {
			e.client.HandleInbound(p, from) //nolint:errcheck // a bad packet is the client's business
		}
	}
}

func newBenchEndpoint(b *testing.B, srv benchTURN, user string, base time.Time) (*benchEndpoint, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u, p := srv.creds(user)
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: srv.addr, Conn: conn, Username: u, Password: p,
		LoggerFactory: pionlog.New(quietLogger(), pionlog.Server),
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	e := &benchEndpoint{conn: conn, client: client, done: make(chan struct{})}
	go e.read(base)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e.relay, err = client.AllocateWithContext(ctx); err != nil {
		e.close()
		return nil, fmt.Errorf("allocate for %s: %w", user, err)
	}
	return e, nil
}

func (e *benchEndpoint) close() {
	if e.relay != nil {
		e.relay.Close()
	}
	e.client.Close()
	e.conn.Close()
	<-e.done
}

type benchStream struct {
	from   *benchEndpoint
	to     net.Addr // the receiver's relayed address
	sent   int
	failed int
	err    error
	slot   int // 0..19: which millisecond of the 20 ms period it sends in
}

func runCalls(b *testing.B, kind string, calls int, traffic time.Duration) callResult {
	b.StopTimer()
	srv := startBenchServer(b, kind, calls)
	defer srv.close()
	base := time.Now()

	// Allocate 2 x calls endpoints, 8 at a time.
	eps := make([]*benchEndpoint, 2*calls)
	var wg sync.WaitGroup
	errs := make(chan error, len(eps))
	sem := make(chan struct{}, 8)
	for i := range eps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e, err := newBenchEndpoint(b, srv, fmt.Sprintf("user%d", i), base)
			if err != nil {
				errs <- err
				return
			}
			eps[i] = e
		}()
	}
	wg.Wait()
	defer func() {
		for _, e := range eps {
			if e != nil {
				e.close()
			}
		}
	}()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}

	streams := make([]*benchStream, 0, 2*calls)
	for i := 0; i < calls; i++ {
		a, c := eps[2*i], eps[2*i+1]
		streams = append(streams,
			&benchStream{from: a, to: c.relay.LocalAddr(), slot: (2 * i) % 20},
			&benchStream{from: c, to: a.relay.LocalAddr(), slot: (2*i + 1) % 20})
	}

	// Warm up: permissions and channel bindings are made by the first
	// writes; three rounds 100 ms apart, not measured.
	pkt := make([]byte, benchPayload)
	for round := 0; round < 3; round++ {
		for _, s := range streams {
			pkt[12] = phaseWarmUp
			s.from.relay.WriteTo(pkt, s.to) //nolint:errcheck
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)

	// Measured traffic: 4 sender goroutines; each wakes every millisecond
	// and sends, for every slot that came due, one packet per stream in
	// that slot, so every stream sends 50 packets/s.
	const senders = 4
	cpuBefore, serverBefore := processCPU(), srv.cpu()
	start := time.Now()
	var swg sync.WaitGroup
	for g := 0; g < senders; g++ {
		swg.Add(1)
		go func() {
			defer swg.Done()
			var mine [20][]*benchStream
			for i, s := range streams {
				if i%senders == g {
					mine[s.slot] = append(mine[s.slot], s)
				}
			}
			buf := make([]byte, benchPayload)
			buf[12] = phaseMeasured
			next := 0 // next millisecond slot to send
			for {
				now := time.Since(start)
				if now >= traffic {
					return
				}
				due := int(now / time.Millisecond)
				for ; next <= due; next++ {
					for _, s := range mine[next%20] {
						binary.BigEndian.PutUint64(buf[0:8], uint64(time.Since(base)))
						if _, err := s.from.relay.WriteTo(buf, s.to); err != nil {
							s.failed++
							s.err = err
						} else {
							s.sent++
						}
					}
				}
				time.Sleep(time.Millisecond - time.Since(start)%time.Millisecond)
			}
		}()
	}
	swg.Wait()
	elapsed := time.Since(start)
	time.Sleep(300 * time.Millisecond) // in flight
	cpu, serverCPU := processCPU()-cpuBefore, srv.cpu()-serverBefore
	for _, e := range eps {
		e.conn.Close()
	}
	var sent, received int
	var delays []time.Duration
	failed := 0
	for _, s := range streams {
		sent += s.sent
		failed += s.failed
		if s.err != nil && failed == s.failed {
			b.Logf("send error: %v", s.err)
		}
	}
	if failed > 0 {
		b.Logf("%d sends failed", failed)
	}
	for _, e := range eps {
		<-e.done
		received += e.received
		delays = append(delays, e.delays...)
	}
	slices.Sort(delays)
	pct := func(p float64) float64 {
		if len(delays) == 0 {
			return 0
		}
		return float64(delays[int(p*float64(len(delays)-1))]) / float64(time.Millisecond)
	}
	res := callResult{p50ms: pct(0.50), p99ms: pct(0.99), sentPPS: float64(sent) / elapsed.Seconds()}
	if received > 0 {
		res.cpuUsPerPkt = float64(cpu.Microseconds()) / float64(received)
		res.serverUsPerPkt = float64(serverCPU.Microseconds()) / float64(received)
	}
	if sent > 0 {
		res.lossPct = 100 * float64(sent-received) / float64(sent)
	}
	return res
}

// processCPU is the user and system CPU time this process (the load
// generator) has used: the machine is shared, so CPU per packet is steadier
// than wall-clock rates.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
