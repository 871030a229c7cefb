//go:build unix

package audio

import "syscall"

// openNonblock makes opening a named pipe return at once instead of waiting
// for the other end; regular files ignore it.
const openNonblock = syscall.O_NONBLOCK
