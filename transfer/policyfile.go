package transfer

import (
	"fmt"

	"github.com/peercall/peercall/policyfile"
)

// PolicyFile is the part of the administrator's policy.toml this package
// reads: its [transfer] section.
type PolicyFile struct {
	Transfer Settings `toml:"transfer"`
}

// LoadPolicy reads [transfer] from the policy file at path (a missing file
// is no policy). An unknown key of [transfer] or a value out of range is an
// error naming the file: the node must not start with a policy it cannot
// apply.
func LoadPolicy(path string) (Settings, error) {
	f, err := policyfile.Load(path)
	if err != nil {
		return Settings{}, err
	}
	s, err := PolicyFrom(f)
	if err != nil {
		return Settings{}, fmt.Errorf("admin policy %s: %w", f.Path, err)
	}
	return s, nil
}

// ParsePolicy decodes the [transfer] section of a policy file strictly.
func ParsePolicy(data []byte) (Settings, error) {
	f, err := policyfile.Parse(data)
	if err != nil {
		return Settings{}, err
	}
	return PolicyFrom(f)
}

// PolicyFrom decodes and checks the [transfer] section of a policy read
// once (package policyfile).
func PolicyFrom(f *policyfile.File) (Settings, error) {
	var s Settings
	if err := f.Decode("transfer", &s); err != nil {
		return Settings{}, err
	}
	if err := s.Validate("policy"); err != nil {
		return Settings{}, err
	}
	return s, nil
}
