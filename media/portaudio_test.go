//go:build cgo && linux

package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
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

// TestCallSurvivesCaptureFailure runs a real call whose microphone is a
// PortAudio device on a generated ALSA configuration: the `file` plugin
// over `null`, reading its samples from a pipe
// (infile as a file descriptor). The test writes alice's speech into a
// pipe, then stops: the device's reads block in the middle of the call
// (a card that stops delivering audio; PortAudio's ALSA host ignores read
// errors other than xruns, so a stuck device is what an unplugged one
// looks like here). The call must go on with the system default
// (another file-backed PCM, playing bob), the event must say so, and when
// the device is defined again (a new pipe, the configuration
// rewritten) the microphone must return to it. b hears each part, compared
// with what was sent. alsa-lib reads its configuration per process, so the
// test re-runs itself in a child with ALSA_CONFIG_PATH set.
func TestCallSurvivesCaptureFailure(t *testing.T) {
	if dir := os.Getenv(mediaPAChildEnv); dir != "" {
		captureFailureChild(t, dir)
		return
	}
	runPAChild(t, "TestCallSurvivesCaptureFailure")
}

// runPAChild runs the test name again in a child process with its own
// ALSA configuration (alsa-lib reads it once per process) in a temporary
// directory passed in mediaPAChildEnv; the child's skip is this test's.
func runPAChild(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Stat("/usr/share/alsa/alsa.conf"); err != nil {
		t.Skipf("needs alsa-lib's /usr/share/alsa/alsa.conf (Debian package libasound2-data): %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), mediaPAChildEnv+"="+dir, "ALSA_CONFIG_PATH="+filepath.Join(dir, "asound.conf"))
	out, err := cmd.CombinedOutput()
	t.Logf("child process output:\n%s", filterLibraryNoise(out))
	if err != nil {
		t.Fatalf("child process: %v", err)
	}
	if i := bytes.Index(out, []byte("--- SKIP: "+name)); i >= 0 {
		t.Skipf("the child skipped: %s", bytes.TrimSpace(out[i:min(len(out), i+400)]))
	}
	if !bytes.Contains(out, []byte("--- PASS: "+name)) {
		t.Fatalf("child process did not run %s", name)
	}
}

const mediaPAChildEnv = "PEERCALL_MEDIA_PA_CHILD"

func filterLibraryNoise(out []byte) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "ALSA lib ") || strings.HasPrefix(l, "Cannot connect to server") || strings.HasPrefix(l, "jack server") || strings.HasPrefix(l, "Expression 'alsa") || strings.HasPrefix(l, "JackShm") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// captureALSAConf defines the microphone on a descriptor (%[2]d), the
// system default on a raw file, and a speaker.
const captureALSAConf = `</usr/share/alsa/alsa.conf>
pcm.peercall_in {
	type file
	slave.pcm null
	file "%[1]s/tee.raw"
	infile %[2]d
	format raw
}
pcm.!default {
	type file
	slave.pcm null
	file "%[1]s/default_tee.raw"
	infile "%[1]s/default.raw"
	format raw
}
`

// pipe feeds a device: it reads the read end (blocking, as alsa-lib
// reads it), the test writes whole frames into the write end (writes up
// to PIPE_BUF are atomic, so the samples stay aligned); when the test
// stops writing, the device's reads block.
type pipe struct{ r, w int }

func openPipe(t *testing.T) pipe {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], 0); err != nil {
		t.Fatalf("pipe: %v", err)
	}
	return pipe{r: fds[0], w: fds[1]}
}

// feed writes s into the pipe at real time, one 20 ms frame at a time.
func (p pipe) feed(s []int16) {
	frame := audio.SamplesPer(audio.Frame20ms)
	start := time.Now()
	b := make([]byte, 2*frame)
	for k := 0; (k+1)*frame <= len(s); k++ {
		for i, v := range s[k*frame : (k+1)*frame] {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		}
		if _, err := unix.Write(p.w, b); err != nil {
			return
		}
		time.Sleep(time.Until(start.Add(time.Duration(k+1) * audio.Frame20ms)))
	}
}

func writeConf(t *testing.T, dir string, fd int) {
	t.Helper()
	// Write and rename, so that alsa-lib never reads half a file.
	tmp := filepath.Join(dir, "asound.conf.tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, captureALSAConf, dir, fd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "asound.conf")); err != nil {
		t.Fatal(err)
	}
}

// heardAt is a frame b played and when.
type heardAt struct {
	at    time.Time
	frame []int16
}

