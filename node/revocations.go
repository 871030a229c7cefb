package node

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/internal/atomicfile"
)

// The node fetches the directory's signed revocation list every
// DefaultRevocationRefresh (Options.RevocationRefresh) and caches it in
// the home (RevocationsFile), so that a restart without the directory
// still knows it. A certificate on it is refused for INVITEs and
// presence lookups (presence.Resolver.Revoked). With the directory up,
// a logout everywhere is refused by running nodes within this interval
// (plus the directory's revocation_refresh for `user revoke`).
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

// revoked reports whether serial is on the cached list.
func (n *Node) revoked(serial uint64) bool {
	n.revs.mu.Lock()
	defer n.revs.mu.Unlock()
	return n.revs.list.Revokes(serial)
}

// setRevocations keeps l when it is not older than the list held.
func (n *Node) setRevocations(l *crypto.RevocationList, fetched time.Time, err error) bool {
	n.revs.mu.Lock()
	defer n.revs.mu.Unlock()
	n.revs.err = err
	if l == nil || (n.revs.list != nil && l.Issued.Before(n.revs.list.Issued)) {
		return false
	}
	n.revs.list = l
	if !fetched.IsZero() {
		n.revs.fetched = fetched
	}
	return true
}

// loadRevocations reads the cached list, when the home holds a valid one.
func (n *Node) loadRevocations() {
	f, err := os.Open(n.home.Path(RevocationsFile))
	if err != nil {
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, crypto.MaxRevocationListSize+1))
	if err != nil {
		return
	}
	l, err := crypto.ParseRevocationList(b)
	if err == nil {
		err = l.Verify(n.dirKey, n.now())
	}
	if err != nil {
		n.log.Warn("the cached revocation list is unusable; fetching it again", "file", n.home.Path(RevocationsFile), "err", err)
		return
	}
	n.setRevocations(l, time.Time{}, nil)
}

// startRevocations loads the cached list and refreshes it until Close.
func (n *Node) startRevocations() {
	n.loadRevocations()
	if n.dir == nil {
		return
	}
	every := n.opts.RevocationRefresh
	if every <= 0 {
		every = DefaultRevocationRefresh
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			n.fetchRevocations(n.ctx)
			select {
			case <-n.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// fetchRevocations fetches, keeps and caches the list once.
func (n *Node) fetchRevocations(ctx context.Context) {
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	l, err := n.dir.Revocations(fctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("fetch the revocation list; the cached one stays in use", "err", err)
			n.setRevocations(nil, time.Time{}, err)
		}
		return
	}
	if n.setRevocations(l, n.now(), nil) {
		if err := atomicfile.WriteFile(n.home.Path(RevocationsFile), l.Marshal(), 0o600); err != nil {
			n.log.Warn("cache the revocation list", "err", err)
		}
	}
}

// revocationStatus describes the list for status.
func (n *Node) revocationStatus() (entries int, fetched time.Time, err string) {
	n.revs.mu.Lock()
	defer n.revs.mu.Unlock()
	if n.revs.list != nil {
		entries = len(n.revs.list.Entries)
	}
	if n.revs.err != nil {
		err = n.revs.err.Error()
	}
	if n.revs.list == nil && n.revs.err == nil {
		err = "not fetched yet"
	}
	return entries, n.revs.fetched, err
}
