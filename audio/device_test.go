package audio_test

import (
	"bytes"
	"testing"

	"github.com/peercall/peercall/audio"
)

func TestFormatDevices(t *testing.T) {
	tests := []struct {
		name string
		devs []audio.DeviceInfo
		want string
	}{
		{"none", nil, "no audio devices found\n"},
		{"two", []audio.DeviceInfo{
			{Name: "USB Headset", HostAPI: "ALSA", MaxInputChannels: 1, MaxOutputChannels: 2, DefaultSampleRate: 48000, DefaultInput: true, DefaultOutput: true},
			{Name: "HDMI 0", HostAPI: "ALSA", MaxOutputChannels: 8, DefaultSampleRate: 44100},
		}, "" +
			"NAME         HOST API  IN  OUT  RATE   DEFAULT\n" +
			"USB Headset  ALSA      1   2    48000  in+out\n" +
			"HDMI 0       ALSA      0   8    44100  \n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := audio.FormatDevices(&b, tc.devs); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
}
