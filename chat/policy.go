package chat

import "github.com/peercall/peercall/policyfile"

// PolicyFile is the part of the administrator's policy.toml this package
// reads: its [chat] section.
type PolicyFile struct {
	Chat PolicySection `toml:"chat"`
}

// PolicySection is [chat] of policy.toml.
type PolicySection struct {
	// Enabled = false turns chat off whatever the user's config says
	// (nil: the policy says nothing).
	Enabled *bool `toml:"enabled"`
}

// PolicyFrom decodes the [chat] section of a policy read once (package
// policyfile), refusing unknown keys.
func PolicyFrom(f *policyfile.File) (PolicySection, error) {
	var s PolicySection
	err := f.Decode("chat", &s)
	return s, err
}
