package control

import (
	"bufio"
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/home"
	"github.com/peercall/peercall/presence"
)

func TestDecodeControlRequest(t *testing.T) {
	tests := []struct {
		name, in string
		want     Request
		wantErr  bool
	}{
		{"status", `{"op":"status"}`, Request{Op: OpStatus}, false},
		{"call", `{"op":"call","name":"bob","duration_ms":5000,"audio_in":"wav:/a.wav"}`,
			Request{Op: OpCall, Name: "bob", DurationMs: 5000, AudioIn: "wav:/a.wav"}, false},
		{"call without echo cancellation", `{"op":"call","name":"bob","dsp_off":["aec","ns"]}`,
			Request{Op: OpCall, Name: "bob", DSPOff: []string{"aec", "ns"}}, false},
		{"unknown stage", `{"op":"call","name":"bob","dsp_off":["reverb"]}`, Request{}, true},
		{"too many stages", `{"op":"call","name":"bob","dsp_off":["aec","aec","aec","aec","aec"]}`, Request{}, true},
		{"status with dsp_off", `{"op":"status","dsp_off":[]}`, Request{}, true},
		{"hangup any", `{"op":"hangup"}`, Request{Op: OpHangup}, false},
		{"device in", `{"op":"device","audio_in":"default"}`, Request{Op: OpDevice, AudioIn: "default"}, false},
		{"device both of a call", `{"op":"device","call_id":"ab","audio_in":"pa:USB","audio_out":"null"}`,
			Request{Op: OpDevice, CallID: "ab", AudioIn: "pa:USB", AudioOut: "null"}, false},
		{"device without a device", `{"op":"device","call_id":"ab"}`, Request{}, true},
		{"device with a name", `{"op":"device","audio_in":"default","name":"bob"}`, Request{}, true},
		{"device with a duration", `{"op":"device","audio_out":"null","duration_ms":5}`, Request{}, true},
		{"answer id", `{"op":"answer","call_id":"ab"}`, Request{Op: OpAnswer, CallID: "ab"}, false},
		{"unknown field", `{"op":"status","x":1}`, Request{}, true},
		{"unknown op", `{"op":"reboot"}`, Request{}, true},
		{"missing op", `{}`, Request{}, true},
		{"call without name", `{"op":"call"}`, Request{}, true},
		{"status with name", `{"op":"status","name":"bob"}`, Request{}, true},
		{"hangup with name", `{"op":"hangup","name":"bob"}`, Request{}, true},
		{"negative duration", `{"op":"call","name":"bob","duration_ms":-1}`, Request{}, true},
		{"two objects", `{"op":"status"}{"op":"status"}`, Request{}, true},
		{"trailing garbage", `{"op":"status"} x`, Request{}, true},
		{"not an object", `["status"]`, Request{}, true},
		{"too large", `{"op":"call","name":"` + strings.Repeat("a", MaxMessage) + `"}`, Request{}, true},
		{"long field", `{"op":"call","name":"` + strings.Repeat("a", 5000) + `"}`, Request{}, true},
		{"contacts", `{"op":"contacts"}`, Request{Op: OpContacts}, false},
		{"add with a message", `{"op":"contact","action":"add","name":"bob","message":"hi"}`,
			Request{Op: OpContact, Action: ActionAdd, Name: "bob", Message: "hi"}, false},
		{"accept with a message", `{"op":"contact","action":"accept","name":"bob","message":"hi"}`, Request{}, true},
		{"unknown action", `{"op":"contact","action":"befriend","name":"bob"}`, Request{}, true},
		{"contact without name", `{"op":"contact","action":"remove"}`, Request{}, true},
		{"presence", `{"op":"presence","status":"dnd","mood":""}`, Request{Op: OpPresence, Status: "dnd", Mood: new("")}, false},
		{"presence offline", `{"op":"presence","status":"offline"}`, Request{}, true},
		{"call with a status", `{"op":"call","name":"bob","status":"dnd"}`, Request{}, true},
		{"history with a name", `{"op":"history","name":"bob"}`, Request{}, true},
		{"ui", `{"op":"ui"}`, Request{Op: OpUI}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("got %+v, %v; want an error wrapping ErrBadRequest", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzDecodeControlRequest(f *testing.F) {
	for _, s := range []string{
		`{"op":"status"}`, `{"op":"call","name":"bob","duration_ms":5000,"audio_in":"wav:a.wav","audio_out":"null"}`,
		`{"op":"hangup","call_id":"00"}`, `{"op":"x"}`, `{`, `null`, `{"op":"call","name":""}`,
		`{"op":"contact","action":"add","name":"bob","message":"hi"}`, `{"op":"presence","status":"away","mood":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if err := req.validate(); err != nil {
			t.Fatalf("decoded request %+v does not validate: %v", req, err)
		}
	})
}

// TestControlErrorCodes checks that every sentinel survives the socket:
// the code the node sends maps back to the same sentinel in the client.
func TestControlErrorCodes(t *testing.T) {
	for _, sentinel := range []error{presence.ErrUnknownUser, presence.ErrUserOffline, call.ErrRejected, call.ErrBusy, call.ErrNoAnswer, home.ErrCertificate, ErrBadRequest, call.ErrNoSuchCall, call.ErrCallFailed, call.ErrAudio} {
		err := &remoteError{code: ErrorCode(sentinel), msg: "x"}
		if !errors.Is(err, sentinel) {
			t.Errorf("%v: code %q maps back to %v", sentinel, err.code, err.Unwrap())
		}
	}
}

func TestReadLineLimit(t *testing.T) {
	long := strings.Repeat("a", 100) + "\n"
	if _, err := readLine(bufio.NewReaderSize(strings.NewReader(long), 16), 50); err == nil {
		t.Fatal("a 100-byte line passed a 50-byte limit")
	}
	got, err := readLine(bufio.NewReaderSize(strings.NewReader("abc\nrest"), 16), 50)
	if err != nil || string(got) != "abc" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestControlRefusesGarbage sends a request that is not JSON to a control
// server and expects a bad_request answer, not a hang.
func TestControlRefusesGarbage(t *testing.T) {
	a, b := net.Pipe()
	s := &Server{ctx: context.Background()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve(a)
		a.Close()
	}()
	go b.Write([]byte("hello\n"))
	line, err := readLine(bufio.NewReader(b), MaxMessage)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(line), `"error":"bad_request"`) {
		t.Fatalf("answer %s, want error bad_request", line)
	}
	b.Close()
	<-done
}
