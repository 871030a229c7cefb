//go:build linux

package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

var (
	benchCalls   = flag.String("relay.calls", "100,250,500,1000,2000", "BenchmarkRelayedCalls: comma-separated numbers of concurrent calls")
	benchTraffic = flag.Duration("relay.traffic", 5*time.Second, "BenchmarkRelayedCalls: measured traffic time per run")
	benchServers = flag.String("relay.servers", "peercall,peercall-kernel,bare,coturn", "BenchmarkRelayedCalls: servers to measure (peercall, peercall-kernel: without the fast path, bare: pion/turn, coturn)")
	benchCPU     = flag.Int("relay.servercpu", -1, "BenchmarkRelayedCalls: pin the server to this CPU with taskset (-1: no pinning); run the generator pinned elsewhere (taskset -c 0 relay.test ...)")
	benchJSON    = flag.String("relay.json", "", "BenchmarkRelayedCalls: append one JSON line per run to this file")
	benchRT      = flag.Bool("relay.rt", false, "BenchmarkRelayedCalls: run the server under SCHED_FIFO (chrt -f 10), so that other processes on its CPU do not delay its packets (run the generator so too: chrt -f 10 taskset -c 0 relay.test ...)")
	benchRepeat  = flag.Int("relay.repeat", 1, "BenchmarkRelayedCalls: runs of every server and size, the servers' order rotated each time (the spread is the noise)")
)

// BenchmarkRelayedCalls runs N concurrent relayed calls through one
// server in a child process: peercall's super-node (with and without its
// fast path), a bare pion/turn server (static relay addresses, TURN REST
// auth, no limits, no metering) and coturn (Debian's, TURN REST secret;
// `apt-get install coturn` when it is missing, else that run is skipped),
// in the same run with the same generator (loadgen_test.go). A call is two
// TURN clients, each with its own UDP allocation, sending to the other's
// relayed address at 50 packets/s of 80 bytes (20 ms Opus frames) over a
// bound channel, as ICE does with two relayed candidates: every packet
// crosses the server twice (or is handed between the two allocations in
// process by peercall's fast path). It reports the loss, the one-way delay
// through the server (p50, p99: loopback adds microseconds, so this is the
// delay the server adds) and the server's CPU per delivered packet.
//
//	go test -run '^$' -bench BenchmarkRelayedCalls -benchtime 1x ./relay/
//	go test -c -o /tmp/relay.test ./relay/ && taskset -c 0 /tmp/relay.test -test.run '^$' -test.bench RelayedCalls -test.benchtime 1x -relay.servercpu 1 -relay.calls 1000
func BenchmarkRelayedCalls(b *testing.B) {
	var ns []int
	for _, s := range strings.Split(*benchCalls, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			b.Fatalf("-relay.calls: %q is not a positive number", s)
		}
		ns = append(ns, n)
	}
	servers := strings.Split(*benchServers, ",")
	var all []callResult
	for rep := range max(*benchRepeat, 1) {
		for _, n := range ns {
			for i := range servers {
				kind := servers[(i+rep)%len(servers)]
				b.Run(fmt.Sprintf("calls=%d/server=%s/rep=%d", n, kind, rep), func(b *testing.B) {
					if kind == "coturn" {
						if _, err := exec.LookPath("turnserver"); err != nil {
							b.Skip("coturn's turnserver is not installed (apt-get install coturn)")
						}
					}
					for range b.N {
						res := runCalls(b, kind, n, *benchTraffic)
						res.Rep = rep
						all = append(all, res)
						reportCalls(b, res)
					}
				})
			}
		}
	}
	printCallTable(os.Stdout, all)
}

