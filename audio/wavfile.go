package audio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A wav: path must be a regular file (or a symlink to one). Opening a named
// pipe waits for its other end, a device never ends, and a directory is no
// audio, so the path is looked at with Stat before it is opened, opened with
// O_NONBLOCK (so a pipe swapped in meanwhile cannot block either), and
// checked again on the open file.

// notAFile says what a non-regular file is, for the errors below.
func notAFile(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file"
}

// notWAVSource is the error for a wav: source that is not a regular file.
func notWAVSource(path string, m fs.FileMode) error {
	hint := ""
	if m&fs.ModeDevice != 0 {
		hint = " (for silence use `silence`)"
	}
	return fmt.Errorf("wav:%s is %s, not a WAV file; give a WAV file%s", path, notAFile(m), hint)
}

// notWAVSink is the error for a wav: sink that exists and is not a regular file.
func notWAVSink(path string, m fs.FileMode) error {
	return fmt.Errorf("wav:%s is %s, not a file to record into; give the path of a new or existing WAV file (to discard the audio use `null`)", path, notAFile(m))
}

// openWAVFile opens the WAV file at path for reading, refusing anything but
// a regular file without opening it, and returns it with its size.
func openWAVFile(path string) (*os.File, int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("wav:%s: there is no such file (%w); give the path of a WAV file", path, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("wav:%s cannot be read (%w); give the path of a WAV file you may read", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, notWAVSource(path, fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("wav:%s cannot be opened (%w); give the path of a WAV file you may read", path, err)
	}
	ofi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("wav:%s: %w", path, err)
	}
	if !ofi.Mode().IsRegular() {
		f.Close()
		return nil, 0, notWAVSource(path, ofi.Mode())
	}
	return f, ofi.Size(), nil
}

// checkWAVFile reads and validates the header of the WAV file at path (the
// format and that the file holds the audio the header claims), without
// reading the audio.
func checkWAVFile(path string) error {
	f, size, err := openWAVFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := readWAVHeader(f, size); err != nil {
		return fmt.Errorf("wav:%s: %w", path, err)
	}
	return nil
}

// createWAVFile creates or truncates the recording at path, refusing an
// existing path that is not a regular file without opening it.
func createWAVFile(path string) (*os.File, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, notWAVSink(path, fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|openNonblock, 0o644)
	if err != nil {
		return nil, sinkPathError(path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wav:%s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notWAVSink(path, fi.Mode())
	}
	return f, nil
}

// sinkPathError explains why a recording cannot be created at path.
func sinkPathError(path string, err error) error {
	dir := filepath.Dir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("wav:%s: the folder %s does not exist (%w); create it or record somewhere else", path, dir, err)
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("wav:%s cannot be written (%w); record to a folder you may write", path, err)
	}
	return fmt.Errorf("wav:%s cannot be created (%w); give a path in a folder you may write", path, err)
}

// checkWAVSink checks that a recording can be made at path without
// touching an existing file: an existing path must be a regular file that
// opens for writing (it is not truncated); a new one needs a folder in
// which a file can be created (one is created and removed).
func checkWAVSink(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if !fi.Mode().IsRegular() {
			return notWAVSink(path, fi.Mode())
		}
		f, err := os.OpenFile(path, os.O_WRONLY|openNonblock, 0)
		if err != nil {
			return fmt.Errorf("wav:%s exists and cannot be written (%w); give a file you may write, or another path", path, err)
		}
		return f.Close()
	case !errors.Is(err, fs.ErrNotExist):
		return sinkPathError(path, err)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return sinkPathError(path, err)
	}
	if !di.IsDir() {
		return fmt.Errorf("wav:%s: %s is %s, not a folder; give a path in a folder you may write", path, dir, notAFile(di.Mode()))
	}
	tmp, err := os.CreateTemp(dir, ".peercall-write-check-*")
	if err != nil {
		return fmt.Errorf("wav:%s: no file can be created in the folder %s (%w); record to a folder you may write", path, dir, err)
	}
	name := tmp.Name()
	tmp.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("wav:%s: removing the test file %s: %w", path, name, err)
	}
	return nil
}
