package netlab

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// netnsDir is where `ip netns add` mounts named namespaces.
const netnsDir = "/run/netns"

var sweepOnce sync.Once

// sweepStale deletes, once per process, the pcl- namespaces left behind by
// test processes that died before their cleanup ran: those whose owner pid
// (part of the name) is gone, or was reused by a process started after the
// namespace was made. Namespaces of live labs, in this or other processes,
// are left alone.
func sweepStale(t testing.TB) {
	sweepOnce.Do(func() { sweep(t) })
}

func sweep(t testing.TB) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return // no named namespaces at all
	}
	for _, e := range entries {
		owner, ok := ownerPID(e.Name())
		if !ok || owner == os.Getpid() {
			continue
		}
		info, err := e.Info()
		if err != nil || ownerAlive(owner, info.ModTime()) {
			continue
		}
		if err := deleteNamespace(e.Name()); err != nil {
			t.Logf("netlab: stale namespace: %v", err)
		} else {
			t.Logf("netlab: deleted stale namespace %s (owner pid %d is gone)", e.Name(), owner)
		}
	}
}

// ownerPID parses pcl-<id>-<pid>-<name>.
func ownerPID(ns string) (int, bool) {
	if !strings.HasPrefix(ns, nsPrefix) {
		return 0, false
	}
	parts := strings.SplitN(strings.TrimPrefix(ns, nsPrefix), "-", 3)
	if len(parts) != 3 {
		return 0, false
	}
	pid, err := strconv.Atoi(parts[1])
	return pid, err == nil && pid > 0
}

// ownerAlive reports whether process pid exists and started no later than
// created (the namespace's creation time), i.e. may still own it.
func ownerAlive(pid int, created time.Time) bool {
	started, ok := processStart(pid)
	if !ok {
		return false
	}
	return !started.After(created.Add(time.Second)) // stat times are coarse
}

// processStart reads when pid started, from /proc/<pid>/stat and /proc/stat.
func processStart(pid int) (time.Time, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return time.Time{}, false
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces; starttime is field 22 overall, 20th after the ')'.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return time.Time{}, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	boot, ok := bootTime()
	if !ok {
		return time.Time{}, false
	}
	const userHZ = 100 // USER_HZ is 100 on every Linux ABI Go supports
	return boot.Add(time.Duration(ticks) * time.Second / userHZ), true
}

func bootTime() (time.Time, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(sec, 0), true
		}
	}
	return time.Time{}, false
}