func reportCalls(b *testing.B, res callResult) {
	b.ReportMetric(res.LossPct, "loss-%")
	b.ReportMetric(res.P50ms, "p50-ms")
	b.ReportMetric(res.P99ms, "p99-ms")
	b.ReportMetric(res.SentPPS, "sent-pkt/s")
	b.ReportMetric(res.GenUsPerPkt, "client-cpu-us/pkt")
	b.ReportMetric(res.ServerUsPerPkt, "server-cpu-us/pkt")
	if res.ServerUsPerPkt > 0 {
		b.ReportMetric(1e6/(res.ServerUsPerPkt*100), "calls/core")
	}
	b.Logf("%s: %d calls, %d streams x 50 pkt/s for %v: loss %.3f%% (%d UDP receive-buffer drops on the host), p50 %.2f ms, p99 %.2f ms, server %.1f µs CPU/pkt (%.0f%% of a core), generator %.1f µs/pkt, meets <1%% loss & <5 ms p99: %v",
		res.Server, res.Calls, 2*res.Calls, *benchTraffic, res.LossPct, res.RcvbufErrors, res.P50ms, res.P99ms, res.ServerUsPerPkt, res.ServerCores*100, res.GenUsPerPkt, res.Meets)
	if *benchJSON != "" {
		writeJSONLine(b, *benchJSON, res)
	}
}

