package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"testing"

	"github.com/peercall/peercall/call"
)

const testCallID = "0123456789abcdef0123456789abcdef"

// TestDecodeMediaRequest: mute, unmute, hold and resume take only a call
// id, which must look like one.
func TestDecodeMediaRequest(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     *Request // nil: refused
	}{
		{"mute the only call", `{"op":"mute"}`, &Request{Op: OpMute}},
		{"unmute", `{"op":"unmute"}`, &Request{Op: OpUnmute}},
		{"hold by id", `{"op":"hold","call_id":"` + testCallID + `"}`, &Request{Op: OpHold, CallID: testCallID}},
		{"resume by id", `{"op":"resume","call_id":"` + testCallID + `"}`, &Request{Op: OpResume, CallID: testCallID}},
		{"short id", `{"op":"hold","call_id":"ab"}`, nil},
		{"upper-case id", `{"op":"hold","call_id":"0123456789ABCDEF0123456789ABCDEF"}`, nil},
		{"id with a space", `{"op":"hold","call_id":"0123456789abcdef0123456789abcde "}`, nil},
		{"a name", `{"op":"mute","name":"bob"}`, nil},
		{"a duration", `{"op":"hold","duration_ms":100}`, nil},
		{"a status", `{"op":"resume","status":"dnd"}`, nil},
		{"a path", `{"op":"unmute","path":"/x"}`, nil},
		{"a mood", `{"op":"mute","mood":""}`, nil},
		{"dsp_off", `{"op":"mute","dsp_off":[]}`, nil},
		{"unknown field", `{"op":"hold","held":true}`, nil},
		{"op in capitals", `{"op":"HOLD"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.in))
			if tc.want == nil {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("got %+v, %v; want an error wrapping ErrBadRequest", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, *tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, *tc.want)
			}
		})
	}
}

func FuzzDecodeMediaRequest(f *testing.F) {
	for _, s := range []string{`{"op":"mute"}`, `{"op":"hold","call_id":"` + testCallID + `"}`, `{"op":"resume","call_id":"x"}`, `{"op":"unmute","name":"a"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRequest(data)
		if err != nil || !isMediaOp(req.Op) {
			return
		}
		if req.CallID != "" && !IsCallID(req.CallID) {
			t.Fatalf("accepted call id %q", req.CallID)
		}
		if req.Name != "" || req.Path != "" || req.DurationMs != 0 || req.Mood != nil {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// mediaNode records the operations it is asked for.
type mediaNode struct {
	Node
	got []string
	err error
}

func (n *mediaNode) SetCallMedia(_ context.Context, id string, op call.MediaOp) (call.Info, error) {
	n.got = append(n.got, id+":"+string(op))
	if n.err != nil {
		return call.Info{}, n.err
	}
	return call.Info{CallID: testCallID, State: call.StateActive, Held: op == call.OpHold, Audio: "held"}, nil
}

// TestServeMedia: the server hands the operation to the node and answers
// with the call; an inactive call comes back as not_active, which the
// client maps to call.ErrNotActive.
func TestServeMedia(t *testing.T) {
	ask := func(n Node, req string) Response {
		a, b := net.Pipe()
		s := &Server{n: n, ctx: context.Background()}
		done := make(chan struct{})
		go func() { defer close(done); s.serve(a); a.Close() }()
		go b.Write([]byte(req + "\n"))
		line, err := readLine(bufio.NewReader(b), MaxMessage)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		<-done
		var resp Response
		if err := json.Unmarshal(line, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	n := &mediaNode{}
	resp := ask(n, `{"op":"hold","call_id":"`+testCallID+`"}`)
	if !resp.Done || resp.Error != "" || resp.Call == nil || !resp.Call.Held || resp.Call.Audio != "held" {
		t.Fatalf("hold answered %+v", resp)
	}
	if want := []string{testCallID + ":hold"}; !reflect.DeepEqual(n.got, want) {
		t.Fatalf("node asked %v, want %v", n.got, want)
	}
	n.err = call.ErrNotActive
	resp = ask(n, `{"op":"mute"}`)
	if resp.Error != CodeNotActive {
		t.Fatalf("mute of an inactive call answered %+v, want error %q", resp, CodeNotActive)
	}
	if err := (&remoteError{code: resp.Error}); !errors.Is(err, call.ErrNotActive) {
		t.Fatalf("code %q maps back to %v", resp.Error, err.Unwrap())
	}
	if resp := ask(&mediaNode{}, `{"op":"hold","call_id":"nope"}`); resp.Error != CodeBadRequest {
		t.Fatalf("a bad call id answered %+v, want bad_request", resp)
	}
}
