package netwatch_test

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/netwatch"
)

// fakeNet is a machine whose addresses the test sets.
type fakeNet struct {
	mu    sync.Mutex
	addrs netwatch.Snapshot
	err   error
}

func (f *fakeNet) set(err error, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs, f.err = nil, err
	for _, a := range addrs {
		f.addrs = append(f.addrs, netip.MustParseAddr(a))
	}
}

func (f *fakeNet) read() (netwatch.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addrs, f.err
}

func next(t *testing.T, w *netwatch.Watcher) netwatch.Change {
	t.Helper()
	select {
	case ch := <-w.C():
		return ch
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported within 5 s")
		return netwatch.Change{}
	}
}

func TestWatcherReportsChanges(t *testing.T) {
	f := &fakeNet{}
	f.set(nil, "10.0.0.2")
	w, err := netwatch.New(netwatch.Config{Interval: 10 * time.Millisecond, Read: f.read})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !w.Addrs().Has(netip.MustParseAddr("10.0.0.2")) {
		t.Fatalf("first snapshot %v lacks 10.0.0.2", w.Addrs())
	}
	for _, step := range []struct {
		name  string
		err   error
		addrs []string
		want  bool // a change is reported
	}{
		{"a move to another network", nil, []string{"192.168.1.5"}, true},
		{"a failed read changes nothing", errors.New("no netlink"), nil, false},
		{"a second address", nil, []string{"192.168.1.5", "fd00::5"}, true},
		{"the same set", nil, []string{"192.168.1.5", "fd00::5"}, false},
	} {
		t.Run(step.name, func(t *testing.T) {
			before := w.Addrs()
			f.set(step.err, step.addrs...)
			if !step.want {
				select {
				case ch := <-w.C():
					t.Fatalf("change %+v reported", ch)
				case <-time.After(100 * time.Millisecond):
				}
				return
			}
			ch := next(t, w)
			if !ch.Old.Equal(before) || ch.Injected {
				t.Errorf("change %+v: Old %v, want %v, not injected", ch, ch.Old, before)
			}
			for _, a := range step.addrs {
				if !ch.New.Has(netip.MustParseAddr(a)) {
					t.Errorf("change's New %v lacks %s", ch.New, a)
				}
			}
		})
	}
	w.Inject()
	if ch := next(t, w); !ch.Injected {
		t.Errorf("Inject reported %+v, want Injected", ch)
	}
}

// A slow reader gets one change from the first Old to the last New.
func TestWatcherMergesUnread(t *testing.T) {
	f := &fakeNet{}
	f.set(nil, "10.0.0.1")
	w, err := netwatch.New(netwatch.Config{Interval: 5 * time.Millisecond, Read: f.read})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f.set(nil, "10.0.0.2")
	time.Sleep(50 * time.Millisecond)
	f.set(nil, "10.0.0.3")
	time.Sleep(50 * time.Millisecond)
	ch := next(t, w)
	if !ch.Old.Has(netip.MustParseAddr("10.0.0.1")) || !ch.New.Has(netip.MustParseAddr("10.0.0.3")) {
		t.Errorf("merged change %+v, want 10.0.0.1 -> 10.0.0.3", ch)
	}
}

// TestReadSeesLoopback reads this machine: loopback is up everywhere.
func TestReadSeesLoopback(t *testing.T) {
	s, err := netwatch.Read()
	if err != nil {
		t.Fatal(err)
	}
	if !s.Has(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("Read() = %v, lacks 127.0.0.1", s)
	}
}

func BenchmarkSnapshot(b *testing.B) {
	for b.Loop() {
		if _, err := netwatch.Read(); err != nil {
			b.Fatal(err)
		}
	}
}
