package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// sqliteWithUsers makes an SQLite database of n users, closed (so that
// the WAL is checkpointed into the file), and returns its path.
func sqliteWithUsers(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "directory.db")
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := tx.Exec(`INSERT INTO users (name, display, password_hash, created) VALUES (?, ?, ?, ?)`,
			fmt.Sprintf("user%05d", i), "User", fakeHash, t0.UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCorruptPageReportedAtOpen: a damaged page in the middle of the file
// fails the open with an error that says so and what to do, rather than
// requests failing later.
func TestCorruptPageReportedAtOpen(t *testing.T) {
	path := sqliteWithUsers(t, t.TempDir(), 3000)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.Stat()
	const pageSize = 4096
	pages := info.Size() / pageSize
	if pages < 10 {
		t.Fatalf("the database has only %d pages; the test wants a middle one", pages)
	}
	garbage := make([]byte, pageSize)
	for i := range garbage {
		garbage[i] = byte(i*7 + 13)
	}
	if _, err := f.WriteAt(garbage, (pages/2)*pageSize); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s, err := Open(context.Background(), "sqlite://"+path)
	if err == nil {
		s.Close()
		t.Fatalf("Open of a database with page %d of %d overwritten succeeded, want an integrity error", pages/2+1, pages)
	}
	for _, want := range []string{path, "damaged", "backup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error %q does not mention %q", err, want)
		}
	}
	t.Logf("open error: %v", err)
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted
// when the test ends; it skips the test where mounting is not allowed.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skip("a full disk is made with a small tmpfs, and mounting one needs root (CAP_SYS_ADMIN)")
		}
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file into dir until the file system is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for i := 0; i < 1<<20; i++ {
		if _, err := f.Write(block); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("the disk did not fill up")
}

// TestRestartOnFullDiskSaysWhatToDo: opening a database on a full disk
// fails with an error naming the path and the free space, not a bare
// "disk I/O error".
func TestRestartOnFullDiskSaysWhatToDo(t *testing.T) {
	dir := mountTmpfs(t, 4<<20)
	path := sqliteWithUsers(t, dir, 100)
	fillDisk(t, dir)
	s, err := Open(context.Background(), "sqlite://"+path)
	if err == nil {
		s.Close()
		t.Fatal("Open on a full disk succeeded; the test expected SQLite to fail creating its -shm or -wal file")
	}
	for _, want := range []string{path, "free", dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error on a full disk %q does not mention %q", err, want)
		}
	}
	t.Logf("open error on a full disk: %v", err)
}
