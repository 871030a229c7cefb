package dirlink

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/internal/atomicfile"
)

// The link fetches the directory's signed revocation list every
// DefaultRevocationRefresh (Config.RevocationRefresh) and caches it in
// the home (RevocationsFile), so that a restart without the directory
// still knows it. A certificate on it is refused for INVITEs, presence
// lookups (presence.Resolver.Revoked) and relay credentials. With the
// directory up, a logout everywhere is refused by running nodes within
// this interval (plus the directory's revocation_refresh for `user
// revoke`).
const (
	DefaultRevocationRefresh = time.Minute
	RevocationsFile          = "revocations"
)

type revocationCache struct {
	mu      sync.Mutex
	list    *crypto.RevocationList
	fetched time.Time
	err     error
}

// Revoked reports whether serial is on the cached list.
func (l *Link) Revoked(serial uint64) bool {
	l.revs.mu.Lock()
	defer l.revs.mu.Unlock()
	return l.revs.list.Revokes(serial)
}

// setRevocations keeps list when it is not older than the list held.
func (l *Link) setRevocations(list *crypto.RevocationList, fetched time.Time, err error) bool {
	l.revs.mu.Lock()
	defer l.revs.mu.Unlock()
	l.revs.err = err
	if list == nil || (l.revs.list != nil && list.Issued.Before(l.revs.list.Issued)) {
		return false
	}
	l.revs.list = list
	if !fetched.IsZero() {
		l.revs.fetched = fetched
	}
	return true
}

// loadRevocations reads the cached list, when the home holds a valid one.
func (l *Link) loadRevocations() {
	path := l.cfg.Home.Path(RevocationsFile)
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, crypto.MaxRevocationListSize+1))
	if err != nil {
		return
	}
	list, err := crypto.ParseRevocationList(b)
	if err == nil {
		err = list.Verify(l.cfg.DirectoryKey, l.now())
	}
	if err != nil {
		l.log.Warn("the cached revocation list is unusable; fetching it again", "file", path, "err", err)
		return
	}
	l.setRevocations(list, time.Time{}, nil)
}

// runRevocations refreshes the list until ctx is done.
func (l *Link) runRevocations(ctx context.Context) {
	every := l.cfg.RevocationRefresh
	if every <= 0 {
		every = DefaultRevocationRefresh
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		l.fetchRevocations(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fetchRevocations fetches, keeps and caches the list once.
func (l *Link) fetchRevocations(ctx context.Context) {
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	list, err := l.cfg.Directory.Revocations(fctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("fetch the revocation list; the cached one stays in use", "err", err)
			l.setRevocations(nil, time.Time{}, err)
		}
		return
	}
	if l.setRevocations(list, l.now(), nil) {
		if err := atomicfile.WriteFile(l.cfg.Home.Path(RevocationsFile), list.Marshal(), 0o600); err != nil {
			l.log.Warn("cache the revocation list", "err", err)
		}
	}
}

// RevocationStatus describes the list for status: its entries, when it
// was last fetched, and why the last fetch failed ("not fetched yet"
// before any list).
func (l *Link) RevocationStatus() (entries int, fetched time.Time, err string) {
	l.revs.mu.Lock()
	defer l.revs.mu.Unlock()
	if l.revs.list != nil {
		entries = len(l.revs.list.Entries)
	}
	if l.revs.err != nil {
		err = l.revs.err.Error()
	}
	if l.revs.list == nil && l.revs.err == nil {
		err = "not fetched yet"
	}
	return entries, l.revs.fetched, err
}
