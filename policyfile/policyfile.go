package policyfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// DefaultPath is where an administrator puts the system-wide policy.
const DefaultPath = "/etc/peercall/policy.toml"

// MaxSize bounds the file read.
const MaxSize = 64 << 10

// Sections are the sections a policy may have, and the packages that read
// them: relay ([relay], [network]), transfer, chat.
var Sections = []string{"relay", "network", "transfer", "chat"}

// File is one read of a policy file. The zero File (no file) has no
// rules. Decode is for the node's start, one section after another: it is
// not safe for concurrent use.
type File struct {
	// Path is the file read ("" when there was none).
	Path     string
	md       toml.MetaData
	sections map[string]toml.Primitive
}

// Load reads the policy at path ("" is DefaultPath). A missing file is no
// policy (an empty File); a file that cannot be read, is too large or is
// not a valid policy is an error naming the file, because silently
// ignoring an administrator is worse than not starting.
func Load(path string) (*File, error) {
	if path == "" {
		path = DefaultPath
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read admin policy %s: %w (fix its permissions or ask the administrator)", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read admin policy %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("admin policy %s is larger than %d bytes: it is not a policy file", path, MaxSize)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("admin policy %s: %w", path, err)
	}
	p.Path = path
	return p, nil
}

// Parse reads a policy's contents: valid TOML whose top level holds only
// known sections, each a table.
func Parse(data []byte) (*File, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%d bytes is larger than a policy file (%d)", len(data), MaxSize)
	}
	p := &File{}
	var top map[string]toml.Primitive
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&top)
	if err != nil {
		return nil, fmt.Errorf("not a valid policy: %w", err)
	}
	for name := range top {
		if !slices.Contains(Sections, name) {
			return nil, fmt.Errorf("unknown section [%s]: a policy has %s (see docs/policy.md)", name, strings.Join(Sections, ", "))
		}
		if t := md.Type(name); t != "Hash" {
			return nil, fmt.Errorf("%s is a %s, want a section [%s]", name, t, name)
		}
	}
	p.md, p.sections = md, top
	return p, nil
}

// Source names the file in rules' descriptions: "admin policy PATH".
func (f *File) Source() string {
	if f.Path == "" {
		return "admin policy"
	}
	return "admin policy " + f.Path
}

// Err names the file in a section's error (nil stays nil).
func (f *File) Err(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", f.Source(), err)
}

// Has says whether the policy has section.
func (f *File) Has(section string) bool {
	_, ok := f.sections[section]
	return ok
}

// Decode decodes section into v (left as it is when the policy lacks the
// section) and refuses keys v has no field for, naming them.
func (f *File) Decode(section string, v any) error {
	if !slices.Contains(Sections, section) {
		return fmt.Errorf("policyfile: no section %q", section)
	}
	prim, ok := f.sections[section]
	if !ok {
		return nil
	}
	if err := f.md.PrimitiveDecode(prim, v); err != nil {
		return fmt.Errorf("not a valid policy: [%s]: %w", section, err)
	}
	var unknown []string
	for _, k := range f.md.Undecoded() {
		if len(k) > 1 && k[0] == section {
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown setting %s: see docs/policy.md for the [%s] keys", strings.Join(unknown, ", "), section)
	}
	return nil
}

// IsDefined says whether the policy sets key (a path such as "relay",
// "allowed_peer_ranges"), even to an empty value.
func (f *File) IsDefined(key ...string) bool { return f.md.IsDefined(key...) }
