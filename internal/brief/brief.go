package brief

import (
	"fmt"
	"strings"
)

// ID shortens a long identifier (a libp2p peer ID's String) to "…" and its
// last 8 characters; short ones are returned as they are.
func ID(s fmt.Stringer) string {
	v := s.String()
	if len(v) > 10 {
		return "…" + v[len(v)-8:]
	}
	return v
}

// List joins the first n items with "; " and says how many more there are.
func List(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:n], "; ") + fmt.Sprintf("; and %d more", len(items)-n)
}
