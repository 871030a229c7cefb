package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/peercall/peercall/chat"
)

// maxChatHistory bounds the messages a conversation opens with.
const maxChatHistory = 200

// ChatState is what GET /api/chat answers: the conversations, or with
// ?peer=NAME that conversation's latest messages.
type ChatState struct {
	Rule          string              `json:"rule"`
	Enabled       bool                `json:"enabled"`
	Conversations []chat.Conversation `json:"conversations,omitempty"`
	Messages      []chat.Message      `json:"messages,omitempty"`
}

func (s *Server) chatService(w http.ResponseWriter) *chat.Service {
	c := s.n.Chat()
	if c == nil {
		fail(w, http.StatusServiceUnavailable, errors.New("this node has no chat (a node run for one call)"))
	}
	return c
}

func (s *Server) chatState(w http.ResponseWriter, r *http.Request) {
	c := s.chatService(w)
	if c == nil {
		return
	}
	st := ChatState{Rule: c.Rule().Describe(), Enabled: c.Rule().Enabled}
	var err error
	if peer := r.URL.Query().Get("peer"); peer != "" {
		if len(peer) > 64 {
			fail(w, http.StatusBadRequest, errors.New("peer: a username of at most 64 bytes"))
			return
		}
		st.Messages, err = c.History(r.Context(), chat.Query{Peer: peer, Limit: maxChatHistory})
	} else {
		st.Conversations, err = c.Store().Conversations(r.Context(), 100)
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// chatAction sends a message (send), marks a conversation read (read:
// the partner gets a read receipt) or tells the partner this user types
// (typing).
func (s *Server) chatAction(w http.ResponseWriter, r *http.Request) {
	req, err := decode(r)
	if err == nil && (req.Name == "" || len(req.Name) > 64) {
		err = errors.New("name: the username to chat with")
	}
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	c := s.chatService(w)
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	switch req.Action {
	case "send":
		m, delivered, err := c.Send(ctx, req.Name, req.Message)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"message": m, "delivered": delivered})
	case "read":
		if err := c.MarkRead(ctx, req.Name); err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case "typing":
		sent, err := c.SendTyping(ctx, req.Name)
		if err != nil {
			s.log.Debug("typing notice not sent", "to", req.Name, "err", err)
		}
		writeJSON(w, http.StatusOK, map[string]bool{"sent": sent})
	default:
		fail(w, http.StatusBadRequest, fmt.Errorf("action %.20q: choose send, read or typing", req.Action))
	}
}
