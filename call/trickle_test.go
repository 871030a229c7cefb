package call

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/peercall/peercall/signalling"
)

// TestTrickleBatch: queued candidates go out together, at most
// signalling.MaxCandidates a message, without those the SDP already
// carried; "" (gathering complete) ends the batch and the trickle.
func TestTrickleBatch(t *testing.T) {
	cand := func(i int) string {
		return fmt.Sprintf("candidate:%d 1 udp 2130706431 198.18.0.%d 5000 typ host", i, i)
	}
	tr := &trickle{local: make(chan string, 64), sent: "v=0\r\na=" + cand(1) + "\r\na=end\r\n"}
	for i := 2; i <= 20; i++ {
		tr.local <- cand(i)
	}
	tr.local <- ""
	batch, end := tr.batch(cand(1)) // in the SDP: dropped
	if end || len(batch) != signalling.MaxCandidates || batch[0] != cand(2) || batch[len(batch)-1] != cand(signalling.MaxCandidates+1) {
		t.Fatalf("first batch %q (end %v): want candidates 2..%d", batch, end, signalling.MaxCandidates+1)
	}
	batch, end = tr.batch(<-tr.local)
	want := []string{cand(18), cand(19), cand(20)}
	if !end || !reflect.DeepEqual(batch, want) {
		t.Fatalf("second batch %q (end %v): want %q and the end", batch, end, want)
	}
	if batch, end := tr.batch(""); !end || len(batch) != 0 {
		t.Fatalf("batch of the end alone: %q, %v", batch, end)
	}
	var off *trickle
	off.begin(true, "")
	if off.trickled() {
		t.Fatal("a call without trickle says it trickled")
	}
}