func captureFailureChild(t *testing.T, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	alice, bob := testaudio.MustSpeech("alice"), testaudio.MustSpeech("bob")
	sec := audio.SampleRate
	first, back := alice[:3*sec/2], alice[4*sec:15*sec/2]
	def := bob[:5*sec]
	raw := make([]byte, 0, 2*len(def))
	for _, v := range def {
		raw = binary.LittleEndian.AppendUint16(raw, uint16(v))
	}
	if err := os.WriteFile(filepath.Join(dir, "default.raw"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	p1 := openPipe(t)
	defer unix.Close(p1.r)
	defer unix.Close(p1.w)
	writeConf(t, dir, p1.r)

	var mu sync.Mutex
	var events []live.Event
	var eventAt []time.Time
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go p1.feed(first) // the pipe buffers what the device has not read yet
	mic, err := live.OpenSource(ctx, audio.Spec{Kind: audio.KindPortAudio, Name: "peercall_in"}, live.Options{
		Options: audio.Options{FrameDuration: audio.Frame20ms, Logger: log},
		OnChange: func(ev live.Event) {
			mu.Lock()
			defer mu.Unlock()
			events, eventAt = append(events, ev), append(eventAt, time.Now())
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer mic.Close()

	a, b := pair(t, ctx, loopbackConfig(), loopbackConfig())
	probe := testutil.StartSchedProbe(audio.Frame20ms)
	defer probe.Stop()
	var heard []heardAt
	speaker := &sliceSink{discard: true, onFrame: func(f []int16, at time.Time) {
		heard = append(heard, heardAt{at, append([]int16(nil), f...)}) // under the sink's mutex
	}}
	reads := &readTimes{Source: mic}
	if err := startBoth(ctx, a, b, reads, audio.Paced(audio.NewSilence(), audio.Frame20ms), audio.NewNull(), speaker); err != nil {
		t.Fatal(err)
	}
	waitEvent := func(n int) time.Time {
		for {
			mu.Lock()
			if len(events) >= n {
				at := eventAt[n-1]
				mu.Unlock()
				return at
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
				t.Fatalf("no device event %d before the deadline; events %+v", n, events)
			case <-a.Done():
				t.Fatalf("the call ended: %v", a.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	failedAt := waitEvent(1)
	t.Logf("microphone state after the failure: %+v", mic.State())
	time.Sleep(2 * time.Second) // the fallback's audio
	// The stuck read returns (a little more audio comes), and the device
	// comes back: a new pipe, the configuration rewritten.
	p1.feed(make([]int16, audio.SampleRate/5))
	p2 := openPipe(t)
	defer unix.Close(p2.r)
	defer unix.Close(p2.w)
	go p2.feed(back)
	writeConf(t, dir, p2.r)
	backAt := waitEvent(2)
	time.Sleep(2 * time.Second)
	t.Logf("re-initialising PortAudio kept the microphone off its card for %v; the longest wait for a frame around it %v",
		live.LastRescanGap(), reads.maxGap(backAt.Add(-time.Second), backAt.Add(time.Second)))
	// A switch by hand: to the default and back to the pipe.
	for _, spec := range []audio.Spec{{Kind: audio.KindDefault}, {Kind: audio.KindPortAudio, Name: "peercall_in"}} {
		at := time.Now()
		if err := mic.Switch(ctx, spec); err != nil {
			t.Fatal(err)
		}
		took := time.Since(at)
		time.Sleep(500 * time.Millisecond)
		t.Logf("switch to %s took %v; the longest wait for a frame around it %v", spec, took, reads.maxGap(at.Add(-100*time.Millisecond), at.Add(400*time.Millisecond)))
	}
	select {
	case <-a.Done():
		t.Fatalf("the call ended: %v", a.Err())
	default:
	}
	a.Close()
	b.Close()

	mu.Lock()
	evs := append([]live.Event(nil), events...)
	mu.Unlock()
	t.Logf("events: %+v", evs)
	if len(evs) != 4 || evs[0].Reason != live.ReasonFailed || evs[0].Using != "default" || evs[0].Warning == "" ||
		evs[1].Reason != live.ReasonBack || evs[1].Using != "pa:peercall_in" ||
		evs[2].Reason != live.ReasonSwitched || evs[2].Using != "default" || evs[3].Using != "pa:peercall_in" {
		t.Fatalf("events %+v, want a failure with the default in use and a warning, the device back, two switches", evs)
	}
	if st := mic.State(); st.Using != "pa:peercall_in" || st.Warning != "" {
		t.Errorf("state at the end %+v, want the device back and no warning", st)
	}
	speaker.mu.Lock()
	defer speaker.mu.Unlock()
	cut := func(from, to time.Time) []int16 {
		var s []int16
		for _, h := range heard {
			if !h.at.Before(from) && h.at.Before(to) {
				s = append(s, h.frame...)
			}
		}
		return s
	}
	// Each part heard against what its device played. The gap at each
	// change (the frames between the last of one device and the first of
	// the next) is reported, not asserted. A machine so loaded that an
	// idle goroutine wakes up late cannot carry real-time audio: the
	// comparison is skipped then (the events above were checked).
	starved := probe.Stop() > testutil.StarvedAfter
	var bad []string
	for _, part := range []struct {
		name      string
		sent      []int16
		from, to  time.Time
		other     []int16
		otherName string
	}{
		{"before the failure (alice)", first[sec/2 : sec], failedAt.Add(-4 * time.Second), failedAt, bob[:sec], "bob"},
		{"fallback to the default (bob)", def[:3*sec/2], failedAt, backAt, first, "alice"},
		{"device back (alice again)", back[:sec], backAt, backAt.Add(2 * time.Second), def[:3*sec/2], "bob"},
	} {
		got := cut(part.from, part.to)
		sim, lag := testaudio.Similarity(part.sent, got, len(got))
		other, _ := testaudio.Similarity(part.other, got, len(got))
		t.Logf("%s: %d samples heard, similarity %.3f at lag %d (%s: %.3f)", part.name, len(got), sim, lag, part.otherName, other)
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
	t.Logf("receiver: %v", b.Stats())
}

// readTimes records when each Read of its source returned.
type readTimes struct {
	audio.Source
	mu sync.Mutex
	at []time.Time
}

func (r *readTimes) Read(ctx context.Context, f []int16) error {
	err := r.Source.Read(ctx, f)
	r.mu.Lock()
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
	return err
}

// maxGap is the longest time between two reads that returned within
// [from, to].
func (r *readTimes) maxGap(from, to time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var worst time.Duration
	for i := 1; i < len(r.at); i++ {
		if r.at[i].After(from) && r.at[i].Before(to) {
			worst = max(worst, r.at[i].Sub(r.at[i-1]))
		}
	}
	return worst
}
