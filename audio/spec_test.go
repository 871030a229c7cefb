package audio

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSpecGood(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		str  string // String(), when it differs from in
	}{
		{"default", Spec{Kind: KindDefault}, ""},
		{"silence", Spec{Kind: KindSilence}, ""},
		{"null", Spec{Kind: KindNull}, ""},
		{"pa:USB Headset", Spec{Kind: KindPortAudio, Name: "USB Headset"}, ""},
		{"pa:hw:0,0", Spec{Kind: KindPortAudio, Name: "hw:0,0"}, ""},
		{"wav:alice.wav", Spec{Kind: KindWAV, Path: "alice.wav"}, ""},
		{"wav:/tmp/a b:c.wav", Spec{Kind: KindWAV, Path: "/tmp/a b:c.wav"}, ""},
		{"wav:../rel/x.wav", Spec{Kind: KindWAV, Path: "../rel/x.wav"}, ""},
		{"tone:440", Spec{Kind: KindTone, Hz: 440}, ""},
		{"tone:20", Spec{Kind: KindTone, Hz: 20}, ""},
		{"tone:20000", Spec{Kind: KindTone, Hz: 20000}, ""},
		{"tone:440.5", Spec{Kind: KindTone, Hz: 440.5}, ""},
		{"tone:0440", Spec{Kind: KindTone, Hz: 440}, "tone:440"},
		{"tone:1000.", Spec{Kind: KindTone, Hz: 1000}, "tone:1000"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSpec(tc.in)
			if err != nil {
				t.Fatalf("ParseSpec(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseSpec(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			str := tc.str
			if str == "" {
				str = tc.in
			}
			if got.String() != str {
				t.Fatalf("String() = %q, want %q", got.String(), str)
			}
			again, err := ParseSpec(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip of %q gave %+v, %v", got.String(), again, err)
			}
			var flagged Spec
			if err := flagged.Set(tc.in); err != nil || flagged != got {
				t.Fatalf("Set(%q) gave %+v, %v", tc.in, flagged, err)
			}
		})
	}
}

func TestParseSpecBad(t *testing.T) {
	tests := []struct {
		in, wantMsg string
	}{
		{"", "it is empty"},
		{"speaker", `unknown device "speaker"`},
		{"Default", `unknown device "Default"`},
		{"mic:0", `unknown device kind "mic"`},
		{"default:x", `"default" takes no argument`},
		{"silence:1", `"silence" takes no argument`},
		{"null:", `"null" takes no argument`},
		{"pa:", "pa: needs a device name"},
		{"pa:   ", "pa: needs a device name"},
		{"wav:", "wav: needs a file path"},
		{"wav:a\x00b", "NUL byte"},
		{"tone:", "tone: needs a frequency"},
		{"tone:abc", `"abc" is not a decimal number`},
		{"tone:-5", `"-5" is not a decimal number`},
		{"tone:1e3", `"1e3" is not a decimal number`},
		{"tone:inf", `"inf" is not a decimal number`},
		{"tone:1.2.3", `"1.2.3" is not a decimal number`},
		{"tone:.", `"." is not a number`},
		{"tone:19", "19 Hz is outside 20..20000 Hz"},
		{"tone:0", "0 Hz is outside 20..20000 Hz"},
		{"tone:20000.5", "20000.5 Hz is outside 20..20000 Hz"},
		{"tone:99999999999999999999", "outside 20..20000 Hz"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseSpec(tc.in)
			if err == nil {
				t.Fatalf("ParseSpec(%q) accepted it", tc.in)
			}
			msg := err.Error()
			t.Log(msg)
			if !errors.Is(err, ErrBadSpec) {
				t.Errorf("error does not wrap ErrBadSpec")
			}
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error %q does not say %q", msg, tc.wantMsg)
			}
			if !strings.Contains(msg, SpecForms) {
				t.Errorf("error %q does not list the accepted forms", msg)
			}
		})
	}
}

// FuzzParseSpec checks that whatever ParseSpec accepts prints back to a
// spec that parses to the same value.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"default", "pa:USB", "wav:a.wav", "tone:440", "tone:20000.", "silence", "null", "pa:", "tone:1e3", "wav:\x00", ":", "tone:00000000000000000000440"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseSpec(s)
		if err != nil {
			if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), SpecForms) {
				t.Fatalf("error %q lacks ErrBadSpec or the accepted forms", err)
			}
			return
		}
		again, err := ParseSpec(spec.String())
		if err != nil || again != spec {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, spec, spec.String(), again, err)
		}
	})
}
