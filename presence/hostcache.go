package presence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peercall/peercall/crypto"
	"github.com/peercall/peercall/internal/atomicfile"
)

// Host cache limits.
const (
	// MaxHostCacheEntries is how many peers the cache keeps: the most
	// recently seen.
	MaxHostCacheEntries = 300
	// maxHostCacheAddrs bounds the addresses kept per peer.
	maxHostCacheAddrs = 8
	// maxHostCacheBytes bounds the file read.
	maxHostCacheBytes = 1 << 20
	hostCacheVersion  = 1
)

// HostCacheEntry is one remembered peer. Username and Certificate are set
// for peers whose certificate was verified (people called or who called).
type HostCacheEntry struct {
	PeerID      string    `json:"peer_id"`
	Addrs       []string  `json:"addrs"`
	Seen        time.Time `json:"seen"`
	Username    string    `json:"username,omitempty"`
	Certificate []byte    `json:"certificate,omitempty"`
}

type hostCacheFile struct {
	Version int              `json:"version"`
	Peers   []HostCacheEntry `json:"peers"`
}

// HostCache is the on-disk cache of peers, safe for concurrent use.
type HostCache struct {
	path string
	mu   sync.Mutex
	byID map[string]*HostCacheEntry
}

// ParseHostCache decodes a host cache file strictly: at most
// maxHostCacheBytes, no unknown fields, valid peer IDs and multiaddrs,
// well-formed certificates, at most MaxHostCacheEntries entries.
func ParseHostCache(data []byte) ([]HostCacheEntry, error) {
	if len(data) > maxHostCacheBytes {
		return nil, fmt.Errorf("host cache is %d bytes, limit %d", len(data), maxHostCacheBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f hostCacheFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("host cache: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("host cache: data after the JSON object")
	}
	if f.Version != hostCacheVersion {
		return nil, fmt.Errorf("host cache: version %d, want %d", f.Version, hostCacheVersion)
	}
	if len(f.Peers) > MaxHostCacheEntries {
		return nil, fmt.Errorf("host cache: %d entries, limit %d", len(f.Peers), MaxHostCacheEntries)
	}
	for i, e := range f.Peers {
		if _, err := peer.Decode(e.PeerID); err != nil {
			return nil, fmt.Errorf("host cache entry %d: peer_id: %w", i, err)
		}
		if len(e.Addrs) > maxHostCacheAddrs {
			return nil, fmt.Errorf("host cache entry %d: %d addrs, limit %d", i, len(e.Addrs), maxHostCacheAddrs)
		}
		for _, a := range e.Addrs {
			if _, err := ma.NewMultiaddr(a); err != nil {
				return nil, fmt.Errorf("host cache entry %d: addr %.60q: %w", i, a, err)
			}
		}
		if len(e.Certificate) > 0 {
			c, err := crypto.ParseCertificate(e.Certificate)
			if err != nil {
				return nil, fmt.Errorf("host cache entry %d: certificate: %w", i, err)
			}
			if c.Username != e.Username {
				return nil, fmt.Errorf("host cache entry %d: certificate of %q stored for %q", i, c.Username, e.Username)
			}
		}
	}
	return f.Peers, nil
}

// OpenHostCache loads the cache at path; a missing file is an empty cache,
// and a damaged one is logged by the caller and started afresh (it is only
// a cache).
func OpenHostCache(path string) (*HostCache, error) {
	c := &HostCache{path: path, byID: map[string]*HostCacheEntry{}}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read host cache: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxHostCacheBytes+1))
	if err != nil {
		return c, fmt.Errorf("read host cache %s: %w", path, err)
	}
	entries, err := ParseHostCache(data)
	if err != nil {
		return c, fmt.Errorf("%s: %w; it will be rewritten", path, err)
	}
	for i := range entries {
		e := entries[i]
		c.byID[e.PeerID] = &e
	}
	return c, nil
}

