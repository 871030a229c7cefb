package netlab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` mounts named namespaces.
const netnsDir = "/run/netns"

// ownerDir holds one lock file per process that makes lab namespaces,
// <pid>.lock, flock(2)ed by that process for as long as it lives: the
// kernel drops the lock when the process dies, however it dies, so a held
// lock proves the owner is alive whatever the clock or pid reuse say.
const ownerDir = "/run/netlab"

var (
	ownerOnce sync.Once
	ownerFile *os.File // this process's lock, held until it exits
	ownerErr  error
	sweepOnce sync.Once
)

// ownerLock is the lock file of the process pid.
func ownerLock(pid int) string { return filepath.Join(ownerDir, strconv.Itoa(pid)+".lock") }

// claimOwner takes this process's owner lock, once, before its first
// namespace is made; it fails t when it cannot (the sweep of other labs
// would then have only the pid to go by).
func claimOwner(t testing.TB) {
	t.Helper()
	ownerOnce.Do(func() {
		if err := os.MkdirAll(ownerDir, 0o755); err != nil {
			ownerErr = err
			return
		}
		ownerFile, ownerErr = lockOwnFile(ownerLock(os.Getpid()))
	})
	if ownerErr != nil {
		t.Fatalf("netlab: take the owner lock %s (it keeps other test processes from deleting this one's namespaces): %v", ownerLock(os.Getpid()), ownerErr)
	}
}

// lockOwnFile creates and locks path. The lock waits: a sweeper may hold
// a stale lock of this pid for a moment, and may remove the file meanwhile
// (then the lock is on a file nobody sees, and it starts over).
func lockOwnFile(path string) (*os.File, error) {
	for try := 0; try < 10; try++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("%s is removed each time it is locked", path)
}

// releaseOwner removes this process's lock file; for TestMain, once no
// namespace of this process is left.
func releaseOwner() {
	if ownerFile != nil {
		os.Remove(ownerFile.Name())
		ownerFile.Close()
		ownerFile = nil
	}
}

// sweepStale deletes, once per process, the pcl- namespaces left behind by
// test processes that died before their cleanup ran. Namespaces of live
// labs, in this or other processes, are left alone (see ownerGone).
func sweepStale(t testing.TB) {
	sweepOnce.Do(func() { sweep(t) })
}

func sweep(t testing.TB) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return // no named namespaces at all
	}
	byOwner := map[int][]os.DirEntry{}
	for _, e := range entries {
		if owner, ok := ownerPID(e.Name()); ok && owner != os.Getpid() {
			byOwner[owner] = append(byOwner[owner], e)
		}
	}
	for owner, spaces := range byOwner {
		sweepOwner(t, owner, spaces)
	}
	sweepLocks(t)
}

// sweepOwner deletes the namespaces of owner listed in spaces if owner is
// gone, holding its (free) lock meanwhile so that a new process with the
// same pid waits, and removes the lock file when none is left.
func sweepOwner(t testing.TB, owner int, spaces []os.DirEntry) {
	lock, held, err := tryLock(owner)
	if err != nil {
		t.Logf("netlab: stale namespaces of pid %d left alone: %v", owner, err)
		return
	}
	if held {
		return // the owner is alive
	}
	if lock != nil {
		defer lock.Close()
	}
	left := 0
	for _, e := range spaces {
		info, err := e.Info()
		if err != nil {
			left++ // vanished or unreadable: not ours to judge
			continue
		}
		if !ownerGone(owner, lock != nil, info.ModTime()) {
			left++
			continue
		}
		if err := deleteNamespace(e.Name()); err != nil {
			t.Logf("netlab: stale namespace: %v", err)
			left++
		} else {
			t.Logf("netlab: deleted stale namespace %s (owner pid %d is gone)", e.Name(), owner)
		}
	}
	if lock != nil && left == 0 {
		os.Remove(lock.Name()) // under the lock: a newcomer gets a fresh file
	}
}

// sweepLocks removes the lock files of dead owners that have no namespace
// left (a process whose labs all cleaned up but that never ran TestMain's
// release, as the scenario packages do not).
func sweepLocks(t testing.TB) {
	entries, err := os.ReadDir(ownerDir)
	if err != nil {
		return
	}
	spaces, _ := os.ReadDir(netnsDir)
	has := map[int]bool{}
	for _, e := range spaces {
		if pid, ok := ownerPID(e.Name()); ok {
			has[pid] = true
		}
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".lock"))
		if err != nil || !strings.HasSuffix(e.Name(), ".lock") || pid == os.Getpid() || has[pid] {
			continue
		}
		lock, held, err := tryLock(pid)
		if err != nil || held || lock == nil {
			continue
		}
		os.Remove(lock.Name())
		lock.Close()
	}
}

// tryLock tries owner's lock without waiting. held says another process
// holds it (the owner is alive). Otherwise lock is the opened, now locked,
// file (close it to release), or nil when owner has no lock file (a
// process of a netlab without owner locks, or one that has not taken it
// yet).
func tryLock(owner int) (lock *os.File, held bool, err error) {
	f, err := os.Open(ownerLock(owner))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("open its owner lock: %w", err)
	}
	switch err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); {
	case err == nil:
		return f, false, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		f.Close()
		return nil, true, nil
	default:
		f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
}

// ownerGone reports whether the namespace created at created, whose owner
// pid holds no owner lock, may be deleted. With no lock file at all the
// owner counts as gone only when no process has its pid (a reused pid
// keeps the namespace until that process ends too). With a free lock file
// the owner took it and died; a process now holding its pid must then have
// started after the namespace was made (else it may be an owner of another
// netlab version that takes no lock).
func ownerGone(pid int, lockFile bool, created time.Time) bool {
	started, alive := processStart(pid)
	if !alive {
		return true
	}
	if !lockFile {
		return false
	}
	return started.After(created.Add(time.Second)) // stat times are coarse
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

// processStart reads when pid started, from /proc/<pid>/stat and /proc/stat;
// ok is false when no process has that pid. A process that exists but whose
// start cannot be read counts as started at the epoch (long ago).
func processStart(pid int) (time.Time, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		if _, statErr := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); statErr == nil {
			return time.Time{}, true
		}
		return time.Time{}, false
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces; starttime is field 22 overall, 20th after the ')'.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return time.Time{}, true
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return time.Time{}, true
	}
	ticks, err := strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return time.Time{}, true
	}
	boot, ok := bootTime()
	if !ok {
		return time.Time{}, true
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
