package node_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/callharness"
	"github.com/peercall/peercall/node"
	"github.com/peercall/peercall/ui"
)

// TestUISecurity: the interface refuses requests without the session,
// with a replayed login token, for a foreign Host or from a foreign
// Origin, and state changes without the CSRF token; with all of them a
// status change goes through and arrives on the event stream; it listens
// on loopback only.
func TestUISecurity(t *testing.T) {
	nw := callharness.NewNetwork(t)
	o := callharness.NodeOptions()
	o.Softphone = node.SoftphoneOptions{UI: true, UIListen: "127.0.0.1:0"}
	n := nw.Start(nw.User("alice"), o)
	base := n.UIURL()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("UI URL %q", base)
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, body string, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	if r := do("GET", "/", "", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("no session: %d, want 401", r.StatusCode)
	}
	login, err := n.UILoginURL()
	if err != nil {
		t.Fatal(err)
	}
	lu, _ := url.Parse(login)
	r := do("GET", "/login?"+lu.RawQuery, "", nil)
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 {
		t.Fatalf("login: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	cookie := r.Cookies()[0]
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict", cookie)
	}
	if r := do("GET", "/login?"+lu.RawQuery, "", nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("replayed token: %d, want 403", r.StatusCode)
	}
	sess := map[string]string{"Cookie": cookie.Name + "=" + cookie.Value}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range sess {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	r = do("GET", "/api/state", "", sess)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("state with the session: %d", r.StatusCode)
	}
	var st ui.State
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil || st.CSRF == "" {
		t.Fatalf("state: %+v, %v", st, err)
	}
	if r := do("GET", "/", "", sess); r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("page: %d, CSP %q", r.StatusCode, r.Header.Get("Content-Security-Policy"))
	}
	port := strings.TrimPrefix(base, "http://127.0.0.1")
	body := `{"status":"dnd","mood":"focus"}`
	jsonCSRF := map[string]string{"Content-Type": "application/json", "X-CSRF-Token": st.CSRF}
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"foreign Host (DNS rebinding)", with(map[string]string{"Host": "evil.example" + port, "Content-Type": "application/json", "X-CSRF-Token": st.CSRF}), http.StatusMisdirectedRequest},
		{"foreign Origin", with(map[string]string{"Origin": "http://evil.example", "Content-Type": "application/json", "X-CSRF-Token": st.CSRF}), http.StatusForbidden},
		{"cross-site fetch", with(map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json", "X-CSRF-Token": st.CSRF}), http.StatusForbidden},
		{"no CSRF token", with(map[string]string{"Content-Type": "application/json"}), http.StatusForbidden},
		{"wrong CSRF token", with(map[string]string{"Content-Type": "application/json", "X-CSRF-Token": "00"}), http.StatusForbidden},
		{"form body", with(map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": st.CSRF}), http.StatusUnsupportedMediaType},
		{"no session", jsonCSRF, http.StatusUnauthorized},
	} {
		if r := do("POST", "/api/presence", body, tc.hdr); r.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, r.StatusCode, tc.want)
		}
	}
	if st, _ := n.Contacts().Self(); st != "online" {
		t.Fatalf("a refused request changed the status to %s", st)
	}

	// The event stream carries the change made with everything right.
	req, _ := http.NewRequest("GET", base+"/api/events", nil)
	req.Header.Set("Cookie", sess["Cookie"])
	stream, err := (&http.Client{}).Do(req)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("events: %v %v", stream, err)
	}
	defer stream.Body.Close()
	if r := do("POST", "/api/presence", body, with(jsonCSRF)); r.StatusCode != http.StatusOK {
		t.Fatalf("presence with session and CSRF: %d", r.StatusCode)
	}
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") && strings.Contains(sc.Text(), `"dnd"`) {
				got <- sc.Text()
				return
			}
		}
		close(got)
	}()
	select {
	case line, ok := <-got:
		if !ok {
			t.Error("event stream ended without the status change")
		}
		if !strings.Contains(line, `"self":true`) || !strings.Contains(line, "focus") {
			t.Errorf("event %s", line)
		}
	case <-time.After(10 * time.Second):
		t.Error("no status event on the stream within 10 s")
	}

	// Loopback only.
	if _, err := ui.Listen("0.0.0.0:0", nil, nil); !errors.Is(err, ui.ErrNotLoopback) {
		t.Errorf("listen on 0.0.0.0: %v, want ErrNotLoopback", err)
	}
	if ip := nonLoopbackIP(); ip != "" {
		_, p, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, p), 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the interface answers on %s", ip)
		}
	} else {
		t.Log("no non-loopback address on this machine: the dial check is left out (ErrNotLoopback checked)")
	}
}

// nonLoopbackIP is one of this machine's own non-loopback IPv4 addresses.
func nonLoopbackIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return ""
}