// Seen records that peer id was seen at addrs now (addrs may be empty to
// keep the known ones).
func (c *HostCache) Seen(id peer.ID, addrs []ma.Multiaddr, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(id)
	if len(addrs) > 0 {
		e.Addrs = e.Addrs[:0]
		for _, a := range addrs {
			if len(e.Addrs) == maxHostCacheAddrs {
				break
			}
			e.Addrs = append(e.Addrs, a.String())
		}
	}
	e.Seen = now.UTC()
	c.trim()
}

// Remember records the verified certificate of a peer (called or calling).
func (c *HostCache) Remember(id peer.ID, cert *crypto.Certificate, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(id)
	e.Username = cert.Username
	e.Certificate = cert.Marshal()
	e.Seen = now.UTC()
	c.trim()
}

// Verified reports whether the cache holds a verified certificate for id
// (Remember): a peer this node has called or been called by. Admission
// gives such a peer a certified peer's connection budget for dials this
// node makes (contacts, chat, files) before its hello proves the
// certificate again on the new connection.
func (c *HostCache) Verified(id peer.ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id.String()]
	return ok && len(e.Certificate) > 0
}

func (c *HostCache) entry(id peer.ID) *HostCacheEntry {
	e, ok := c.byID[id.String()]
	if !ok {
		e = &HostCacheEntry{PeerID: id.String()}
		c.byID[id.String()] = e
	}
	return e
}

// trim keeps the MaxHostCacheEntries most recently seen peers.
func (c *HostCache) trim() {
	if len(c.byID) <= MaxHostCacheEntries {
		return
	}
	all := c.sortedLocked()
	for _, e := range all[MaxHostCacheEntries:] {
		delete(c.byID, e.PeerID)
	}
}

// sortedLocked returns copies of the entries, most recent first.
func (c *HostCache) sortedLocked() []HostCacheEntry {
	out := make([]HostCacheEntry, 0, len(c.byID))
	for _, e := range c.byID {
		cp := *e
		cp.Addrs = slices.Clone(e.Addrs)
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b HostCacheEntry) int {
		if c := b.Seen.Compare(a.Seen); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.PeerID), []byte(b.PeerID))
	})
	return out
}

// Entries returns the cached peers, most recently seen first.
func (c *HostCache) Entries() []HostCacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sortedLocked()
}

// Peers returns the cached peers with addresses as libp2p AddrInfos, most
// recent first, leaving out self.
func (c *HostCache) Peers(self peer.ID) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, e := range c.Entries() {
		id, err := peer.Decode(e.PeerID)
		if err != nil || id == self || len(e.Addrs) == 0 {
			continue
		}
		ai := peer.AddrInfo{ID: id}
		for _, a := range e.Addrs {
			if m, err := ma.NewMultiaddr(a); err == nil {
				ai.Addrs = append(ai.Addrs, m)
			}
		}
		out = append(out, ai)
	}
	return out
}

// Certificate returns the most recent cached certificate of username, with
// the peer it was seen on, or ok false.
func (c *HostCache) Certificate(username string) (cert *crypto.Certificate, id peer.ID, addrs []ma.Multiaddr, ok bool) {
	for _, e := range c.Entries() {
		if e.Username != username || len(e.Certificate) == 0 {
			continue
		}
		cc, err := crypto.ParseCertificate(e.Certificate)
		if err != nil {
			continue
		}
		pid, err := peer.Decode(e.PeerID)
		if err != nil {
			continue
		}
		for _, a := range e.Addrs {
			if m, err := ma.NewMultiaddr(a); err == nil {
				addrs = append(addrs, m)
			}
		}
		return cc, pid, addrs, true
	}
	return nil, "", nil, false
}

// Save writes the cache to its file (mode 0600), atomically.
func (c *HostCache) Save() error {
	c.mu.Lock()
	f := hostCacheFile{Version: hostCacheVersion, Peers: c.sortedLocked()}
	c.mu.Unlock()
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return fmt.Errorf("encode host cache: %w", err)
	}
	if err := atomicfile.WriteFile(c.path, data, 0o600); err != nil {
		return fmt.Errorf("save host cache: %w", err)
	}
	return nil
}
