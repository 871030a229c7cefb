//go:build cgo && linux

package media

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/audio/live"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/internal/testutil"
)

// TestCallSurvivesPlaybackFailure is TestCallSurvivesCaptureFailure's
// other half: the speaker fails. bob's speaker is a PortAudio device on a
// generated ALSA configuration, the `file` plugin over `null` writing what
// it plays into a pipe that the test reads. The test stops reading in the
// middle of the call: the pipe fills and the device's writes block (a card
// that stopped taking audio). The call must go on with the system default
// (another file-backed PCM, its samples in a file), the event must say so,
// and when the device is defined again (a new pipe, the configuration
// rewritten) the speaker must return to it. What each device played is
// compared with the speech alice sent.
func TestCallSurvivesPlaybackFailure(t *testing.T) {
	if dir := os.Getenv(mediaPAChildEnv); dir != "" {
		playbackFailureChild(t, dir)
		return
	}
	runPAChild(t, "TestCallSurvivesPlaybackFailure")
}

// playbackALSAConf defines the speaker on a descriptor (%[2]d) and the
// system default on a raw file.
const playbackALSAConf = `</usr/share/alsa/alsa.conf>
pcm.peercall_out {
	type file
	slave.pcm null
	file %[2]d
	format raw
}
pcm.!default {
	type file
	slave.pcm null
	file "%[1]s/default_out.raw"
	format raw
}
`

// played collects what a device wrote into a pipe, while on.
type played struct {
	mu        sync.Mutex
	on, stall bool
	samples   []int16
}

// drain reads the pipe until its write end is closed: what it reads is
// kept while on and discarded while off (so that a device stuck on a full
// pipe is freed; the read end stays open until the device is closed, so
// the device never writes to a broken pipe).
func (p *played) drain(fd int) {
	b := make([]byte, 4096)
	var odd []byte
	for {
		p.mu.Lock()
		on, stall := p.on, p.stall
		p.mu.Unlock()
		if stall {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n, err := unix.Read(fd, b)
		if n <= 0 || err != nil {
			return
		}
		data := append(odd, b[:n]...)
		odd = nil
		if len(data)%2 == 1 {
			odd = append(odd, data[len(data)-1])
			data = data[:len(data)-1]
		}
		if !on {
			continue
		}
		p.mu.Lock()
		for i := 0; i+1 < len(data); i += 2 {
			p.samples = append(p.samples, int16(binary.LittleEndian.Uint16(data[i:])))
		}
		p.mu.Unlock()
	}
}

// set turns keeping on or off, and stall stops reading (the pipe fills).
func (p *played) set(on, stall bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.on, p.stall = on, stall
}

func (p *played) get() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.samples...)
}

func writePlaybackConf(t *testing.T, dir string, fd int) {
	t.Helper()
	tmp := filepath.Join(dir, "asound.conf.tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, playbackALSAConf, dir, fd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "asound.conf")); err != nil {
		t.Fatal(err)
	}
}

