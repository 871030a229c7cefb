package transfer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// maxPolicySize bounds the policy file read (as the relay policy does).
const maxPolicySize = 64 << 10

// PolicyFile is the part of the administrator's policy.toml this package
// reads: its [transfer] section (package relay reads [relay] and
// [network] from the same file).
type PolicyFile struct {
	Transfer Settings `toml:"transfer"`
}

// LoadPolicy reads [transfer] from the policy file at path (a missing file
// is no policy). An unknown key of [transfer] or a value out of range is an
// error naming the file: the node must not start with a policy it cannot
// apply.
func LoadPolicy(path string) (Settings, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Settings{}, nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("read admin policy %s: %w (fix its permissions or ask the administrator)", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPolicySize+1))
	if err != nil {
		return Settings{}, fmt.Errorf("read admin policy %s: %w", path, err)
	}
	if len(data) > maxPolicySize {
		return Settings{}, fmt.Errorf("admin policy %s is larger than %d bytes: it is not a policy file", path, maxPolicySize)
	}
	s, err := ParsePolicy(data)
	if err != nil {
		return Settings{}, fmt.Errorf("admin policy %s: %w", path, err)
	}
	return s, nil
}

// ParsePolicy decodes the [transfer] section of a policy file strictly.
func ParsePolicy(data []byte) (Settings, error) {
	var p PolicyFile
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&p)
	if err != nil {
		return Settings{}, fmt.Errorf("not a valid policy: %w", err)
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] == "transfer" {
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		return Settings{}, fmt.Errorf("unknown setting %s: see docs/policy.md for the transfer keys", strings.Join(unknown, ", "))
	}
	if err := p.Transfer.Validate("policy"); err != nil {
		return Settings{}, err
	}
	return p.Transfer, nil
}
