package lookalike

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"go.mau.fi/util/confusable"
	"go.mau.fi/util/unicodeurls"
)

// Data versions. The confusables mapping is UTS #39's confusables.txt of
// ConfusablesVersion (go.mau.fi/util generates it from that file); scripts
// and normalisation are Go's tables of ScriptsVersion. A store records
// ConfusablesVersion beside the skeletons it holds and recomputes them all
// when it changes.
const (
	ConfusablesVersion = unicodeurls.UnicodeVersion
	ScriptsVersion     = unicode.Version
)

// Skeleton is the UTS #39 skeleton of a normalised username: NFD, each
// character replaced by its confusables.txt prototype, NFD again. Two names
// look alike when their skeletons are equal ("раураl" in Cyrillic and
// "paypal", "paypa1" and "paypal", "o̸bama" and "øbama"). A skeleton is for
// comparing only: it is not a name and is never shown.
func Skeleton(name string) string {
	return confusable.Skeleton(name)
}

// ErrMixedScripts is wrapped by CheckScripts' errors.
var ErrMixedScripts = errors.New("the name mixes writing systems in a way that is used to imitate other names")

// The script sets of UTS #39's highly restrictive level (§5.2): one script,
// or Latin with the scripts a CJK language writes together.
var highlyRestrictive = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"}, // Japanese
	{"Latin", "Han", "Bopomofo"},             // Chinese
	{"Latin", "Han", "Hangul"},               // Korean
}

// recommended are UAX #31's Recommended scripts (Table 4), the ones a
// moderately restrictive name may pair with Latin, Cyrillic and Greek
// excepted.
var recommended = map[string]bool{
	"Arabic": true, "Armenian": true, "Bengali": true, "Bopomofo": true, "Cyrillic": true,
	"Devanagari": true, "Ethiopic": true, "Georgian": true, "Greek": true, "Gujarati": true,
	"Gurmukhi": true, "Han": true, "Hangul": true, "Hebrew": true, "Hiragana": true,
	"Kannada": true, "Katakana": true, "Khmer": true, "Lao": true, "Latin": true,
	"Malayalam": true, "Myanmar": true, "Oriya": true, "Sinhala": true, "Tamil": true,
	"Telugu": true, "Thaana": true, "Thai": true, "Tibetan": true,
}

// scriptOrder lists the scripts looked up first (most names are in one of
// them); scriptNames holds the rest, sorted, for a stable lookup.
var scriptOrder = func() []string {
	first := []string{"Latin", "Cyrillic", "Greek", "Han", "Hiragana", "Katakana", "Hangul", "Arabic", "Hebrew", "Devanagari"}
	var rest []string
	for name := range unicode.Scripts {
		if !slices.Contains(first, name) && name != "Common" && name != "Inherited" {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	return append(first, rest...)
}()

// scriptOf names r's script, or "" for Common and Inherited characters
// (digits, '.', '_', '-', combining marks such as U+0338), which go with
// every script. This uses the Script property, not Script_Extensions
// (Go's tables have no Script_Extensions): the few Common characters whose
// extensions name only some scripts (U+30FC, U+0640, ...) count as going
// with every script, which is more permissive than UTS #39 for them.
func scriptOf(r rune) string {
	if unicode.Is(unicode.Common, r) || unicode.Is(unicode.Inherited, r) {
		return ""
	}
	for _, name := range scriptOrder {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	return "" // unassigned in ScriptsVersion: PRECIS has refused it already
}

// Scripts returns the scripts of name's letters, in order of appearance
// (Common and Inherited characters left out).
func Scripts(name string) []string {
	var out []string
	for _, r := range name {
		if s := scriptOf(r); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// CheckScripts accepts a name at UTS #39's moderately restrictive level:
// one script; or Latin with Han and Hiragana/Katakana, Bopomofo or Hangul;
// or Latin with one other Recommended script but Cyrillic and Greek (whose
// letters imitate Latin ones). It refuses the rest ("аlice": Latin and
// Cyrillic) with an error wrapping ErrMixedScripts that names the scripts.
func CheckScripts(name string) error {
	scripts := Scripts(name)
	if len(scripts) <= 1 {
		return nil
	}
	for _, set := range highlyRestrictive {
		if subset(scripts, set) {
			return nil
		}
	}
	if len(scripts) == 2 && slices.Contains(scripts, "Latin") {
		other := scripts[0]
		if other == "Latin" {
			other = scripts[1]
		}
		if recommended[other] && other != "Cyrillic" && other != "Greek" {
			return nil
		}
	}
	return fmt.Errorf("%w: %q is written in %s; write it in one of them", ErrMixedScripts, name, strings.Join(scripts, " and "))
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
