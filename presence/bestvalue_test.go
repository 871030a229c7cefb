package presence

import (
	"context"
	"testing"
	"time"
)

// TestBestValue: a lookup answers with the best record it has once the
// search ends, or once the grace after the first record passed (the
// search is then stopped), and with nothing when nothing came.
func TestBestValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		// feed sends values on ch, then closes it, or waits for stop.
		send      []string
		waitStop  bool // the search goes on until stopped
		want      string
		wantStopd bool
	}{
		{name: "search ends first", send: []string{"a", "b"}, want: "b"},
		{name: "nothing found", send: nil, want: ""},
		{name: "grace passes", send: []string{"a", "b"}, waitStop: true, want: "b", wantStopd: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, stop := context.WithCancel(t.Context())
			ch := make(chan []byte)
			go func() {
				defer close(ch)
				for _, v := range tc.send {
					ch <- []byte(v)
				}
				if tc.waitStop {
					select {
					case <-ctx.Done():
					case <-time.After(10 * time.Second):
					}
				}
			}()
			got := bestValue(ch, stop, 50*time.Millisecond)
			if string(got) != tc.want {
				t.Errorf("bestValue = %q, want %q", got, tc.want)
			}
			if stopped := ctx.Err() != nil; stopped != tc.wantStopd {
				t.Errorf("search stopped: %v, want %v", stopped, tc.wantStopd)
			}
			stop()
		})
	}
}