// printCallTable prints, per size and server, the median of the runs and
// their range: on a shared machine the range is the noise.
func printCallTable(w io.Writer, all []callResult) {
	if len(all) == 0 {
		return
	}
	type key struct {
		calls  int
		server string
	}
	groups := map[key][]callResult{}
	var keys []key
	for _, r := range all {
		k := key{r.Calls, r.Server}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	order := map[string]int{}
	for i, s := range strings.Split(*benchServers, ",") {
		order[s] = i
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.calls != b.calls {
			return a.calls - b.calls
		}
		return order[a.server] - order[b.server]
	})
	stat := func(rs []callResult, f func(callResult) float64, prec int) string {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		med := v[len(v)/2]
		if len(v)%2 == 0 {
			med = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		if len(v) == 1 {
			return strconv.FormatFloat(med, 'f', prec, 64)
		}
		return fmt.Sprintf("%.*f (%.*f–%.*f)", prec, med, prec, v[0], prec, v[len(v)-1])
	}
	fmt.Fprintf(w, "\nrelayed calls, server pinned to CPU %d (SCHED_FIFO: %v), %v of traffic per run; median (min–max) of the runs:\n\n", *benchCPU, *benchRT, *benchTraffic)
	fmt.Fprintln(w, "| calls | server | runs | server CPU µs/pkt | loss % | p99 ms | p50 ms | runs meeting <1 % & <5 ms |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, k := range keys {
		rs := groups[k]
		meets := 0
		for _, r := range rs {
			if r.Meets {
				meets++
			}
		}
		fmt.Fprintf(w, "| %d | %s | %d | %s | %s | %s | %s | %d/%d |\n", k.calls, k.server, len(rs),
			stat(rs, func(r callResult) float64 { return r.ServerUsPerPkt }, 1),
			stat(rs, func(r callResult) float64 { return r.LossPct }, 2),
			stat(rs, func(r callResult) float64 { return r.P99ms }, 2),
			stat(rs, func(r callResult) float64 { return r.P50ms }, 2), meets, len(rs))
	}
}

// callResult is one run's figures (a JSON line of -relay.json).
type callResult struct {
	Bench          string  `json:"bench"` // "relay_calls"
	Server         string  `json:"server"`
	Calls          int     `json:"calls"`
	ServerCPU      int     `json:"server_cpu"` // -1: not pinned
	RealTime       bool    `json:"sched_fifo"` // -relay.rt
	LossPct        float64 `json:"loss_pct"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	SentPPS        float64 `json:"sent_pps"`
	GenUsPerPkt    float64 `json:"generator_us_per_pkt"` // load generator CPU per delivered packet
	ServerUsPerPkt float64 `json:"server_us_per_pkt"`    // server process CPU per delivered packet
	ServerCores    float64 `json:"server_cores"`         // server CPU time / wall time
	Meets          bool    `json:"meets_1pct_5ms"`
	Rep            int     `json:"rep"`           // which of -relay.repeat
	RcvbufErrors   uint64  `json:"rcvbuf_errors"` // the host's UDP receive-buffer drops during the run (any socket)
}

func writeJSONLine(b *testing.B, path string, v any) {
	line, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		b.Fatal(err)
	}
}

func runCalls(b *testing.B, kind string, calls int, traffic time.Duration) callResult {
	b.StopTimer()
	srv := startBenchServer(b, kind, calls)
	defer srv.close()
	base := time.Now()
	server, err := net.ResolveUDPAddr("udp4", srv.addr)
	if err != nil {
		b.Fatal(err)
	}
	var socks []*genSocket
	defer func() {
		for _, s := range socks {
			s.conn.Close()
			<-s.done
		}
	}()
	for range genSockets {
		s, err := newGenSocket(server, base)
		if err != nil {
			b.Fatal(err)
		}
		socks = append(socks, s)
	}
	eps, err := allocateEndpoints(context.Background(), srv, socks, 2*calls)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, e := range eps {
			e.close()
		}
	}()
	streams, err := prepareStreams(eps)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)

	cpuBefore, serverBefore, dropsBefore := processCPU(), srv.cpu(), udpRcvbufErrors()
	sent, failed, elapsed, sendErr := sendMeasured(socks, streams, base, traffic)
	time.Sleep(300 * time.Millisecond) // in flight
	cpu, serverCPU, drops := processCPU()-cpuBefore, srv.cpu()-serverBefore, udpRcvbufErrors()-dropsBefore
	if failed > 0 {
		b.Logf("%d sends failed: %v", failed, sendErr)
	}
	for _, s := range socks {
		s.conn.Close()
		<-s.done
	}
	socks = nil
	var received int
	var delays []time.Duration
	for _, e := range eps {
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
	res := callResult{Bench: "relay_calls", Server: kind, Calls: calls, ServerCPU: *benchCPU, RealTime: *benchRT, P50ms: pct(0.50), P99ms: pct(0.99),
		SentPPS: float64(sent) / elapsed.Seconds(), ServerCores: serverCPU.Seconds() / (elapsed + 300*time.Millisecond).Seconds(),
		RcvbufErrors: drops}
	if received > 0 {
		res.GenUsPerPkt = float64(cpu.Microseconds()) / float64(received)
		res.ServerUsPerPkt = float64(serverCPU.Microseconds()) / float64(received)
	}
	if sent > 0 {
		res.LossPct = 100 * float64(sent-received) / float64(sent)
	}
	res.Meets = sent > 0 && res.LossPct < 1 && res.P99ms < 5
	return res
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
	if kind == "coturn" {
		return startCoturn(b)
	}
	cmd := pinned(os.Args[0], "-test.run=^$")
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

// pinned is the command name args, under taskset -c -relay.servercpu when
// that is set and chrt -f 10 with -relay.rt (both exec it: the pid is the
// server's).
func pinned(name string, args ...string) *exec.Cmd {
	if *benchRT {
		args = append([]string{"-f", "10", name}, args...)
		name = "chrt"
	}
	if *benchCPU < 0 {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", strconv.Itoa(*benchCPU), name}, args...)...)
}

// startCoturn runs Debian's coturn on a free port of 127.0.0.1 with TURN
// REST secret auth, loopback peers allowed (the benchmark's peers are
// other allocations on 127.0.0.1), no TLS, CLI or database, one relay
// thread per CPU it may use, and waits until it answers a STUN binding.
func startCoturn(b *testing.B) benchTURN {
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	dir := b.TempDir()
	threads := "2"
	if *benchCPU >= 0 {
		threads = "1"
	}
	cmd := pinned("turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--listening-port="+strconv.Itoa(port),
		"--min-port=20000", "--max-port=59999", "--use-auth-secret", "--static-auth-secret="+benchSecret, "--realm="+DefaultRealm,
		"--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-tcp-relay", "--no-cli", "--no-stdout-log", "--log-file=/dev/null",
		"--pidfile="+dir+"/turnserver.pid", "--db="+dir+"/turndb", "--relay-threads="+threads, "--no-software-attribute", "--no-multicast-peers")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		stop()
		b.Fatal(err)
	}
	defer c.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	ua, _ := net.ResolveUDPAddr("udp4", addr)
	for try := 0; ; try++ {
		c.WriteTo(req.Raw, ua) //nolint:errcheck // retried
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, _, err := c.ReadFrom(make([]byte, 1500)); err == nil {
			break
		}
		if try == 50 {
			stop()
			b.Fatalf("coturn did not answer on %s in 5 s", addr)
		}
	}
	pid := cmd.Process.Pid
	return benchTURN{addr: addr, cpu: func() time.Duration { return procCPU(pid) }, close: stop}
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

// udpRcvbufErrors is the host's count of UDP datagrams dropped for a full
// receive buffer (/proc/net/snmp, Udp RcvbufErrors).
func udpRcvbufErrors() uint64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
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
