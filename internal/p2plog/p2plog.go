package p2plog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	golog "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
	"go.uber.org/zap/zapcore"
)

var (
	target  atomic.Pointer[slog.Handler]
	install sync.Once
)

// discard drops everything.
var discard slog.Handler = slog.DiscardHandler

func current() slog.Handler {
	if h := target.Load(); h != nil {
		return *h
	}
	return discard
}

// Install hooks libp2p's and go-log's loggers to this package, once. Call
// it before the first libp2p host starts: gologshim picks its handler at a
// logger's first message.
func Install() {
	install.Do(func() {
		gologshim.SetDefaultHandler(bridge{})
		golog.SetPrimaryCore(zapCore{})
	})
}

// Route sends the libraries' logs to h (nil: nowhere), at debug level.
func Route(h slog.Handler) {
	if h == nil {
		h = discard
	}
	target.Store(&h)
}

// bridge is the slog.Handler libp2p's loggers write to: every record is
// handed on at debug level, with the level it was logged at.
type bridge struct {
	attrs []slog.Attr
}

func (bridge) Enabled(ctx context.Context, _ slog.Level) bool {
	return current().Enabled(ctx, slog.LevelDebug)
}

func (b bridge) Handle(ctx context.Context, r slog.Record) error {
	h := current()
	if !h.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	out := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
	out.AddAttrs(b.attrs...)
	out.AddAttrs(slog.String("logged_as", r.Level.String()))
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.Handle(ctx, out)
}

func (b bridge) WithAttrs(attrs []slog.Attr) slog.Handler {
	return bridge{attrs: append(b.attrs[:len(b.attrs):len(b.attrs)], attrs...)}
}

// WithGroup flattens groups: libp2p does not use them for anything a
// reader of debug logs would miss.
func (b bridge) WithGroup(string) slog.Handler { return b }

// zapCore is the go-log v2 primary core: its entries (go-log itself filters
// them by GOLOG_LOG_LEVEL, default error) go on at debug level.
type zapCore struct {
	fields []zapcore.Field
}

func (zapCore) Enabled(zapcore.Level) bool {
	return current().Enabled(context.Background(), slog.LevelDebug)
}

func (c zapCore) With(fields []zapcore.Field) zapcore.Core {
	return zapCore{fields: append(c.fields[:len(c.fields):len(c.fields)], fields...)}
}

func (c zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c zapCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	r := slog.NewRecord(e.Time, slog.LevelDebug, e.Message, 0)
	r.AddAttrs(slog.String("logger", e.LoggerName), slog.String("logged_as", e.Level.String()))
	for k, v := range enc.Fields {
		r.AddAttrs(slog.Any(k, v))
	}
	return current().Handle(context.Background(), r)
}

func (zapCore) Sync() error { return nil }
