package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
