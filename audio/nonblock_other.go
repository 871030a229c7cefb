//go:build !unix

package audio

// openNonblock is 0 where there is no O_NONBLOCK; the stat before opening
// still keeps named pipes and devices out.
const openNonblock = 0
