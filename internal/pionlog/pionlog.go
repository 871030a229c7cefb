package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Levels maps each pion level to the slog level its messages get.
type Levels struct {
	Trace, Debug, Info, Warn, Error slog.Level
}

// Session is for a call's media stack (ICE, DTLS, SRTP, interceptors):
// pion's warnings fire on every ordinary close, so everything but errors is
// debug.
var Session = Levels{Trace: slog.LevelDebug - 4, Debug: slog.LevelDebug, Info: slog.LevelDebug, Warn: slog.LevelDebug, Error: slog.LevelError}

// Server is for a TURN server: unauthenticated first requests and missing
// permissions come as pion errors, which are everyday events for a
// super-node, so warnings and errors are info and the rest debug.
var Server = Levels{Trace: slog.LevelDebug - 4, Debug: slog.LevelDebug, Info: slog.LevelDebug, Warn: slog.LevelInfo, Error: slog.LevelInfo}

// Factory is a pion logging.LoggerFactory writing to Logger.
type Factory struct {
	Logger *slog.Logger
	Levels Levels
}

var _ logging.LoggerFactory = Factory{}

// New returns a factory for log at the given levels.
func New(log *slog.Logger, lv Levels) Factory { return Factory{Logger: log, Levels: lv} }

// NewLogger implements logging.LoggerFactory.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return logger{log: f.Logger.With("pion", scope), lv: f.Levels}
}

type logger struct {
	log *slog.Logger
	lv  Levels
}

func (l logger) at(level slog.Level, msg string) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, msg)
	}
}

func (l logger) atf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l logger) Trace(msg string)                  { l.at(l.lv.Trace, msg) }
func (l logger) Tracef(format string, args ...any) { l.atf(l.lv.Trace, format, args...) }
func (l logger) Debug(msg string)                  { l.at(l.lv.Debug, msg) }
func (l logger) Debugf(format string, args ...any) { l.atf(l.lv.Debug, format, args...) }
func (l logger) Info(msg string)                   { l.at(l.lv.Info, msg) }
func (l logger) Infof(format string, args ...any)  { l.atf(l.lv.Info, format, args...) }
func (l logger) Warn(msg string)                   { l.at(l.lv.Warn, msg) }
func (l logger) Warnf(format string, args ...any)  { l.atf(l.lv.Warn, format, args...) }
func (l logger) Error(msg string)                  { l.at(l.lv.Error, msg) }
func (l logger) Errorf(format string, args ...any) { l.atf(l.lv.Error, format, args...) }
