package budget

import (
	"strconv"
	"testing"
	"time"
)

// TestTable: a table keeps only spent budgets, forgets one only when
// it is full again, never evicts a spent one for a newcomer (newcomers
// share the overflow budget instead), and refunds restore budgets.
func TestTable(t *testing.T) {
	var overflowed int
	tbl := New(20, 15*time.Minute, 100, func() { overflowed++ })
	now := time.Now()
	if _, _, ok := tbl.Take("victim", now, 16); !ok {
		t.Fatal("the first take of a fresh key was refused")
	}
	if got := tbl.Remaining("victim", now); got != 4 {
		t.Fatalf("after spending 16 of 20, remaining = %v", got)
	}
	// A flood of 10,000 other keys, each spending a little.
	for i := range 10_000 {
		tbl.Take("name"+strconv.Itoa(i), now, 4)
		if n := tbl.Len(); n > 100 {
			t.Fatalf("table holds %d keys, bound 100", n)
		}
	}
	if got := tbl.Remaining("victim", now); got != 4 {
		t.Fatalf("after a flood of new keys the victim's budget is %v, want the 4 it had left (not evicted, not reset)", got)
	}
	if overflowed == 0 {
		t.Error("no key was charged to the overflow budget though the table was full")
	}
	// The overflow budget is real: it ran out during the flood.
	if _, wait, ok := tbl.Take("newcomer", now, 4); ok || wait <= 0 {
		t.Errorf("a newcomer to a full table after the overflow ran out: ok %v wait %v, want refused with a wait", ok, wait)
	}
	// Refused takes change nothing.
	if _, wait, ok := tbl.Take("victim", now, 8); ok || wait != 3*time.Minute {
		t.Errorf("take 8 of 4 left = ok %v, wait %v; want refused, 3m0s (4 units at 20 per 15m)", ok, wait)
	}
	if got := tbl.Remaining("victim", now); got != 4 {
		t.Errorf("a refused take changed the budget to %v", got)
	}
	// Budgets refill; full ones are forgotten and make room.
	later := now.Add(16 * time.Minute)
	if _, _, ok := tbl.Take("fresh", later, 4); !ok {
		t.Fatal("after a window everything is full again, but a new key was refused")
	}
	if n := tbl.Len(); n != 1 {
		t.Fatalf("after a window of refill the table holds %d keys, want 1 (the new one)", n)
	}
	// A refund to full drops the entry.
	tk, _, _ := tbl.Take("refunded", later, 4)
	tk.Refund(later, 4)
	if got := tbl.Remaining("refunded", later); got != 20 || tbl.Len() != 1 {
		t.Errorf("after a full refund: remaining %v, %d keys held; want 20 and the key gone", got, tbl.Len())
	}
}

// TestShort: only a key holding a spent budget is short, with the wait
// until one unit is back, and asking spends nothing.
func TestShort(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := New(2, 2*time.Second, 10, nil) // one unit a second
	if _, short := tb.Short("a", now, 1); short {
		t.Fatal("a key never seen is short")
	}
	tb.Take("a", now, 1)
	if _, short := tb.Short("a", now, 1); short {
		t.Fatal("a key with one unit left is short")
	}
	tb.Take("a", now, 1)
	for range 5 {
		wait, short := tb.Short("a", now, 1)
		if !short || wait != time.Second {
			t.Fatalf("spent key: short %v, wait %v; want true, 1s", short, wait)
		}
	}
	if _, short := tb.Short("a", now.Add(time.Second), 1); short {
		t.Error("still short once a unit came back (asking must not spend)")
	}
}
