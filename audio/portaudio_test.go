//go:build cgo

package audio_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/testaudio"
)

// The PortAudio tests run the real backend, through PortAudio's ALSA host
// API, on two PCMs that a generated ALSA configuration defines with the
// `file` plugin over the `null` plugin: a microphone that plays a raw file
// (infile) and a speaker that records to a raw file. alsa-lib reads its
// configuration once per process and PortAudio scans devices at Initialize,
// so the test re-runs itself in a child process with ALSA_CONFIG_PATH set.

const paChildEnv = "PEERCALL_AUDIO_PA_CHILD" // the child's work directory

// alsaConf loads the system configuration first (so ALSA's own definitions,
// null among them, exist), then adds the two test PCMs.
const alsaConf = `</usr/share/alsa/alsa.conf>
pcm.peercall_in {
	type file
	slave.pcm null
	file "%[1]s/tee.raw"
	infile "%[1]s/in.raw"
	format raw
}
pcm.peercall_out {
	type file
	slave.pcm null
	file "%[1]s/out.raw"
	format raw
}
`

func writeRaw(t testing.TB, path string, s []int16) {
	t.Helper()
	b := make([]byte, 0, 2*len(s))
	for _, v := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readRaw(t testing.TB, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return s
}

// runPAChild runs the named test in a child process against the generated
// ALSA configuration and returns its work directory.
func runPAChild(t *testing.T, name string, in []int16) string {
	t.Helper()
	if _, err := os.Stat("/usr/share/alsa/alsa.conf"); err != nil {
		t.Skipf("needs alsa-lib's /usr/share/alsa/alsa.conf (Debian package libasound2-data): %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "asound.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, alsaConf, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	writeRaw(t, filepath.Join(dir, "in.raw"), in)
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), paChildEnv+"="+dir, "ALSA_CONFIG_PATH="+conf)
	out, err := cmd.CombinedOutput()
	t.Logf("child process output:\n%s", filterALSANoise(out))
	if err != nil {
		t.Fatalf("child process: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+name)) {
		t.Fatalf("child process did not run %s", name)
	}
	return dir
}

// filterALSANoise drops the lines PortAudio's ALSA probing prints to stderr
// about PCMs of the system configuration that do not exist here.
func filterALSANoise(out []byte) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "ALSA lib ") || strings.HasPrefix(l, "Cannot connect to server") || strings.HasPrefix(l, "jack server") || strings.HasPrefix(l, "Expression 'alsa") || strings.HasPrefix(l, "JackShm") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// TestPortAudioALSAFile captures speech from the file-backed ALSA
// microphone and plays other speech to the file-backed speaker, through
// PortAudio, and checks both against what was fed and played. The path is
// bit-exact (48 kHz mono S16_LE end to end), so samples are compared one by
// one, which is stricter than testaudio.Similarity.
func TestPortAudioALSAFile(t *testing.T) {
	alice, bob := testaudio.MustSpeech("alice"), testaudio.MustSpeech("bob")
	const frame = 960
	if dir := os.Getenv(paChildEnv); dir != "" {
		paChild(t, dir, len(alice)/frame, bob)
		return
	}
	dir := runPAChild(t, "TestPortAudioALSAFile", alice)

	captured := readRaw(t, filepath.Join(dir, "captured.raw"))
	t.Logf("captured %d samples from a %d-sample file", len(captured), len(alice))
	// The file plugin path is bit-exact: every captured sample must be the
	// file's, with nothing lost or inserted.
	if len(captured) != len(alice)/frame*frame {
		t.Fatalf("captured %d samples, want %d", len(captured), len(alice)/frame*frame)
	}
	for i, v := range captured {
		if v != alice[i] {
			t.Fatalf("captured sample %d = %d, want %d", i, v, alice[i])
		}
	}

	played := readRaw(t, filepath.Join(dir, "out.raw"))
	t.Logf("speaker file holds %d samples for %d played", len(played), len(bob))
	if len(played) < len(bob) {
		t.Fatalf("speaker file holds %d samples, fewer than the %d played", len(played), len(bob))
	}
	for i, v := range bob {
		if played[i] != v {
			t.Fatalf("played sample %d = %d, want %d", i, played[i], v)
		}
	}
	for i, v := range played[len(bob):] {
		if v != 0 {
			t.Fatalf("sample %d after the speech = %d, want the silence we played", len(bob)+i, v)
		}
	}
}

// paChild is the child process's half of TestPortAudioALSAFile.
func paChild(t *testing.T, dir string, frames int, play []int16) {
	ctx := context.Background()
	devs, err := audio.Devices()
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	audio.FormatDevices(&table, devs)
	t.Logf("devices:\n%s", table.String())
	for _, want := range []string{"peercall_in", "peercall_out"} {
		if !strings.Contains(table.String(), want) {
			t.Fatalf("PortAudio does not list %s", want)
		}
	}

	// What the node checks before dialling: found devices pass, others
	// are refused with the device list, and nothing stays open.
	for _, tc := range []struct {
		check func(context.Context, audio.Spec) error
		name  string
		spec  string
		want  string // "" to accept
	}{
		{audio.CheckSource, "CheckSource", "pa:peercall_in", ""},
		{audio.CheckSink, "CheckSink", "pa:peercall_out", ""},
		{audio.CheckSource, "CheckSource", "pa:no such device", `pa:no such device: no capture device is named "no such device" or contains it; capture devices: `},
		{audio.CheckSink, "CheckSink", "pa:no such device", `pa:no such device: no playback device is named "no such device" or contains it; playback devices: `},
		{audio.CheckSource, "CheckSource", "pa:peercall", "give more of the name"},
	} {
		err := tc.check(ctx, mustSpec(t, tc.spec))
		if tc.want == "" && err != nil {
			t.Errorf("%s(%s) = %v, want no error", tc.name, tc.spec, err)
		}
		if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s(%s) = %v, want an error saying %q", tc.name, tc.spec, err, tc.want)
		}
	}

	src, err := audio.OpenSource(ctx, mustSpec(t, "pa:peercall_in"), audio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	captured := readAll(t, src, frames)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("capture stats: %+v", src.(audio.StatsReporter).Stats())
	writeRaw(t, filepath.Join(dir, "captured.raw"), captured)

	dst, err := audio.OpenSink(ctx, mustSpec(t, "pa:peercall_out"), audio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, dst, play)
	writeAll(t, dst, make([]int16, 48000/2)) // push the speech through the device's buffer
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("playback stats: %+v", dst.(audio.StatsReporter).Stats())

	for _, tc := range []struct{ spec, want string }{
		{"pa:no such device", `no capture device is named "no such device"`},
		{"pa:peercall", "give more of the name"},
	} {
		_, err := audio.OpenSource(ctx, mustSpec(t, tc.spec), audio.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenSource(%s) = %v, want an error saying %q", tc.spec, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), `"peercall_in"`) {
			t.Errorf("error %q does not list the devices", err)
		}
	}
	if errors.Is(err, audio.ErrNoPortAudio) {
		t.Fatal("cgo build says it has no PortAudio")
	}
}
