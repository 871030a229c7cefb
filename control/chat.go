package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/peercall/peercall/chat"
	"github.com/peercall/peercall/events"
)

// Chat operations.
const (
	// OpChatSend sends Message to Name.
	OpChatSend = "chat_send"
	// OpChatHistory lists the conversation with Name (and marks it read),
	// or with Search and no Name, the messages containing Search.
	OpChatHistory = "chat_history"
	// OpInbox lists the unread messages.
	OpInbox = "inbox"
	// OpVoicemail sends the voice message Audio (an Ogg Opus file of
	// DurationMs) to Name.
	OpVoicemail = "voicemail"
	// OpVoiceAudio returns voice message MessageID's file (Audio).
	OpVoiceAudio = "voice_audio"
	// OpChatWatch streams the chat events of the conversation with Name
	// as event lines until the client disconnects; incoming messages
	// streamed count as read.
	OpChatWatch = "chat_watch"
)

// CodeChat is the error code of a chat message refused or chat disabled.
const CodeChat = "chat"

// chatResponse holds what the chat operations answer.
type chatResponse struct {
	// Sent is the message chat_send queued (Delivered says it arrived).
	Sent     *chat.Message  `json:"sent,omitempty"`
	Messages []chat.Message `json:"messages,omitempty"`
	// ChatEvent is an event line of chat_watch.
	ChatEvent *chat.Event `json:"chat_event,omitempty"`
	// Voice is the voice message voice_audio returns, with its file.
	Voice *chat.Message `json:"voice,omitempty"`
	Audio []byte        `json:"audio,omitempty"`
}

// ChatNode is a node that chats.
type ChatNode interface {
	Chat() *chat.Service
	Events() *events.Bus
}

func isChatOp(op string) bool {
	return op == OpChatSend || op == OpChatHistory || op == OpInbox || op == OpChatWatch || op == OpVoicemail || op == OpVoiceAudio
}

// validateChat checks the chat operations' fields; ok says the request
// was one of them.
func (r Request) validateChat() (bool, error) {
	voice := r.Audio != nil || r.MessageID != 0
	if !isChatOp(r.Op) {
		if r.Search != "" || r.Limit != 0 || voice {
			return true, fmt.Errorf("op %q takes no search, limit, audio or message_id", r.Op)
		}
		return false, nil
	}
	switch r.Op {
	case OpVoicemail:
		if r.Name == "" || len(r.Name) > 256 || len(r.Audio) == 0 || len(r.Audio) > chat.MaxVoice || r.DurationMs <= 0 ||
			r.DurationMs > chat.MaxVoiceLength.Milliseconds() || r.Message != "" || r.Search != "" || r.Limit != 0 || r.MessageID != 0 {
			return true, fmt.Errorf(`op "voicemail" needs a name, audio (1..%d bytes) and duration_ms (1..%d)`, chat.MaxVoice, chat.MaxVoiceLength.Milliseconds())
		}
		return true, nil
	case OpVoiceAudio:
		if r.MessageID <= 0 || r.Name != "" || r.Message != "" || r.Search != "" || r.Limit != 0 || r.Audio != nil || r.DurationMs != 0 {
			return true, errors.New(`op "voice_audio" takes only a message_id`)
		}
		return true, nil
	}
	if voice {
		return true, fmt.Errorf("op %q takes no audio or message_id", r.Op)
	}
	other := r.CallID != "" || r.DurationMs != 0 || r.AudioIn != "" || r.AudioOut != "" || r.ForceRelay || r.DSPOff != nil ||
		r.Path != "" || r.TransferID != "" || r.Action != "" || r.Status != "" || r.Mood != nil
	if other {
		return true, fmt.Errorf("op %q takes name, message, search and limit only", r.Op)
	}
	if len(r.Name) > 256 || len(r.Search) > 256 || r.Limit < 0 || r.Limit > 10_000 {
		return true, errors.New("name or search longer than 256 bytes, or limit outside 0..10000")
	}
	switch r.Op {
	case OpChatSend:
		if r.Name == "" || r.Search != "" || r.Limit != 0 {
			return true, errors.New(`op "chat_send" needs a name and a message`)
		}
		if err := chat.CheckText(r.Message); err != nil {
			return true, err
		}
	case OpChatHistory:
		if r.Message != "" || (r.Name == "" && r.Search == "") {
			return true, errors.New(`op "chat_history" needs a name or a search, and no message`)
		}
	case OpInbox:
		if r.Name != "" || r.Message != "" || r.Search != "" {
			return true, errors.New(`op "inbox" takes only a limit`)
		}
	case OpChatWatch:
		if r.Name == "" || r.Message != "" || r.Search != "" || r.Limit != 0 {
			return true, errors.New(`op "chat_watch" takes only a name`)
		}
	}
	return true, nil
}

