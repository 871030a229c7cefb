package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/peercall/peercall/call"
	"github.com/peercall/peercall/contacts"
	"github.com/peercall/peercall/events"
)

// maxBody bounds a request body (a chat message of chat.MaxText bytes,
// escaped).
const maxBody = 32 << 10

// request is the body of every state-changing request; each endpoint uses
// some fields and decode refuses unknown ones.
type request struct {
	Action  string  `json:"action,omitempty"`
	Name    string  `json:"name,omitempty"`
	Message string  `json:"message,omitempty"`
	Status  string  `json:"status,omitempty"`
	Mood    *string `json:"mood,omitempty"`
	CallID  string  `json:"call_id,omitempty"`
	What    string  `json:"what,omitempty"`
	Device  string  `json:"device,omitempty"`
}

func decode(r *http.Request) (request, error) {
	var req request
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return req, err
	}
	if len(data) > maxBody {
		return req, fmt.Errorf("body over %d bytes", maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("body: %w", err)
	}
	if dec.More() {
		return req, errors.New("body: data after the JSON object")
	}
	return req, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// State is what the page loads, and reloads after missing events.
type State struct {
	CSRF     string                 `json:"csrf"`
	Status   any                    `json:"status"`
	Self     contacts.PresenceEvent `json:"self"`
	Contacts []contacts.Contact     `json:"contacts"`
	History  []contacts.Call        `json:"history"`
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	se := r.Context().Value(sessionKey{}).(*session)
	st := State{CSRF: se.csrf, Status: s.n.Status(), Contacts: []contacts.Contact{}, History: []contacts.Call{}}
	if b := s.n.Contacts(); b != nil {
		var err error
		if st.Contacts, err = b.List(r.Context()); err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		if st.History, err = b.History(r.Context(), 50); err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		st.Self.Status, st.Self.Mood = b.Self()
		st.Self.Self = true
	}
	writeJSON(w, http.StatusOK, st)
}

// events streams the node's events as server-sent events until the client
// goes, the server closes or the client falls behind (it then reloads).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	sub := s.n.Events().Subscribe(256)
	defer sub.Close()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case ev, open := <-sub.C():
			if !open {
				fmt.Fprint(w, "event: reload\ndata: {}\n\n")
				fl.Flush()
				return
			}
			data, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Kind, data)
		}
		fl.Flush()
	}
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" || len(q) > 64 {
		fail(w, http.StatusBadRequest, errors.New("give 1 to 64 characters to search for"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	users, err := s.n.Search(ctx, q, 20)
	if err != nil {
		fail(w, http.StatusBadGateway, err)
		return
	}
	if users == nil {
		users = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
}

func (s *Server) book(w http.ResponseWriter) *contacts.Book {
	b := s.n.Contacts()
	if b == nil {
		fail(w, http.StatusServiceUnavailable, errors.New("this node keeps no contact list"))
	}
	return b
}

func (s *Server) contact(w http.ResponseWriter, r *http.Request) {
	req, err := decode(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	b := s.book(w)
	if b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	delivered := false
	switch req.Action {
	case "add":
		delivered, err = b.Add(ctx, req.Name, req.Message)
	case "accept":
		delivered, err = b.Accept(ctx, req.Name)
	case "decline":
		delivered, err = b.Decline(ctx, req.Name)
	case "block":
		err = b.Block(ctx, req.Name)
	case "remove":
		err = b.Remove(ctx, req.Name)
	default:
		err = fmt.Errorf("action %.20q: choose add, accept, decline, block or remove", req.Action)
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"delivered": delivered})
}

func (s *Server) presence(w http.ResponseWriter, r *http.Request) {
	req, err := decode(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	b := s.book(w)
	if b == nil {
		return
	}
	st, err := contacts.ParseStatus(req.Status)
	if err == nil {
		err = b.SetStatus(r.Context(), st, req.Mood)
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": string(st)})
}

// CallFailed is the Data of the KindCall event the interface publishes
// when a call it placed did not happen (the caller's page shows why).
type CallFailed struct {
	Kind  string `json:"kind"` // "failed"
	Peer  string `json:"peer"`
	Error string `json:"error"`
}

// call places a call; it runs until it ends (or the server closes), and
// its progress arrives on the event stream.
func (s *Server) call(w http.ResponseWriter, r *http.Request) {
	req, err := decode(r)
	if err != nil || req.Name == "" {
		fail(w, http.StatusBadRequest, fmt.Errorf("give the name to call (%v)", err))
		return
	}
	s.wg.Go(func() {
		_, err := s.n.Call(s.ctx, req.Name, call.Options{})
		if err != nil && s.ctx.Err() == nil {
			s.n.Events().Publish(events.KindCall, CallFailed{Kind: "failed", Peer: req.Name, Error: err.Error()})
		}
	})
	writeJSON(w, http.StatusAccepted, map[string]string{"calling": req.Name})
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request) {
	req, err := decode(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	switch r.URL.Path {
	case "/api/answer":
		err = s.n.Answer(req.CallID)
	case "/api/reject":
		err = s.n.Reject(req.CallID)
	default:
		ctx, cancel := context.WithTimeout(r.Context(), call.HangupTimeout)
		err = s.n.Hangup(ctx, req.CallID)
		cancel()
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// audioTest starts the microphone meter or the test tone; the levels
// arrive on the event stream (kind audio).
func (s *Server) audioTest(w http.ResponseWriter, r *http.Request) {
	req, err := decode(r)
	if err == nil && req.What != "meter" && req.What != "tone" {
		err = fmt.Errorf("what %.20q: choose meter or tone", req.What)
	}
	if err == nil && len(req.Device) > 256 {
		err = errors.New("device spec over 256 bytes")
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	s.wg.Go(func() { _ = s.n.AudioTest(s.ctx, req.What, req.Device) })
	writeJSON(w, http.StatusAccepted, map[string]string{"started": req.What})
}
