package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/peercall/peercall/audio"
	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/internal/testaudio"
	"github.com/peercall/peercall/node"
)

// screens is where the screenshots go (the repository's bin/ui-screens).
const screens = "../../bin/ui-screens"

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("Debian's chromium is not installed: the browser test needs it (scripts/deps.sh installs it, as root: apt-get install chromium)")
	return ""
}

type page struct {
	t    *testing.T
	name string
	ctx  context.Context
	n    *node.Node
}

func (p *page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.shot("failed-" + p.name)
		p.t.Fatalf("%s's page: %s: %v", p.name, what, err)
	}
}

func (p *page) shot(file string) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("screenshot %s: %v", file, err)
		return
	}
	if err := os.WriteFile(filepath.Join(screens, file+".png"), buf, 0o644); err != nil {
		p.t.Logf("screenshot %s: %v", file, err)
	}
}

// waitJS polls a JavaScript condition in the page.
func waitJS(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond))(ctx, t)
		return err
	})
}

// text reads an element's text.
func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("%s's page: read %s: %v", p.name, sel, err)
	}
	return s
}

// TestBrowserCall: alice adds bob in her page, bob accepts in his, both see
// the other online; alice clicks call, bob's page shows the incoming call
// and he answers; both pages show connected with the route and the same
// SAS, speech arrives both ways; alice hangs up and her history shows the
// call.
func TestBrowserCall(t *testing.T) {
	exe := chromium(t)
	if err := os.MkdirAll(screens, 0o755); err != nil {
		t.Fatal(err)
	}
	nw := callharness.NewNetwork(t)
	aliceA := &callharness.Audio{Send: callharness.Speech("alice", 2.5)}
	bobA := &callharness.Audio{Send: callharness.Speech("bob", 2.5)}
	start := func(name string, a *callharness.Audio) *node.Node {
		o := callharness.NodeOptions()
		o.Audio = a.Opener()
		o.Softphone = node.SoftphoneOptions{UI: true, UIListen: "127.0.0.1:0", ContactsRetry: 200 * time.Millisecond}
		return nw.Start(nw.User(name), o)
	}
	alice, bob := start("alice", aliceA), start("bob", bobA)
	callharness.WaitPresence(t, alice, bob)
	open := browse(t, exe, 90*time.Second)
	ap, bp := open("alice", alice), open("bob", bob)

	ap.run("add bob", chromedp.SendKeys(chromedp.CSS("#add-name"), "bob"), chromedp.SendKeys(chromedp.CSS("#add-message"), "hi bob, it's alice"),
		chromedp.Click(chromedp.CSS("#add-btn")), chromedp.WaitVisible(chromedp.CSS(`#request-list li[data-user="bob"]`)))
	ap.shot("01-alice-sent-request")
	bp.run("see alice's request", chromedp.WaitVisible(chromedp.CSS(`#request-list li[data-user="alice"]`)))
	bp.shot("02-bob-request")
	bp.run("accept alice", chromedp.Click(chromedp.CSS(`button[data-accept="alice"]`)))
	ap.run("see bob online", chromedp.WaitVisible(chromedp.CSS(`#contact-list li[data-user="bob"] .status.online`)))
	bp.run("see alice online", chromedp.WaitVisible(chromedp.CSS(`#contact-list li[data-user="alice"] .status.online`)))
	ap.shot("03-alice-contacts-online")

	ap.run("call bob", chromedp.Click(chromedp.CSS(`button[data-call="bob"]`)))
	bp.run("see the incoming call", chromedp.WaitVisible(chromedp.CSS("#incoming")),
		waitJS(`document.getElementById("incoming-peer").textContent === "alice"`))
	bp.shot("04-bob-incoming-call")
	bp.run("answer", chromedp.Click(chromedp.CSS("#answer-btn")))
	connected := `document.getElementById("call-state").textContent === "connected" &&
		document.getElementById("call-sas").textContent.length === 7 &&
		document.getElementById("call-route").textContent !== "—"`
	ap.run("see the call connected", waitJS(connected))
	bp.run("see the call connected", waitJS(connected))
	aliceSAS, bobSAS, aliceRoute := ap.text("#call-sas"), bp.text("#call-sas"), ap.text("#call-route")
	if aliceSAS != bobSAS {
		t.Errorf("SAS differs: alice's page %q, bob's %q", aliceSAS, bobSAS)
	}
	if aliceRoute != "direct" {
		t.Errorf("route %q on loopback, want direct", aliceRoute)
	}
	waitHeard(t, bobA, len(aliceA.Send))
	waitHeard(t, aliceA, len(bobA.Send))
	ap.run("see the timer and MOS", waitJS(`document.getElementById("call-timer").textContent !== "0:00" && document.getElementById("call-mos").textContent !== "—"`))
	ap.shot("05-alice-in-call")
	bp.shot("06-bob-in-call")
	for _, c := range []struct {
		what  string
		sent  []int16
		heard *callharness.Recorder
	}{{"alice→bob", aliceA.Send, bobA.Last()}, {"bob→alice", bobA.Send, aliceA.Last()}} {
		sim := callharness.SegmentSimilarity(c.sent, c.heard.Samples())
		t.Logf("%s: similarity %.3f", c.what, sim)
		if sim <= testaudio.Threshold {
			t.Errorf("%s: similarity %.3f <= %.2f: what was heard is not what was sent", c.what, sim, testaudio.Threshold)
		}
	}

	// Hold and resume from alice's page, mute and unmute from bob's: each
	// page shows its own state and the other's ("held by peer").
	audioIs := func(want string) chromedp.Action[chromedp.Void] {
		return waitJS(`document.getElementById("call-audio").textContent === "` + want + `"`)
	}
	buttonIs := func(id, want string) chromedp.Action[chromedp.Void] {
		return waitJS(`document.getElementById("` + id + `").textContent === "` + want + `"`)
	}
	ap.run("see the audio flowing", audioIs("flowing"), buttonIs("hold-btn", "Hold"), buttonIs("mute-btn", "Mute"))
	ap.run("hold", chromedp.Click(chromedp.CSS("#hold-btn")), audioIs("held"), buttonIs("hold-btn", "Resume"))
	bp.run("see the hold", audioIs("held by peer"), buttonIs("hold-btn", "Hold"))
	ap.shot("06a-alice-holds")
	bp.shot("06b-bob-held-by-peer")
	if c := bob.Calls(); len(c) != 1 || !c[0].PeerHeld {
		t.Errorf("bob's node while alice's page holds: %+v, want peer_held", c)
	}
	ap.run("resume", chromedp.Click(chromedp.CSS("#hold-btn")), audioIs("flowing"), buttonIs("hold-btn", "Hold"))
	bp.run("see the resume", audioIs("flowing"))
	bp.run("mute", chromedp.Click(chromedp.CSS("#mute-btn")), audioIs("muted"), buttonIs("mute-btn", "Unmute"))
	ap.run("see the mute", audioIs("muted by peer"))
	bp.shot("06c-bob-muted")
	bp.run("unmute", chromedp.Click(chromedp.CSS("#mute-btn")), audioIs("flowing"), buttonIs("mute-btn", "Mute"))
	ap.run("see the unmute", audioIs("flowing"))

	ap.run("hang up", chromedp.Click(chromedp.CSS("#hangup-btn")), chromedp.WaitNotVisible(chromedp.CSS("#call")))
	bp.run("see the call end", chromedp.WaitNotVisible(chromedp.CSS("#call")))
	ap.run("see the call in the history", chromedp.WaitVisible(chromedp.CSS(`#history-list li[data-peer="bob"]`)))
	hist := ap.text(`#history-list li[data-peer="bob"]`)
	t.Logf("alice's history: %s", hist)
	ap.shot("07-alice-history")
	// The settings page's microphone meter, on a virtual microphone (a
	// half-scale sine: -9 dBFS).
	ap.run("meter a tone", chromedp.SendKeys(chromedp.CSS("#audio-device"), "tone:440"), chromedp.Click(chromedp.CSS("#meter-btn")),
		waitJS(`document.getElementById("level-text").textContent.includes("dBFS")`))
	if lvl := ap.text("#level-text"); !strings.HasPrefix(lvl, "-9.") {
		t.Errorf("meter of a half-scale tone shows %q, want -9.x dBFS", lvl)
	}
	ap.shot("08-alice-settings-meter")
	if exp := ap.text("#acct-expires"); exp == "" || exp == "unknown" {
		t.Errorf("the account page shows no certificate expiry: %q", exp)
	}
	fmt.Fprintln(os.Stderr, "browsertest: screenshots in bin/ui-screens/")
}

