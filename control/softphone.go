package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/peercall/peercall/contacts"
)

// The contact list's operations.
const (
	// OpContacts lists the contacts and this user's status.
	OpContacts = "contacts"
	// OpContact changes one contact: Action add, accept, decline, block
	// or remove, Name, and Message for add.
	OpContact = "contact"
	// OpPresence sets this user's status (and mood, when Mood is set).
	OpPresence = "presence"
	// OpHistory lists the latest calls.
	OpHistory = "history"
	// OpUI returns the web interface's address with a one-time token.
	OpUI = "ui"
)

// Contact actions (Request.Action).
const (
	ActionAdd     = "add"
	ActionAccept  = "accept"
	ActionDecline = "decline"
	ActionBlock   = "block"
	ActionRemove  = "remove"
)

// CodeContact is the error code of an operation that does not fit a
// contact's state (or names no contact).
const CodeContact = "contact"

// softphoneResponse holds what the contact operations answer.
type softphoneResponse struct {
	Contacts []contacts.Contact `json:"contacts,omitempty"`
	// Self is this user's status (contacts, presence).
	Self *contacts.PresenceEvent `json:"self,omitempty"`
	// Delivered reports that a contact message reached the other side
	// (else it waits in the outbox).
	Delivered bool            `json:"delivered,omitempty"`
	History   []contacts.Call `json:"history,omitempty"`
	// URL is the web interface's login address (ui).
	URL string `json:"url,omitempty"`
}

// Softphone is what a node with a contact list serves besides Node.
type Softphone interface {
	Contacts() *contacts.Book
	Touch()
	UILoginURL() (string, error)
}

// validateSoftphone checks the contact operations' fields; ok says the
// request was one of them, or set their fields on another operation.
func (r Request) validateSoftphone() (bool, error) {
	fields := r.Action != "" || r.Message != "" || r.Status != "" || r.Mood != nil
	other := r.CallID != "" || r.DurationMs != 0 || r.AudioIn != "" || r.AudioOut != "" || r.ForceRelay || r.DSPOff != nil
	switch r.Op {
	case OpContacts, OpHistory, OpUI:
		if fields || other || r.Name != "" {
			return true, fmt.Errorf("op %q takes no arguments", r.Op)
		}
	case OpContact:
		if other || r.Status != "" || r.Mood != nil {
			return true, errors.New("op \"contact\" takes action, name and message only")
		}
		switch r.Action {
		case ActionAdd:
		case ActionAccept, ActionDecline, ActionBlock, ActionRemove:
			if r.Message != "" {
				return true, fmt.Errorf("action %q takes no message", r.Action)
			}
		default:
			return true, fmt.Errorf("action %.20q: choose add, accept, decline, block or remove", r.Action)
		}
		if r.Name == "" || len(r.Name) > 256 {
			return true, errors.New("op \"contact\" needs a name (at most 256 bytes)")
		}
		if len(r.Message) > contacts.MaxNote {
			return true, fmt.Errorf("message of %d bytes; the limit is %d", len(r.Message), contacts.MaxNote)
		}
	case OpPresence:
		if other || r.Name != "" || r.Action != "" || r.Message != "" {
			return true, errors.New("op \"presence\" takes status and mood only")
		}
		if _, err := contacts.ParseStatus(r.Status); err != nil {
			return true, err
		}
		if r.Mood != nil && len(*r.Mood) > contacts.MaxMood {
			return true, fmt.Errorf("mood of %d bytes; the limit is %d", len(*r.Mood), contacts.MaxMood)
		}
	default:
		if fields {
			return true, fmt.Errorf("op %q takes no action, message, status or mood", r.Op)
		}
		return false, nil
	}
	return true, nil
}

// serveSoftphone answers the contact operations; false for other ops.
func (s *Server) serveSoftphone(req Request, send func(Response), fail func(error)) bool {
	switch req.Op {
	case OpContacts, OpContact, OpPresence, OpHistory, OpUI:
	default:
		return false
	}
	sp, ok := s.n.(Softphone)
	if ok && req.Op == OpUI {
		url, err := sp.UILoginURL()
		if err != nil {
			fail(err)
			return true
		}
		send(Response{Done: true, softphoneResponse: softphoneResponse{URL: url}})
		return true
	}
	var book *contacts.Book
	if ok {
		book = sp.Contacts()
	}
	if book == nil {
		fail(errors.New("this node keeps no contact list (it was started for one call); run `peercall run`"))
		return true
	}
	sp.Touch()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	self := func() *contacts.PresenceEvent {
		st, mood := book.Self()
		return &contacts.PresenceEvent{Status: st, Mood: mood, Self: true}
	}
	var resp softphoneResponse
	var err error
	switch req.Op {
	case OpContacts:
		resp.Contacts, err = book.List(ctx)
		if resp.Contacts == nil {
			resp.Contacts = []contacts.Contact{}
		}
		resp.Self = self()
	case OpHistory:
		resp.History, err = book.History(ctx, 100)
	case OpPresence:
		err = book.SetStatus(ctx, contacts.Status(req.Status), req.Mood)
		resp.Self = self()
	case OpContact:
		switch req.Action {
		case ActionAdd:
			resp.Delivered, err = book.Add(ctx, req.Name, req.Message)
		case ActionAccept:
			resp.Delivered, err = book.Accept(ctx, req.Name)
		case ActionDecline:
			resp.Delivered, err = book.Decline(ctx, req.Name)
		case ActionBlock:
			err = book.Block(ctx, req.Name)
		case ActionRemove:
			err = book.Remove(ctx, req.Name)
		}
	}
	if err != nil {
		fail(err)
		return true
	}
	send(Response{Done: true, softphoneResponse: resp})
	return true
}

func softphoneCode(err error) string {
	switch {
	case errors.Is(err, contacts.ErrUnknownUser):
		return CodeUnknownUser
	case errors.Is(err, contacts.ErrState), errors.Is(err, contacts.ErrNotFound):
		return CodeContact
	}
	return ""
}

func softphoneError(code string) error {
	if code == CodeContact {
		return contacts.ErrState
	}
	return nil
}
