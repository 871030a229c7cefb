package supernode

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

// cpuSampler measures the busy fraction of all cores (0..1) from
// /proc/stat between two calls: the promotion loop's CPU load input. The
// first call measures since boot. Where /proc/stat is unreadable (not
// Linux) it reports 0: an unknown load does not block promotion, the other
// conditions still apply.
type cpuSampler struct {
	mu                sync.Mutex
	lastBusy, lastAll uint64
}

func (s *cpuSampler) load() float64 {
	busy, all, ok := readProcStat()
	if !ok {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db, da := busy-s.lastBusy, all-s.lastAll
	if busy < s.lastBusy || all <= s.lastAll {
		db, da = busy, all
	}
	s.lastBusy, s.lastAll = busy, all
	if da == 0 {
		return 0
	}
	return min(float64(db)/float64(da), 1)
}

// readProcStat sums the first "cpu" line of /proc/stat: busy is every
// field but idle and iowait.
func readProcStat() (busy, all uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, s := range fields[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		if i >= 8 { // guest and guest_nice are already counted in user and nice
			break
		}
		all += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, all, all > 0
}
