//go:build !unix

package store

import "errors"

// freeBytes is unknown on this system.
func freeBytes(string) (int64, error) {
	return -1, errors.New("free space is not measured on this system")
}