func playbackFailureChild(t *testing.T, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	alice := testaudio.MustSpeech("alice")
	p1, p2 := openPipe(t), openPipe(t)
	defer unix.Close(p1.r)
	defer unix.Close(p2.r)
	out1, out2 := &played{on: true}, &played{}
	go out1.drain(p1.r)
	writePlaybackConf(t, dir, p1.w)

	var mu sync.Mutex
	var events []live.Event
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	speaker, err := live.OpenSink(ctx, audio.Spec{Kind: audio.KindPortAudio, Name: "peercall_out"}, live.Options{
		Options: audio.Options{FrameDuration: audio.Frame20ms, Logger: log},
		OnChange: func(ev live.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	speakerOpen := true
	defer func() {
		if speakerOpen {
			speaker.Close()
		}
	}()

	a, b := pair(t, ctx, loopbackConfig(), loopbackConfig())
	probe := testutil.StartSchedProbe(audio.Frame20ms)
	defer probe.Stop()
	src := audio.Paced(audio.NewSamplesSource(alice, true), audio.Frame20ms)
	if err := startBoth(ctx, a, b, src, audio.Paced(audio.NewSilence(), audio.Frame20ms), audio.NewNull(), speaker); err != nil {
		t.Fatal(err)
	}
	waitEvent := func(n int) {
		for {
			mu.Lock()
			got := len(events)
			mu.Unlock()
			if got >= n {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("no device event %d before the deadline; events %+v", n, events)
			case <-a.Done():
				t.Fatalf("the call ended: %v", a.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	time.Sleep(2500 * time.Millisecond) // the card plays alice
	before := out1.get()
	out1.set(false, true) // the card stops taking audio
	waitEvent(1)
	t.Logf("speaker state after the failure: %+v", speaker.State())
	defaultFrom := fileSize(t, filepath.Join(dir, "default_out.raw"))
	time.Sleep(2 * time.Second) // the fallback plays alice
	defaultTo := fileSize(t, filepath.Join(dir, "default_out.raw"))
	out1.set(false, false) // free the stuck write; keep the pipe open
	out2.set(true, false)
	go out2.drain(p2.r)
	writePlaybackConf(t, dir, p2.w)
	waitEvent(2)
	time.Sleep(2500 * time.Millisecond)
	select {
	case <-a.Done():
		t.Fatalf("the call ended: %v", a.Err())
	default:
	}
	a.Close()
	b.Close()
	speaker.Close()
	speakerOpen = false
	unix.Close(p1.w)
	unix.Close(p2.w)

	mu.Lock()
	evs := append([]live.Event(nil), events...)
	mu.Unlock()
	t.Logf("events: %+v", evs)
	if len(evs) != 2 || evs[0].Reason != live.ReasonFailed || evs[0].Dir != live.DirOut || evs[0].Using != "default" || evs[0].Warning == "" ||
		evs[1].Reason != live.ReasonBack || evs[1].Using != "pa:peercall_out" {
		t.Fatalf("events %+v, want the speaker failed with the default in use and a warning, then the speaker back", evs)
	}
	if st := speaker.State(); st.Using != "pa:peercall_out" || st.Warning != "" {
		t.Errorf("state at the end %+v, want the speaker back and no warning", st)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "default_out.raw"))
	if err != nil {
		t.Fatal(err)
	}
	var onDefault []int16
	for i := defaultFrom &^ 1; i+1 < min(int64(len(raw)), defaultTo); i += 2 {
		onDefault = append(onDefault, int16(binary.LittleEndian.Uint16(raw[i:])))
	}
	// Each device's audio: its middle second found in what alice sent (her
	// recording loops, so twice of it holds any second of the call).
	sec := audio.SampleRate
	looped := append(append([]int16(nil), alice...), alice...)
	starved := probe.Stop() > testutil.StarvedAfter
	var bad []string
	for _, part := range []struct {
		name  string
		heard []int16
	}{
		{"the card, before it failed", before},
		{"the system default, meanwhile", onDefault},
		{"the card, back", out2.get()},
	} {
		if len(part.heard) < 3*sec/2 {
			bad = append(bad, fmt.Sprintf("%s: %d samples played, want 1.5 s or more", part.name, len(part.heard)))
			continue
		}
		mid := part.heard[len(part.heard)/2-sec/2 : len(part.heard)/2+sec/2]
		sim, at := testaudio.Similarity(mid, looped, len(looped))
		t.Logf("%s: %d samples played; its middle second matches alice's speech at %.2f s with similarity %.3f", part.name, len(part.heard), float64(at%len(alice))/float64(sec), sim)
		if sim <= testaudio.Threshold {
			bad = append(bad, fmt.Sprintf("%s: similarity %.3f <= %.2f", part.name, sim, testaudio.Threshold))
		}
	}
	if len(bad) > 0 && starved {
		t.Skipf("this machine is too loaded for real-time audio: an idle probe goroutine woke up %v late (%s)", probe.Worst(), strings.Join(bad, "; "))
	}
	for _, m := range bad {
		t.Error(m)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the system default's file: %v", err)
	}
	return st.Size()
}