// serveChat answers a chat operation.
func (s *Server) serveChat(req Request, send func(Response), fail func(error), conn io.Reader) {
	cn, ok := s.n.(ChatNode)
	var svc *chat.Service
	if ok {
		svc = cn.Chat()
	}
	if svc == nil {
		fail(errors.New("this node keeps no chat (it was started for one call); run `peercall run`"))
		return
	}
	if sp, ok := s.n.(Softphone); ok {
		sp.Touch()
	}
	if req.Op == OpChatWatch {
		s.watchChat(svc, cn.Events(), req.Name, send, conn)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	var resp chatResponse
	var delivered bool
	var err error
	switch req.Op {
	case OpChatSend:
		var m chat.Message
		m, delivered, err = svc.Send(ctx, req.Name, req.Message)
		resp.Sent = &m
	case OpChatHistory:
		resp.Messages, err = svc.History(ctx, chat.Query{Peer: req.Name, Text: req.Search, Limit: req.Limit})
		if err == nil && req.Name != "" && req.Search == "" {
			err = svc.MarkRead(ctx, req.Name)
		}
	case OpInbox:
		resp.Messages, err = svc.History(ctx, chat.Query{Unread: true, Limit: req.Limit})
	case OpVoicemail:
		var m chat.Message
		m, delivered, err = svc.SendVoice(ctx, req.Name, req.Audio, time.Duration(req.DurationMs)*time.Millisecond)
		resp.Sent = &m
	case OpVoiceAudio:
		var m chat.Message
		resp.Audio, m, err = svc.Store().Audio(ctx, req.MessageID)
		resp.Voice = &m
	}
	if err != nil {
		fail(err)
		return
	}
	if resp.Messages == nil && (req.Op == OpChatHistory || req.Op == OpInbox) {
		resp.Messages = []chat.Message{}
	}
	send(Response{Done: true, chatResponse: resp, softphoneResponse: softphoneResponse{Delivered: delivered}})
}

// watchChat streams name's chat events until the client goes.
func (s *Server) watchChat(svc *chat.Service, bus *events.Bus, name string, send func(Response), conn io.Reader) {
	sub := bus.Subscribe(1024)
	defer sub.Close()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		cancel()
	}()
	send(Response{chatResponse: chatResponse{ChatEvent: &chat.Event{What: "watching", Peer: name}}})
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.C():
			if !ok {
				send(Response{Done: true, Error: CodeFailed, Message: fmt.Sprint(sub.Err())})
				return
			}
			ce, isChat := ev.Data.(chat.Event)
			if !isChat || ce.Peer != name {
				continue
			}
			send(Response{chatResponse: chatResponse{ChatEvent: &ce}})
			if ce.What == "message" {
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				_ = svc.MarkRead(rctx, name)
				rcancel()
			}
		}
	}
}

func chatCode(err error) string {
	if errors.Is(err, chat.ErrDisabled) || errors.Is(err, chat.ErrRefused) || errors.Is(err, chat.ErrNoVoice) {
		return CodeChat
	}
	return ""
}
