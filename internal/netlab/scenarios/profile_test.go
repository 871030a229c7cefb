package scenarios

import (
	"testing"
)

// TestLabProfile: PEERCALL_LAB_PROFILE names a netlab profile, "none" or
// nothing, optionally with ":plc" (nodes without FEC); the world's
// profile name says both.
func TestLabProfile(t *testing.T) {
	tests := []struct {
		env, name string
		noFEC     bool
	}{
		{"", "none", false},
		{"none", "none", false},
		{"dsl", "dsl", false},
		{"wan:plc", "wan:plc", true},
		{"bad-wifi", "bad-wifi", false},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv("PEERCALL_LAB_PROFILE", tc.env)
			p, noFEC := labProfile(t)
			w := &world{profile: p, noFEC: noFEC}
			if got := w.profileName(); got != tc.name || noFEC != tc.noFEC {
				t.Errorf("PEERCALL_LAB_PROFILE=%q: profile %q, no FEC %v; want %q, %v", tc.env, got, noFEC, tc.name, tc.noFEC)
			}
		})
	}
}
