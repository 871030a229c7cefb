package contacts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func openTestStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStore: rows, the outbox and settings survive a reopen; a newer
// outbox message to a user replaces the older; the schema is migrated
// once and a file of another application or a newer schema is refused.
func TestStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "contacts.db")
	s := openTestStore(t, path)
	now := time.UnixMilli(1_700_000_000_000).UTC()
	if err := s.Put(ctx, Record{Username: "bob", State: StateOutgoing, Note: "hi", Added: now, Updated: now},
		&Outgoing{Username: "bob", Type: TypeRequest, Note: "hi", Next: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, Record{Username: "bob", State: StateOutgoing, Added: now, Updated: now},
		&Outgoing{Username: "bob", Type: TypeRemove, Next: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(ctx, "status", "dnd"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCall(ctx, Call{CallID: "c1", Peer: "bob", Direction: "outgoing", Started: now, DurationS: 3, Connected: true, Route: "direct"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("contacts.db mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}

	s = openTestStore(t, path)
	r, err := s.Get(ctx, "bob")
	if err != nil || r.State != StateOutgoing || !r.Added.Equal(now) {
		t.Errorf("bob after reopen: %+v, %v", r, err)
	}
	due, err := s.Due(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].Type != TypeRemove {
		t.Errorf("outbox: %+v, %v; want the one remove", due, err)
	}
	if err := s.Retry(ctx, due[0].ID, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Due(ctx, now, 10); len(d) != 0 {
		t.Errorf("a retried message is due before its time: %+v", d)
	}
	if v, _ := s.Setting(ctx, "status"); v != "dnd" {
		t.Errorf("status setting %q", v)
	}
	if h, _ := s.History(ctx, 10); len(h) != 1 || h[0].Peer != "bob" || !h[0].Connected {
		t.Errorf("history %+v", h)
	}
	if _, err := s.Get(ctx, "carol"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get carol: %v", err)
	}
	s.Close()

	for name, pragma := range map[string]string{
		"newer schema":        "PRAGMA user_version = 99",
		"another application": "PRAGMA application_id = 7",
	} {
		p := filepath.Join(t.TempDir(), "x.db")
		db, err := sql.Open("sqlite", p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(pragma); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if s, err := OpenStore(ctx, p); err == nil {
			s.Close()
			t.Errorf("%s: opened", name)
		}
	}
}

// TestStoreSurvivesKill: a process adding contacts as fast as it can is
// killed with SIGKILL; the file opens, passes its integrity check and
// holds every contact the process reported committed.
func TestStoreSurvivesKill(t *testing.T) {
	if path := os.Getenv("PEERCALL_CONTACTS_WRITER"); path != "" {
		writer(path)
		return
	}
	path := filepath.Join(t.TempDir(), "contacts.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreSurvivesKill$")
	cmd.Env = append(os.Environ(), "PEERCALL_CONTACTS_WRITER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Read the committed count the writer prints, kill it after 200 rows
	// (or 20 s).
	buf := make([]byte, 64)
	committed := 0
	deadline := time.Now().Add(20 * time.Second)
	var line []byte
	for committed < 200 && time.Now().Before(deadline) {
		n, err := out.Read(buf)
		if err != nil {
			break
		}
		for _, c := range buf[:n] {
			if c == '\n' {
				committed, _ = strconv.Atoi(string(line))
				line = line[:0]
			} else {
				line = append(line, c)
			}
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if committed == 0 {
		t.Fatal("the writer committed nothing before it was killed")
	}
	s := openTestStore(t, path)
	recs, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < committed {
		t.Errorf("%d contacts after kill -9, but %d were committed", len(recs), committed)
	}
	var check string
	if err := s.db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity check: %q, %v", check, err)
	}
}

// writer adds contacts forever, printing the count after each commit.
func writer(path string) {
	s, err := OpenStore(context.Background(), path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	now := time.Now()
	for i := 1; i < 100000; i++ {
		name := fmt.Sprintf("user%05d", i)
		if err := s.Put(context.Background(), Record{Username: name, State: StateOutgoing, Added: now, Updated: now},
			&Outgoing{Username: name, Type: TypeRequest, Next: now}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(i)
	}
	os.Exit(0)
}