// browse starts chromium for at most timeout and returns how to open a
// node's interface in a tab of it, logged in.
func browse(t *testing.T, exe string, timeout time.Duration) func(name string, n *node.Node) *page {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.WindowSize(1000, 1100), chromedp.Flag("disable-gpu", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	tctx, cancelTimeout := context.WithTimeout(allocCtx, timeout)
	t.Cleanup(cancelTimeout)
	browser, cancelBrowser := chromedp.NewContext(tctx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium (%s): %v", exe, err)
	}
	return func(name string, n *node.Node) *page {
		ctx, cancel := chromedp.NewContext(browser)
		t.Cleanup(cancel)
		p := &page{t: t, name: name, ctx: ctx, n: n}
		login, err := n.UILoginURL()
		if err != nil {
			t.Fatal(err)
		}
		p.run("open the login link", chromedp.Navigate(login), chromedp.WaitVisible(chromedp.CSS("#contacts")),
			waitJS(`document.getElementById("me").textContent.includes("`+name+`")`))
		return p
	}
}

// waitHeard waits until a's latest call has played n samples plus half a
// second (30 s at most).
func waitHeard(t *testing.T, a *callharness.Audio, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r := a.Last(); r != nil && len(r.Samples()) >= n+audio.SampleRate/2 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after 30 s the speech had not been heard")
}
