//go:build cgo

package audio

/*
#cgo pkg-config: alsa jack
#include <stdarg.h>
#include <stdio.h>
#include <alsa/asoundlib.h>
#include <jack/jack.h>

extern void peercallLibMessage(char *lib, char *msg);

static void peercall_alsa_error(const char *file, int line, const char *function, int err, const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	peercallLibMessage("alsa", buf);
}

static void peercall_jack_message(const char *msg) {
	peercallLibMessage("jack", (char *)msg);
}

static void peercall_quiet_libraries(void) {
	snd_lib_error_set_handler(peercall_alsa_error);
	jack_set_error_function(peercall_jack_message);
	jack_set_info_function(peercall_jack_message);
}
*/
import "C"

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// ALSA and JACK print their complaints (no sound card, no JACK server: some
// sixty lines on a machine without audio) straight to stderr. Their error
// handlers are pointed here instead, before PortAudio first starts: each
// message goes to the logger of SetLibraryLogger at debug level, and the
// first one is kept to explain a failure in one line.
var (
	quietOnce  sync.Once
	libLogger  atomic.Pointer[slog.Logger]
	libMu      sync.Mutex
	libFirst   string
	libCounted int
)

// SetLibraryLogger receives ALSA's and JACK's own messages, at debug level
// (nil: dropped).
func SetLibraryLogger(l *slog.Logger) { libLogger.Store(l) }

func quietLibraries() { quietOnce.Do(func() { C.peercall_quiet_libraries() }) }

//export peercallLibMessage
func peercallLibMessage(lib, msg *C.char) {
	l, m := C.GoString(lib), C.GoString(msg)
	libMu.Lock()
	if libFirst == "" {
		libFirst = l + ": " + m
	}
	libCounted++
	libMu.Unlock()
	if lg := libLogger.Load(); lg != nil {
		lg.Log(context.Background(), slog.LevelDebug, m, "lib", l)
	}
}

// LibraryMessage is the first ALSA or JACK message and how many came, for
// a report that wants to say why (no devices found, say).
func LibraryMessage() (string, int) {
	libMu.Lock()
	defer libMu.Unlock()
	return libFirst, libCounted
}
