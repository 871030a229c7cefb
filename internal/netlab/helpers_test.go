package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const echoPkg = "github.com/peercall/peercall/internal/netlab/labecho"

// echo starts labecho on h, answering on the given UDP and TCP ports, and
// waits until it listens.
func echo(t *testing.T, h *Host, udpPorts, tcpPorts []int) *Process {
	t.Helper()
	bin := BuildBinary(t, echoPkg)
	p := h.Start(nil, bin, "-udp", ports(udpPorts), "-tcp", ports(tcpPorts), "-for", "2m")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.WaitFor(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	return p
}

func ports(ps []int) string {
	var s []string
	for _, p := range ps {
		s = append(s, ":"+strconv.Itoa(p))
	}
	return strings.Join(s, ",")
}

// listenUDP opens a UDP socket on h (port 0: any) that stays in h's
// namespace; it is closed when the test ends.
func listenUDP(t *testing.T, h *Host, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := h.Run(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		return err
	})
	if err != nil {
		t.Fatalf("listen UDP on %s: %v", h, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// errNoAnswer is what a probe returns when nothing came back in time.
var errNoAnswer = errors.New("no answer")

// How long a probe waits: long when an answer is expected (the machine may
// be loaded: every hop of the lab is a softirq that has to get a CPU), short
// when silence is expected.
const (
	answerWait  = 5 * time.Second
	silenceWait = time.Second
)

// wait picks answerWait or silenceWait.
func wait(wantAnswer bool) time.Duration {
	if wantAnswer {
		return answerWait
	}
	return silenceWait
}

// probes numbers askUDP's datagrams so stale answers are told apart.
var probes atomic.Int64

// askUDP sends to an echo server from c and returns the source address the
// server saw. Answers to earlier probes still queued on c are skipped. It
// sends again after 250 ms, 500 ms, then every second, and gives up after
// patience.
func askUDP(c *net.UDPConn, to netip.AddrPort, patience time.Duration) (netip.AddrPort, error) {
	buf := make([]byte, 512)
	nonce := fmt.Sprintf("probe-%d", probes.Add(1))
	end := time.Now().Add(patience)
	for try := 250 * time.Millisecond; time.Now().Before(end); try = min(2*try, time.Second) {
		if _, err := c.WriteToUDPAddrPort([]byte(nonce), to); err != nil {
			return netip.AddrPort{}, err // e.g. network unreachable
		}
		deadline := time.Now().Add(try)
		if deadline.After(end) {
			deadline = end
		}
		_ = c.SetReadDeadline(deadline)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				break // timeout: send again
			}
			addr, payload, _ := strings.Cut(string(buf[:n]), " "+nonce)
			if from != to || payload != "" || len(addr) == n {
				continue // not the answer to this probe
			}
			return parseFrom(addr)
		}
	}
	return netip.AddrPort{}, errNoAnswer
}

// askTCP connects from h to an echo server and returns the source address the
// server saw, giving up after patience.
func askTCP(h *Host, to netip.AddrPort, patience time.Duration) (seen netip.AddrPort, err error) {
	err = h.Run(func() error {
		c, err := net.DialTimeout("tcp4", to.String(), patience)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(patience))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return fmt.Errorf("read answer: %w", err)
		}
		seen, err = parseFrom(strings.TrimSpace(line))
		return err
	})
	return seen, err
}

func parseFrom(s string) (netip.AddrPort, error) {
	a, ok := strings.CutPrefix(s, "from ")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("echo answered %q, want \"from ADDR:PORT\"", s)
	}
	return netip.ParseAddrPort(a)
}

// receives reports whether c gets a datagram from `from` within d; other
// senders are ignored.
func receives(c *net.UDPConn, from netip.AddrPort, d time.Duration) bool {
	buf := make([]byte, 512)
	_ = c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	for {
		_, got, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return false
		}
		if got == from {
			return true
		}
	}
}

func ap(a netip.Addr, port int) netip.AddrPort { return netip.AddrPortFrom(a, uint16(port)) }
