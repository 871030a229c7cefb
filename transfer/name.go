package transfer

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxSafeName bounds a sanitised name in bytes (file systems allow 255).
const maxSafeName = 200

// ErrBadName: nothing usable is left of a sender's file name.
var ErrBadName = errors.New("the file name has nothing usable in it")

// windowsDevices are names Windows treats as devices whatever their
// extension; a file called so is renamed (someone may copy it there).
var windowsDevices = map[string]bool{
	"con": true, "prn": true, "aux": true, "nul": true, "clock$": true, "conin$": true, "conout$": true,
	"com1": true, "com2": true, "com3": true, "com4": true, "com5": true, "com6": true, "com7": true, "com8": true, "com9": true,
	"lpt1": true, "lpt2": true, "lpt3": true, "lpt4": true, "lpt5": true, "lpt6": true, "lpt7": true, "lpt8": true, "lpt9": true,
}

// SanitizeName turns a sender's file name into one safe to create in the
// receiver's folder: only the last element of any path (/ or \), no
// control or invalid characters (each becomes _), no leading dots (no
// hidden files, no . or ..), no trailing dots or spaces, no device names,
// at most 200 bytes (the extension kept). It says what it changed, so the
// receiver can tell the user.
func SanitizeName(raw []byte) (name string, changed bool, err error) {
	s := strings.ToValidUTF8(string(raw), "_")
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	var b strings.Builder
	for _, c := range s {
		switch {
		case c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0),
			c == 0xfeff, c == 0x200e, c == 0x200f, c >= 0x202a && c <= 0x202e, c >= 0x2066 && c <= 0x2069, // bidi tricks
			strings.ContainsRune(`<>:"|?*`, c):
			b.WriteByte('_')
		case unicode.IsSpace(c):
			b.WriteByte(' ')
		default:
			b.WriteRune(c)
		}
	}
	s = strings.TrimLeft(b.String(), ". ")
	s = strings.TrimRight(s, ". ")
	if s == "" || strings.Trim(s, "_") == "" {
		return "", true, fmt.Errorf("%w (%q)", ErrBadName, clip(string(raw)))
	}
	base := strings.ToLower(s)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	if windowsDevices[strings.TrimRight(base, " ")] {
		s = "_" + s
	}
	if len(s) > maxSafeName {
		ext := filepath.Ext(s)
		if len(ext) > 20 {
			ext = ""
		}
		stem := s[:maxSafeName-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		s = stem + ext
	}
	return s, s != string(raw), nil
}

// Extension is name's extension for the policy: lower case, without the
// dot, the last one ("a.pdf.exe" is "exe"); "" without one.
func Extension(name string) string {
	ext := filepath.Ext(name)
	return strings.ToLower(strings.TrimPrefix(ext, "."))
}
