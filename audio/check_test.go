package audio_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/peercall/peercall/audio"
)

// TestCheckSource checks what CheckSource accepts and refuses, and that
// OpenSource refuses the same wav: paths with the same words.
func TestCheckSource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.wav")
	writeWAVFile(t, good, audio.WAVInfo{SampleRate: 16000, Channels: 2}, make([]int16, 3200))
	link := filepath.Join(dir, "link.wav")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("hello, not audio"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_ = audio.WriteWAV(&b, audio.WAVInfo{SampleRate: 48000, Channels: 1}, make([]int16, 10))
	lie := b.Bytes()
	binary.LittleEndian.PutUint32(lie[40:], 256<<20)
	truncated := filepath.Join(dir, "truncated.wav")
	if err := os.WriteFile(truncated, lie, 0o644); err != nil {
		t.Fatal(err)
	}
	eight := bytes.Clone(lie)
	binary.LittleEndian.PutUint32(eight[40:], 20)
	eight[34] = 8
	eightBit := filepath.Join(dir, "8bit.wav")
	if err := os.WriteFile(eightBit, eight, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		spec string
		want string // "" to accept
		is   error  // the error wraps it, if set
	}{
		{"wav:" + good, "", nil},
		{"wav:" + link, "", nil},
		{"tone:440", "", nil},
		{"silence", "", nil},
		{"null", "", nil},
		{"wav:" + filepath.Join(dir, "missing.wav"), "wav:" + filepath.Join(dir, "missing.wav") + ": there is no such file", fs.ErrNotExist},
		{"wav:" + dir, "wav:" + dir + " is a directory, not a WAV file; give a WAV file", nil},
		{"wav:" + text, "no RIFF/WAVE header", audio.ErrWAVFormat},
		{"wav:" + truncated, "wav:" + truncated + ": not a usable WAV file: WAV header says 256 MiB of audio but the file has 20 bytes after the header; the file is truncated or not a WAV", audio.ErrWAVFormat},
		{"wav:" + eightBit, "only 16-bit PCM is supported", audio.ErrWAVFormat},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			spec := mustSpec(t, tc.spec)
			err := audio.CheckSource(ctx, spec)
			checkErr(t, "CheckSource", err, tc.want, tc.is)
			src, err := audio.OpenSource(ctx, spec, audio.Options{})
			if err == nil {
				src.Close()
			}
			checkErr(t, "OpenSource", err, tc.want, tc.is)
		})
	}
}

// TestCheckSink checks what CheckSink accepts and refuses, that it changes
// nothing on disk, and that OpenSink refuses the same paths.
func TestCheckSink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.wav")
	if err := os.WriteFile(existing, []byte("an old recording"), 0o644); err != nil {
		t.Fatal(err)
	}
	old, err := os.Stat(existing)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec string
		want string // "" to accept
		is   error
	}{
		{"new file", "wav:" + filepath.Join(dir, "new.wav"), "", nil},
		{"existing file", "wav:" + existing, "", nil},
		{"null", "null", "", nil},
		{"silence", "silence", "", nil},
		{"tone", "tone:440", "a tone is a source, not a speaker", nil},
		{"missing folder", "wav:" + filepath.Join(dir, "no", "x.wav"), "wav:" + filepath.Join(dir, "no", "x.wav") + ": the folder " + filepath.Join(dir, "no") + " does not exist", fs.ErrNotExist},
		{"folder is a file", "wav:" + filepath.Join(existing, "x.wav"), "not a directory", nil},
		{"a directory", "wav:" + dir, "wav:" + dir + " is a directory, not a file to record into", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := mustSpec(t, tc.spec)
			checkErr(t, "CheckSink", audio.CheckSink(ctx, spec), tc.want, tc.is)
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 1 || ents[0].Name() != "old.wav" {
				t.Fatalf("CheckSink left %v in the folder, want only old.wav", ents)
			}
			now, err := os.Stat(existing)
			if err != nil {
				t.Fatal(err)
			}
			if now.Size() != old.Size() || !now.ModTime().Equal(old.ModTime()) {
				t.Fatalf("CheckSink changed %s", existing)
			}
		})
	}
	for _, tc := range []struct{ name, spec, want string }{
		{"missing folder", "wav:" + filepath.Join(dir, "no", "x.wav"), "does not exist"},
		{"a directory", "wav:" + dir, "is a directory, not a file to record into"},
	} {
		t.Run("OpenSink "+tc.name, func(t *testing.T) {
			_, err := audio.OpenSink(ctx, mustSpec(t, tc.spec), audio.Options{})
			checkErr(t, "OpenSink", err, tc.want, nil)
		})
	}
}

// TestCheckSinkUnwritable checks a folder no file can be created in.
func TestCheckSinkUnwritable(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"read-only folder", func(t *testing.T) string {
			if os.Geteuid() == 0 {
				t.Skip("needs a user without root's power to write to a read-only folder (runs as root); the /proc case covers an unwritable folder")
			}
			d := t.TempDir()
			if err := os.Chmod(d, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(d, 0o755) })
			return d
		}},
		{"/proc/self", func(t *testing.T) string {
			if runtime.GOOS != "linux" {
				t.Skipf("needs Linux's /proc (runs on %s)", runtime.GOOS)
			}
			return "/proc/self"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(tc.dir(t), "rec.wav")
			err := audio.CheckSink(context.Background(), mustSpec(t, "wav:"+path))
			checkErr(t, "CheckSink", err, "wav:"+path+": no file can be created in the folder", nil)
		})
	}
}

// TestCheckCancelled checks that a done context is reported, not ignored.
func TestCheckCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, spec := range []string{"silence", "wav:/nonexistent.wav", "default"} {
		if err := audio.CheckSource(ctx, mustSpec(t, spec)); !errors.Is(err, context.Canceled) {
			t.Errorf("CheckSource(%s) with a cancelled context = %v", spec, err)
		}
		if err := audio.CheckSink(ctx, mustSpec(t, spec)); !errors.Is(err, context.Canceled) {
			t.Errorf("CheckSink(%s) with a cancelled context = %v", spec, err)
		}
	}
}

// checkErr fails t unless err is nil when want is "", or else contains want
// and (if is is set) wraps is.
func checkErr(t *testing.T, what string, err error, want string, is error) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("%s: %v, want no error", what, err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %v, want an error saying %q", what, err, want)
	}
	if is != nil && !errors.Is(err, is) {
		t.Fatalf("%s: %v does not wrap %v", what, err, is)
	}
}
