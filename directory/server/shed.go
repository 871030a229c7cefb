package server

import (
	"math/rand/v2"
	"time"
)

// jitter returns a random duration in [lo, hi], whole seconds.
func jitter(lo, hi time.Duration) time.Duration {
	l, h := int64(lo/time.Second), int64(hi/time.Second)
	if h <= l {
		return time.Duration(l) * time.Second
	}
	return time.Duration(l+rand.Int64N(h-l+1)) * time.Second
}
