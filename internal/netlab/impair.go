package netlab

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNoNetem means the kernel has no sch_netem qdisc, so Impair cannot add
// delay; tests needing delay should skip on it.
var ErrNoNetem = errors.New("the kernel has no sch_netem qdisc (tc: Specified qdisc kind is unknown); load it with `modprobe sch_netem` or use a kernel built with CONFIG_NET_SCH_NETEM")

// Impairment makes a machine's link lossy, slow or narrow. It applies in
// both directions: each packet leaving or reaching the machine through its
// link is dropped with probability Loss, delayed by Delay ± Jitter (so the
// round trip between two impaired machines grows by four Delays), and sent
// at no more than Rate bits per second, with what queues beyond 50 ms of
// Rate dropped.
type Impairment struct {
	Loss   float64 // 0 to 1
	Delay  time.Duration
	Jitter time.Duration
	Rate   int64 // bits per second; 0: unlimited
}

// lossChain is the mangle chain in a machine's namespace holding its loss rules.
const lossChain = "netlab-loss"

// Impair replaces the impairment of the machine's link (a router's WAN link)
// with imp; the zero Impairment restores a clean link. Loss is done with the
// iptables statistic match in the machine's namespace and works on any
// kernel; Rate uses the tbf qdisc; Delay and Jitter need sch_netem and fail
// with ErrNoNetem without it.
func (h *Host) Impair(imp Impairment) error {
	if imp.Loss < 0 || imp.Loss > 1 || imp.Delay < 0 || imp.Jitter < 0 || imp.Jitter > imp.Delay || imp.Rate < 0 || (imp.Rate > 0 && imp.Rate < 8000) {
		return fmt.Errorf("netlab: impair %s: want 0 <= Loss <= 1, 0 <= Jitter <= Delay and Rate 0 or at least 8000 bit/s, got %+v", h.name, imp)
	}
	if err := h.setQdiscs(imp.Delay, imp.Jitter, imp.Rate); err != nil {
		return err
	}
	return h.setLoss(imp.Loss)
}

// setQdiscs puts netem (delay) and/or tbf (rate) on both ends of the
// machine's link, or removes them.
func (h *Host) setQdiscs(delay, jitter time.Duration, rate int64) error {
	ends := [][2]string{{h.ns, h.ifname}, {h.seg.ns, h.port}}
	for _, e := range ends {
		// Start clean; deleting a qdisc that is not there fails, which is fine.
		_, _ = run("tc", "-n", e[0], "qdisc", "del", "dev", e[1], "root")
		tbfParent := []string{"root"}
		if delay > 0 {
			args := []string{"-n", e[0], "qdisc", "add", "dev", e[1], "root", "handle", "1:", "netem", "delay", usec(delay)}
			if jitter > 0 {
				args = append(args, usec(jitter))
			}
			if _, err := run("tc", args...); err != nil {
				if strings.Contains(err.Error(), "qdisc kind is unknown") {
					return fmt.Errorf("netlab: delay on %s: %w", h.name, ErrNoNetem)
				}
				return fmt.Errorf("netlab: delay on %s: %w", h.name, err)
			}
			tbfParent = []string{"parent", "1:1", "handle", "10:"}
		}
		if rate > 0 {
			// A burst of 10 ms of rate, but never less than a full-size frame.
			burst := max(rate/8/100, 1600)
			args := append([]string{"-n", e[0], "qdisc", "add", "dev", e[1]}, tbfParent...)
			args = append(args, "tbf", "rate", strconv.FormatInt(rate, 10)+"bit", "burst", strconv.FormatInt(burst, 10), "latency", "50ms")
			if _, err := run("tc", args...); err != nil {
				return fmt.Errorf("netlab: rate limit on %s: %w", h.name, err)
			}
		}
	}
	return nil
}

func usec(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) + "us" }

// setLoss (re)writes the machine's loss chain: a random drop on the way in
// and on the way out of its link.
func (h *Host) setLoss(loss float64) error {
	ipt := func(args ...string) error {
		_, err := run("ip", append([]string{"netns", "exec", h.ns, "iptables", "-w", "5", "-t", "mangle"}, args...)...)
		return err
	}
	if ipt("-F", lossChain) != nil { // the chain does not exist yet
		if err := ipt("-N", lossChain); err != nil {
			return fmt.Errorf("netlab: loss on %s: %w", h.name, err)
		}
		for _, hook := range [][]string{{"PREROUTING", "-i"}, {"POSTROUTING", "-o"}} {
			if err := ipt("-A", hook[0], hook[1], h.ifname, "-j", lossChain); err != nil {
				return fmt.Errorf("netlab: loss on %s: %w", h.name, err)
			}
		}
	}
	if loss == 0 {
		return nil
	}
	p := strconv.FormatFloat(loss, 'f', 6, 64)
	if err := ipt("-A", lossChain, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"); err != nil {
		return fmt.Errorf("netlab: loss on %s: %w", h.name, err)
	}
	return nil
}
