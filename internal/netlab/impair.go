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

// Impairment makes a machine's link lossy and slow. It applies in both
// directions: each packet leaving or reaching the machine through its link
// is dropped with probability Loss, and delayed by Delay ± Jitter, so the
// round trip between two impaired machines grows by four Delays.
type Impairment struct {
	Loss   float64 // 0 to 1
	Delay  time.Duration
	Jitter time.Duration
}

// lossChain is the mangle chain in a machine's namespace holding its loss rules.
const lossChain = "netlab-loss"

// Impair replaces the impairment of the machine's link (a router's WAN link)
// with imp; the zero Impairment restores a clean link. Loss is done with the
// iptables statistic match in the machine's namespace and works on any
// kernel; Delay and Jitter need sch_netem and fail with ErrNoNetem without it.
func (h *Host) Impair(imp Impairment) error {
	if imp.Loss < 0 || imp.Loss > 1 || imp.Delay < 0 || imp.Jitter < 0 || imp.Jitter > imp.Delay {
		return fmt.Errorf("netlab: impair %s: want 0 <= Loss <= 1 and 0 <= Jitter <= Delay, got %+v", h.name, imp)
	}
	if err := h.setDelay(imp.Delay, imp.Jitter); err != nil {
		return err
	}
	return h.setLoss(imp.Loss)
}

// setDelay puts a netem qdisc on both ends of the machine's link, or removes
// it for a zero delay.
func (h *Host) setDelay(delay, jitter time.Duration) error {
	ends := [][2]string{{h.ns, h.ifname}, {h.seg.ns, h.port}}
	for _, e := range ends {
		if delay == 0 {
			// Deleting a qdisc that is not there fails; that is fine.
			_, _ = run("tc", "-n", e[0], "qdisc", "del", "dev", e[1], "root")
			continue
		}
		args := []string{"-n", e[0], "qdisc", "replace", "dev", e[1], "root", "netem", "delay", usec(delay)}
		if jitter > 0 {
			args = append(args, usec(jitter))
		}
		if _, err := run("tc", args...); err != nil {
			if strings.Contains(err.Error(), "qdisc kind is unknown") {
				return fmt.Errorf("netlab: delay on %s: %w", h.name, ErrNoNetem)
			}
			return fmt.Errorf("netlab: delay on %s: %w", h.name, err)
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
