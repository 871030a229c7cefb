// Package atomicfile writes a file so that readers, and a machine that
// crashes or is killed at any moment, see either the old file or the new one
// in full: a temporary file beside the target, fsynced, renamed (or linked)
// into place, and the directory fsynced.
package atomicfile
