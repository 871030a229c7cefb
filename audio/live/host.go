package live

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PortAudio lists its devices once, when it is initialised; a device
// plugged in later is seen only after Pa_Terminate and Pa_Initialize, and
// no stream may be open across Pa_Terminate. The host is the one owner of
// that: it knows every live device (Source, Sink), and while one
// of them is on a fallback it watches the sound devices and the ALSA
// configuration; when they change it closes the sound card streams of
// every live device (PortAudio terminates with the last one), then reopens
// them, so that the first open initialises PortAudio anew and the device
// asked for is found if it is back. Streams opened outside live devices
// (audio.OpenSource, audio.OpenSink) keep PortAudio initialised, and then the devices
// stay as they were seen.
var host = &deviceHost{poll: time.Second}

type rescanner interface {
	suspend() bool
	resume(ctx context.Context)
	onFallback() bool
}

type deviceHost struct {
	poll time.Duration

	mu   sync.Mutex
	devs map[rescanner]struct{}
	stop chan struct{}
	done chan struct{}

	scanMu sync.Mutex // one re-initialisation at a time
	scans  int        // re-initialisations so far (tests read it)
}

func (h *deviceHost) add(d rescanner) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.devs == nil {
		h.devs = map[rescanner]struct{}{}
	}
	h.devs[d] = struct{}{}
	if h.stop == nil {
		h.stop, h.done = make(chan struct{}), make(chan struct{})
		go h.watch(h.stop, h.done)
	}
}

// remove forgets d; with the last live device gone the watcher stops
// (remove waits for it).
func (h *deviceHost) remove(d rescanner) {
	h.mu.Lock()
	delete(h.devs, d)
	if len(h.devs) > 0 || h.stop == nil {
		h.mu.Unlock()
		return
	}
	stop, done := h.stop, h.done
	h.stop, h.done = nil, nil
	h.mu.Unlock()
	close(stop)
	<-done
}

func (h *deviceHost) snapshot() []rescanner {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]rescanner, 0, len(h.devs))
	for d := range h.devs {
		out = append(out, d)
	}
	return out
}

// watch polls the devices' fingerprint while a live device is on a
// fallback, and re-initialises on a change.
func (h *deviceHost) watch(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	t := time.NewTicker(h.poll)
	defer t.Stop()
	last := deviceFingerprint()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		fp := deviceFingerprint()
		changed := fp != last
		last = fp
		if !changed {
			continue
		}
		for _, d := range h.snapshot() {
			if d.onFallback() {
				h.rescan(ctx)
				break
			}
		}
	}
}

// rescan closes every live device's sound card, so that PortAudio
// terminates, and reopens them (the first open initialises it again).
func (h *deviceHost) rescan(ctx context.Context) {
	h.scanMu.Lock()
	defer h.scanMu.Unlock()
	h.scans++
	start := time.Now()
	defer func() { lastRescan.Store(int64(time.Since(start))) }()
	var again []rescanner
	for _, d := range h.snapshot() {
		if d.suspend() {
			again = append(again, d)
		}
	}
	for _, d := range again {
		d.resume(ctx)
	}
}

// lastRescan is how long the last re-initialisation kept live devices
// off their cards (ns): the gap they heard.
var lastRescan atomic.Int64

// LastRescanGap is how long the last re-initialisation of PortAudio kept
// live devices on silence: from closing their cards to reopening them.
func LastRescanGap() time.Duration { return time.Duration(lastRescan.Load()) }

// Rescan re-initialises PortAudio now (see host), so that devices
// plugged in since are seen by the next open; live devices on a fallback
// return to theirs if it is back.
func Rescan(ctx context.Context) { host.rescan(ctx) }

// deviceFingerprint is what changes when sound devices come and go or the
// ALSA configuration is edited: the entries of /dev/snd, /proc/asound's
// card list, and the size and time of the ALSA configuration files.
func deviceFingerprint() string {
	var b strings.Builder
	if ents, err := os.ReadDir("/dev/snd"); err == nil {
		for _, e := range ents {
			b.WriteString(e.Name())
			b.WriteByte(' ')
		}
	}
	if cards, err := os.ReadFile("/proc/asound/cards"); err == nil {
		b.Write(cards)
	}
	files := []string{"/etc/asound.conf"}
	if p := os.Getenv("ALSA_CONFIG_PATH"); p != "" {
		files = append(files, filepath.SplitList(p)...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(home, ".asoundrc"), filepath.Join(home, ".config", "alsa", "asoundrc"))
	}
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s %d %d;", f, st.Size(), st.ModTime().UnixNano())
		}
	}
	return b.String()
}
