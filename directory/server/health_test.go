package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/directory/store"
)

// health fetches /healthz.
func (d *testDir) health() (answer, HealthResponse) {
	d.t.Helper()
	a := d.do(http.MethodGet, "/healthz", nil)
	var hr HealthResponse
	a.decode(d.t, &hr)
	return a, hr
}

// serverOn starts a directory on an open store.
func serverOn(t *testing.T, st store.Store, mutate func(*Config)) *testDir {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, Key: key, Password: cheapParams, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return &testDir{t: t, srv: srv, http: hs, store: st, key: key, url: hs.URL}
}

func TestHealthzLowDisk(t *testing.T) {
	d := newTestDir(t, func(c *Config) { c.MinFreeDisk = 1 << 62 })
	a, hr := d.health()
	if a.status != http.StatusServiceUnavailable || hr.Status != "unhealthy" || hr.Store.OK || len(hr.Problems) != 1 || !strings.Contains(hr.Problems[0], "free space") {
		t.Fatalf("healthz with less free space than wanted: %d %s", a.status, a.body)
	}
	if m := string(d.do(http.MethodGet, "/metrics", nil).body); !strings.Contains(m, "peercall_directory_healthy 0") {
		t.Error("metrics do not say unhealthy")
	}
}

func TestHealthzStoreDown(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			d := newTestDirOn(t, b, nil)
			if a, _ := d.health(); a.status != http.StatusOK {
				t.Fatalf("healthz: %d %s", a.status, a.body)
			}
			d.store.Close()
			a, hr := d.health()
			if a.status != http.StatusServiceUnavailable || len(hr.Problems) == 0 || !strings.HasPrefix(hr.Problems[0], "store: ") {
				t.Fatalf("healthz with the store closed: %d %s", a.status, a.body)
			}
		})
	}
}

// damagedDB makes an SQLite database of the current schema holding many
// users, closed, with a page in its middle overwritten.
func damagedDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "directory.db")
	st, err := store.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if _, err := tx.Exec(`INSERT INTO users (name, display, password_hash, created) VALUES (?, 'x', 'h', 0)`, fmt.Sprintf("user%05d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Stat()
	page := make([]byte, 4096)
	for i := range page {
		page[i] = byte(i*31 + 7)
	}
	if _, err := f.WriteAt(page, (info.Size()/4096/2)*4096); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHealthzDamagedStore: a database damaged while running (opened with
// the check at open skipped) is found by the background integrity check
// and reported by /healthz.
func TestHealthzDamagedStore(t *testing.T) {
	path := damagedDB(t)
	st, err := store.OpenWith(context.Background(), "sqlite://"+path, store.Options{SkipIntegrityCheck: true})
	if err != nil {
		t.Fatalf("open with the integrity check skipped: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	d := serverOn(t, st, func(c *Config) { c.IntegrityInterval = 20 * time.Millisecond })
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, hr := d.health()
		if a.status == http.StatusServiceUnavailable {
			if hr.Store.Integrity != "damaged" || !strings.Contains(strings.Join(hr.Problems, " "), "backup") {
				t.Fatalf("healthz of a damaged store: %s, want integrity damaged and what to do", a.body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz still %d %s 10 s after the store was damaged", a.status, a.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHealthzFullDisk: on a disk that fills up, writes fail and /healthz
// says so (free space, the failed write) instead of "ok".
func TestHealthzFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skip("a full disk is made with a small tmpfs, and mounting one needs root (CAP_SYS_ADMIN)")
		}
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := serverOn(t, st, func(c *Config) { c.MinFreeDisk = 1 << 20 })
	if a, _ := d.health(); a.status != http.StatusOK {
		t.Fatalf("healthz before the disk is full: %d %s", a.status, a.body)
	}
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 64<<10)
	for i := 0; i < 1024; i++ {
		if _, err := f.Write(block); err != nil {
			break
		}
	}
	f.Close()
	t.Cleanup(func() { os.Remove(filepath.Join(dir, "filler")) })
	// Writes fail now; the directory says so and /healthz reports it.
	failed := false
	for i := range 50 {
		a := d.register(fmt.Sprintf("user%d", i), "a long password")
		if a.status == http.StatusInternalServerError {
			failed = true
			break
		}
	}
	a, hr := d.health()
	all := strings.Join(hr.Problems, " | ")
	if a.status != http.StatusServiceUnavailable || *hr.Store.FreeBytes >= 1<<20 || !strings.Contains(all, "free space") {
		t.Fatalf("healthz on a full disk: %d %s", a.status, a.body)
	}
	if failed && !strings.Contains(all, "full") {
		t.Errorf("a registration failed on the full disk, but healthz does not report the failed write: %s", all)
	}
	t.Logf("healthz on a full disk (a write failed: %v): %s", failed, a.body)
}
