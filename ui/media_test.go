package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/peercall/peercall/call"
)

type mediaNode struct {
	Node
	got []string
}

func (n *mediaNode) SetCallMedia(_ context.Context, id string, op call.MediaOp) (call.Info, error) {
	n.got = append(n.got, id+":"+string(op))
	if id == "gone" {
		return call.Info{}, call.ErrNoSuchCall
	}
	return call.Info{CallID: id, State: call.StateActive, Held: op == call.OpHold, Audio: "held"}, nil
}

// TestMediaEndpoint: /api/media hands mute, unmute, hold and resume to the
// node and answers the call; anything else is refused before the node.
func TestMediaEndpoint(t *testing.T) {
	n := &mediaNode{}
	s := &Server{n: n}
	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"call_id":"c1","action":"hold"}`, http.StatusOK},
		{`{"action":"mute"}`, http.StatusOK},
		{`{"call_id":"c1","action":"unmute"}`, http.StatusOK},
		{`{"call_id":"c1","action":"resume"}`, http.StatusOK},
		{`{"call_id":"gone","action":"hold"}`, http.StatusConflict},
		{`{"call_id":"c1","action":"pause"}`, http.StatusBadRequest},
		{`{"call_id":"c1"}`, http.StatusBadRequest},
		{`{"call_id":"c1","action":"hold","name":"bob"}`, http.StatusBadRequest},
		{`{"call_id":"c1","action":"hold","held":true}`, http.StatusBadRequest},
		{`{"call_id":"` + strings.Repeat("a", 65) + `","action":"hold"}`, http.StatusBadRequest},
	} {
		w := httptest.NewRecorder()
		s.media(w, httptest.NewRequest("POST", "/api/media", strings.NewReader(tc.body)))
		if w.Code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.body, w.Code, w.Body, tc.code)
		}
		if tc.code == http.StatusOK {
			var resp struct{ Call call.Info }
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.Call.State != call.StateActive {
				t.Errorf("%s: answer %s (%v), want the call", tc.body, w.Body, err)
			}
		}
	}
	if want := "c1:hold :mute c1:unmute c1:resume gone:hold"; strings.Join(n.got, " ") != want {
		t.Errorf("node asked %q, want %q", strings.Join(n.got, " "), want)
	}
}
