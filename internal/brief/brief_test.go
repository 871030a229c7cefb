package brief

import "testing"

type str string

func (s str) String() string { return string(s) }

func TestID(t *testing.T) {
	if got := ID(str("12D3KooWAbCdEfGhIjKl")); got != "…EfGhIjKl" {
		t.Errorf("ID = %q", got)
	}
	if got := ID(str("short")); got != "short" {
		t.Errorf("ID(short) = %q", got)
	}
}

func TestList(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		n    int
		want string
	}{
		{nil, 3, ""},
		{[]string{"a", "b"}, 3, "a; b"},
		{[]string{"a", "b", "c", "d", "e"}, 3, "a; b; c; and 2 more"},
	} {
		if got := List(tc.in, tc.n); got != tc.want {
			t.Errorf("List(%v, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
