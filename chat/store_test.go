package chat

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/sqlitefile"
)

// TestNewStoreSharesTheHandle: chat's tables live beside the contact
// list's on one handle the caller owns; closing chat's store leaves it
// open, and what chat wrote is in the same file.
func TestNewStoreSharesTheHandle(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	path := filepath.Join(t.TempDir(), "contacts.db")
	db, err := sqlitefile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := NewStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.queue(ctx, "bob", "00112233445566778899aabbccddeeff", "hello", now, now.Add(DefaultRetryFor)); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("the caller's handle was closed with chat's store: %v", err)
	}
	again, err := OpenStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	ms, err := again.History(ctx, Query{Peer: "bob"})
	if err != nil || len(ms) != 1 || ms[0].Text != "hello" {
		t.Fatalf("history through a second opening: %+v, %v", ms, err)
	}
}
