package relay

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory routes pion/turn's logs to slog. pion logs routine protocol
// events (unauthenticated first requests, missing permissions) at info and
// error levels; they are debug-level events for a super-node, so
// everything below warn goes to debug and warn/error go to info.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("pion", scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) at(level slog.Level, msg string) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, msg)
	}
}

func (l slogLogger) atf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l slogLogger) Trace(msg string)                  { l.at(slog.LevelDebug-4, msg) }
func (l slogLogger) Tracef(format string, args ...any) { l.atf(slog.LevelDebug-4, format, args...) }
func (l slogLogger) Debug(msg string)                  { l.at(slog.LevelDebug, msg) }
func (l slogLogger) Debugf(format string, args ...any) { l.atf(slog.LevelDebug, format, args...) }
func (l slogLogger) Info(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l slogLogger) Infof(format string, args ...any)  { l.atf(slog.LevelDebug, format, args...) }
func (l slogLogger) Warn(msg string)                   { l.at(slog.LevelInfo, msg) }
func (l slogLogger) Warnf(format string, args ...any)  { l.atf(slog.LevelInfo, format, args...) }
func (l slogLogger) Error(msg string)                  { l.at(slog.LevelInfo, msg) }
func (l slogLogger) Errorf(format string, args ...any) { l.atf(slog.LevelInfo, format, args...) }
