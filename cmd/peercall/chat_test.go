package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/callharness"
)

// TestCLIChat: chat, inbox and history through the running nodes' control
// sockets: a message sent and delivered, seen in the inbox, read with
// history NAME (the inbox empties), an interactive chat fed lines on
// stdin, a search, the call history still there without a name, and usage
// errors.
func TestCLIChat(t *testing.T) {
	nw := callharness.NewNetwork(t)
	aliceU, bobU := nw.User("alice"), nw.User("bob")
	alice := nw.Start(aliceU, callharness.NodeOptions())
	nw.Start(bobU, callharness.NodeOptions())

	if r := runHome(t, aliceU.Home, "chat", "bob", "hello", "there"); r.code != exitOK || !strings.Contains(r.stdout, "delivered to bob") {
		t.Fatalf("chat bob hello there: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	messages := func(r result) []map[string]any {
		t.Helper()
		var v struct {
			Messages []map[string]any `json:"messages"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != exitOK {
			t.Fatalf("exit %d, printed %q (%v); stderr %q", r.code, r.stdout, err, r.stderr)
		}
		return v.Messages
	}
	in := messages(runHome(t, bobU.Home, "inbox", "--json"))
	if len(in) != 1 || in[0]["text"] != "hello there" || in[0]["peer"] != "alice" || in[0]["state"] != "unread" {
		t.Fatalf("bob's inbox: %v", in)
	}
	if h := messages(runHome(t, bobU.Home, "history", "alice", "--json")); len(h) != 1 || h[0]["dir"] != "in" {
		t.Fatalf("bob's history with alice: %v", h)
	}
	if in := messages(runHome(t, bobU.Home, "inbox", "--json")); len(in) != 0 {
		t.Fatalf("bob's inbox after reading: %v", in)
	}
	if r := runStdin(t, "line one\n\nline two\n", bobU.Home.Dir(), "chat", "alice"); r.code != exitOK || !strings.Contains(r.stdout, "hello there") {
		t.Fatalf("interactive chat: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	// A typing notice from alice shows in bob's interactive chat.
	stdin, feed := io.Pipe()
	var out lockedBuffer
	e := newEnv(stdin, &out, io.Discard)
	done := make(chan int, 1)
	go func() { done <- run(t.Context(), e, []string{"--home", bobU.Home.Dir(), "chat", "alice"}) }()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "(alice is typing)"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("bob's interactive chat showed no typing notice: %q", out.String())
		}
		if strings.Contains(out.String(), "line two") { // watching: history shown
			_, _ = alice.Chat().SendTyping(t.Context(), "bob")
		}
	}
	feed.Close()
	if code := <-done; code != exitOK {
		t.Fatalf("interactive chat with a typing notice: exit %d", code)
	}
	h := messages(runHome(t, aliceU.Home, "history", "bob", "--json"))
	var texts []string
	for _, m := range h {
		texts = append(texts, m["text"].(string))
	}
	if strings.Join(texts, "|") != "hello there|line one|line two" {
		t.Fatalf("alice's history with bob: %q", texts)
	}
	if found := messages(runHome(t, aliceU.Home, "history", "--search", "LINE", "--json")); len(found) != 2 {
		t.Fatalf("search: %v", found)
	}
	if r := runHome(t, aliceU.Home, "history", "alice"); r.code != exitOK || !strings.Contains(r.stdout, "no messages") {
		t.Fatalf("history with nobody: exit %d, %q", r.code, r.stdout)
	}
	if r := runHome(t, aliceU.Home, "history", "--json"); r.code != exitOK || !strings.Contains(r.stdout, `"calls"`) {
		t.Fatalf("call history: exit %d, %q", r.code, r.stdout)
	}
	for _, args := range [][]string{{"chat"}, {"chat", "bob", "--json"}, {"history", "a", "b"}, {"inbox", "x"}} {
		if r := runHome(t, aliceU.Home, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, r.code, exitUsage, r.stderr)
		}
	}
	if r := runHome(t, aliceU.Home, "status"); !strings.Contains(r.stdout, "chat:         enabled") {
		t.Errorf("status: %s", r.stdout)
	}
}
