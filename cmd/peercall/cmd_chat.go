package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/peercall/peercall/chat"
	"github.com/peercall/peercall/control"
)

const (
	chatSynopsis    = "NAME [MESSAGE] [--json]"
	inboxSynopsis   = "[--json]"
	historySynopsis = "[NAME] [--search TEXT] [--limit N] [--json]"
)

// runChat sends one message, or with no message chats interactively: lines
// typed are sent, messages from NAME are shown as they come.
func runChat(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "chat")
	asJSON := fs.Bool("json", false, "print the message sent as one JSON object")
	pos, err := parseArgs(e, fs, args, chatSynopsis)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErrorf("chat needs a name; usage: peercall chat %s", chatSynopsis)
	}
	name := pos[0]
	if len(pos) == 1 {
		if *asJSON {
			return usageErrorf("--json goes with a message; usage: peercall chat %s", chatSynopsis)
		}
		return chatInteractive(ctx, e, name)
	}
	resp, err := controlDo(ctx, e, control.Request{Op: control.OpChatSend, Name: name, Message: strings.Join(pos[1:], " ")})
	if err != nil {
		if *asJSON {
			return e.printJSONError(err)
		}
		return err
	}
	if *asJSON {
		return e.printJSON(map[string]any{"message": resp.Sent, "delivered": resp.Delivered})
	}
	printSent(e.stdout, name, resp)
	return nil
}

func printSent(w io.Writer, name string, resp *control.Response) {
	m := resp.Sent // set by chat_send and voicemail
	switch {
	case resp.Delivered:
		fmt.Fprintf(w, "delivered to %s (message %d)\n", name, m.Local)
	case m.State == chat.StateRefused:
		fmt.Fprintf(w, "refused: %s\n", m.Reason)
	default:
		fmt.Fprintf(w, "queued for %s (message %d): delivered when their node is online, for up to chat.retry_for\n", name, m.Local)
	}
}

func printMessage(w io.Writer, m chat.Message) {
	fmt.Fprintf(w, "%s %s\n", m.Sent.Local().Format("2006-01-02 15:04"), m.Line())
}

// chatInteractive shows the latest of the conversation, then what comes,
// and sends each line typed until end of input.
func chatInteractive(ctx context.Context, e *env, name string) error {
	hm, err := e.openHome()
	if err != nil {
		return err
	}
	cc, err := control.Dial(hm)
	if err != nil {
		return err
	}
	resp, err := cc.Do(ctx, control.Request{Op: control.OpChatHistory, Name: name, Limit: 20}, nil)
	if err != nil {
		return err
	}
	var mu sync.Mutex // one writer of stdout
	for _, m := range resp.Messages {
		printMessage(e.stdout, m)
	}
	fmt.Fprintf(e.stderr, "chatting with %s: type a line to send it; end with Ctrl-D\n", name)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	watching := make(chan struct{})
	watchDone := make(chan error, 1)
	go func() {
		_, err := cc.Do(wctx, control.Request{Op: control.OpChatWatch, Name: name}, func(r control.Response) {
			ev := r.ChatEvent
			if ev == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch ev.What {
			case "watching":
				close(watching)
			case "message":
				printMessage(e.stdout, *ev.Message)
			case chat.StateRead:
				fmt.Fprintf(e.stdout, "(%s read your messages)\n", name)
			case "typing":
				fmt.Fprintf(e.stdout, "(%s is typing)\n", name)
			case chat.StateExpired, chat.StateRefused:
				fmt.Fprintf(e.stdout, "(message %d %s: %s)\n", ev.Message.Local, ev.What, ev.Message.Reason)
			}
		})
		watchDone <- err
	}()
	select {
	case <-watching:
	case err := <-watchDone:
		return err
	}
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := cc.Do(ctx, control.Request{Op: control.OpChatSend, Name: name, Message: line}, nil)
		mu.Lock()
		if err != nil {
			fmt.Fprintf(e.stderr, "not sent: %v\n", err)
		} else if !r.Delivered {
			printSent(e.stdout, name, r)
		}
		mu.Unlock()
	}
	stop()
	<-watchDone
	return sc.Err()
}

// runInbox lists the unread messages.
func runInbox(ctx context.Context, e *env, args []string) error {
	resp, asJSON, err := queryNode(ctx, e, "inbox", args, control.OpInbox)
	if err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(map[string]any{"messages": resp.Messages})
	}
	if len(resp.Messages) == 0 {
		fmt.Fprintln(e.stdout, "no unread messages (`peercall history NAME` reads a conversation)")
	}
	for _, m := range resp.Messages {
		printMessage(e.stdout, m)
	}
	return nil
}

// runHistoryAll is `history`: the calls, or with NAME the chat with NAME
// (marked read), or with --search the messages containing TEXT.
func runHistoryAll(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "history")
	asJSON := fs.Bool("json", false, "print one JSON object")
	search := fs.String("search", "", "only messages containing TEXT")
	limit := fs.Int("limit", 0, "the latest N messages (default 100)")
	pos, err := parseArgs(e, fs, args, historySynopsis)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("history takes at most one name; usage: peercall history %s", historySynopsis)
	}
	if len(pos) == 0 && *search == "" {
		return runHistory(ctx, e, args)
	}
	req := control.Request{Op: control.OpChatHistory, Search: *search, Limit: *limit}
	if len(pos) == 1 {
		req.Name = pos[0]
	}
	resp, err := controlDo(ctx, e, req)
	if err != nil {
		if *asJSON {
			return e.printJSONError(err)
		}
		return err
	}
	if *asJSON {
		return e.printJSON(map[string]any{"messages": resp.Messages})
	}
	if len(resp.Messages) == 0 {
		fmt.Fprintln(e.stdout, "no messages")
	}
	for _, m := range resp.Messages {
		if req.Name == "" {
			fmt.Fprintf(e.stdout, "[%s] ", m.Peer)
		}
		printMessage(e.stdout, m)
	}
	return nil
}
