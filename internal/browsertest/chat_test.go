package browsertest

import (
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
)

// TestBrowserChat: alice opens a conversation with bob (no contact
// needed) and sends a message; bob's page lists the conversation as
// unread, he opens it (alice's page shows the message delivered, then
// read), types (alice's page shows him typing) and answers; alice reopens
// the conversation and the history has both, in order.
func TestBrowserChat(t *testing.T) {
	exe := chromium(t)
	if err := os.MkdirAll(screens, 0o755); err != nil {
		t.Fatal(err)
	}
	nw := callharness.NewNetwork(t)
	start := func(name string) *node.Node {
		o := callharness.NodeOptions()
		o.Softphone = node.SoftphoneOptions{UI: true, UIListen: "127.0.0.1:0", ContactsRetry: 200 * time.Millisecond}
		return nw.Start(nw.User(name), o)
	}
	alice, bob := start("alice"), start("bob")
	open := browse(t, exe, 60*time.Second)
	ap, bp := open("alice", alice), open("bob", bob)

	stateOf := func(dir, text, state string) chromedp.Action[chromedp.Void] {
		return waitJS(`[...document.querySelectorAll('#chat-messages li[data-dir="` + dir + `"]')].some((li) =>
			li.querySelector(".text").textContent === "` + text + `" && li.dataset.state === "` + state + `")`)
	}
	ap.run("open a conversation with bob", chromedp.SendKeys(chromedp.CSS("#chat-with"), "bob"), chromedp.Click(chromedp.CSS("#chat-open-btn")),
		chromedp.WaitVisible(chromedp.CSS("#conversation")))
	ap.run("send", chromedp.SendKeys(chromedp.CSS("#chat-text"), "hello bob"), chromedp.Click(chromedp.CSS("#chat-send")),
		stateOf("out", "hello bob", "delivered"))
	bp.run("see alice's conversation unread", chromedp.WaitVisible(chromedp.CSS(`#conversation-list li[data-peer="alice"] .unread`)))
	bp.shot("chat-01-bob-unread")
	bp.run("open it", chromedp.Click(chromedp.CSS(`button[data-open="alice"]`)), stateOf("in", "hello bob", "read"))
	ap.run("see the read receipt", stateOf("out", "hello bob", "read"))
	bp.run("type", chromedp.SendKeys(chromedp.CSS("#chat-text"), "hi"))
	ap.run("see bob typing", waitJS(`document.getElementById("chat-typing").textContent === "bob is typing…"`))
	ap.shot("chat-02-alice-bob-typing")
	bp.run("answer", chromedp.SendKeys(chromedp.CSS("#chat-text"), " alice"), chromedp.Click(chromedp.CSS("#chat-send")),
		stateOf("out", "hi alice", "delivered"))
	ap.run("see the answer", stateOf("in", "hi alice", "read"),
		waitJS(`document.getElementById("chat-typing").textContent === ""`))
	ap.run("reopen the conversation", chromedp.Navigate("about:blank"))
	ap = open("alice", alice)
	ap.run("open the history", chromedp.WaitVisible(chromedp.CSS(`button[data-open="bob"]`)), chromedp.Click(chromedp.CSS(`button[data-open="bob"]`)),
		waitJS(`[...document.querySelectorAll("#chat-messages li .text")].map((e) => e.textContent).join("|") === "hello bob|hi alice"`))
	ap.shot("chat-03-alice-history")
}
