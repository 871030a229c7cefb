package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/home"
)

// TestCLIDevices: `devices` lists PortAudio's devices (here, on a machine
// without a sound card, it says there are none) or, in a build without
// PortAudio, fails pointing at the virtual devices.
func TestCLIDevices(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), newEnv(strings.NewReader(""), &out, &errb), []string{"devices"})
	switch code {
	case exitOK:
		if strings.TrimSpace(out.String()) == "" {
			t.Error("devices printed nothing")
		}
	case exitFailure:
		if !strings.Contains(errb.String(), "wav:PATH") {
			t.Errorf("devices failed without pointing at virtual devices: %s", errb.String())
		}
	default:
		t.Errorf("devices: exit %d, %s", code, errb.String())
	}
	if code := run(context.Background(), newEnv(strings.NewReader(""), &out, &errb), []string{"devices", "extra"}); code != exitUsage {
		t.Errorf("devices extra: exit %d, want %d", code, exitUsage)
	}
}

// TestCLIDevicesQuiet: ALSA's and JACK's own complaints (dozens of lines on
// a machine without a sound card) do not reach the process's stderr; -v
// shows them as debug lines.
func TestCLIDevicesQuiet(t *testing.T) {
	h, err := home.OpenHome(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := runProcess(t, h, "devices")
	for _, chatter := range []string{"ALSA lib", "jack server", "JackShm", "Cannot connect to server"} {
		if strings.Contains(r.stderr, chatter) {
			t.Fatalf("devices printed the sound libraries' own messages (%q):\n%s", chatter, r.stderr)
		}
	}
	if msg, n := audio.LibraryMessage(); n == 0 && msg == "" {
		return // a machine whose sound system said nothing
	}
	if v := runProcess(t, h, "-v", "devices"); !strings.Contains(v.stderr, "lib=alsa") && !strings.Contains(v.stderr, "lib=jack") {
		t.Errorf("devices -v shows none of the sound libraries' messages:\n%s", v.stderr)
	}
}
