package events

import (
	"errors"
	"sync"
	"time"
)

// Kind is what an event is about.
type Kind string

// Event kinds. Each names the Data it carries.
const (
	// KindCall: a call rang, connected, changed (mute, hold: kind "media")
	// or ended (call.Event).
	KindCall Kind = "call"
	// KindPresence: this user's or a contact's status changed
	// (contacts.PresenceEvent).
	KindPresence Kind = "presence"
	// KindContacts: the contact list changed: a request came or went, a
	// contact was accepted, blocked or removed (contacts.ContactsEvent).
	KindContacts Kind = "contacts"
	// KindRelay: a sample of the super-node role and relayed traffic
	// (supernode.RelayStatus), every few seconds while someone watches.
	KindRelay Kind = "relay"
	// KindAudio: the input level meter or the test tone (AudioLevel).
	KindAudio Kind = "audio"
	// KindNode: the node itself: logged out, stopping.
	KindNode Kind = "node"
)

// Event is one fact of a node's stream.
type Event struct {
	// Seq numbers the node's events from 1, with no gaps: a subscriber
	// that sees one missing was cut off.
	Seq  uint64    `json:"seq"`
	Kind Kind      `json:"kind"`
	Time time.Time `json:"time"`
	Data any       `json:"data,omitempty"`
}

// AudioLevel is the Data of a KindAudio event.
type AudioLevel struct {
	// What is "meter" (the input level) or "tone" (the test tone).
	What string `json:"what"`
	// Device is the device's spec.
	Device string `json:"device"`
	// DBFS is the level of the latest 100 ms (-100 for silence).
	DBFS float64 `json:"dbfs,omitempty"`
	// Running is false on the last event of a meter or tone.
	Running bool   `json:"running"`
	Error   string `json:"error,omitempty"`
}

// ErrTooSlow is the error of a subscription whose reader fell more than
// its buffer behind.
var ErrTooSlow = errors.New("event subscriber fell behind and was cut off; subscribe again and reload the state")

// ErrClosed is the error of a subscription whose bus closed.
var ErrClosed = errors.New("event stream closed: the node is stopping")

// Bus is a node's event stream: Publish never blocks, each Subscription
// gets every event after it subscribed, in order.
type Bus struct {
	now func() time.Time

	mu     sync.Mutex
	seq    uint64
	subs   map[*Subscription]struct{}
	closed bool
}

// New returns an empty bus; now is its clock (nil: time.Now).
func New(now func() time.Time) *Bus {
	if now == nil {
		now = time.Now
	}
	return &Bus{now: now, subs: map[*Subscription]struct{}{}}
}

// Publish sends an event of kind with data to every subscriber and returns
// it. A subscriber whose buffer is full is cut off with ErrTooSlow.
func (b *Bus) Publish(kind Kind, data any) Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev := Event{Seq: b.seq, Kind: kind, Time: b.now(), Data: data}
	if b.closed {
		return ev
	}
	for s := range b.subs {
		select {
		case s.ch <- ev:
		default:
			b.dropLocked(s, ErrTooSlow)
		}
	}
	return ev
}

// Subscribe returns a subscription with room for buffer events (at least
// 1) that nobody has read yet.
func (b *Bus) Subscribe(buffer int) *Subscription {
	s := &Subscription{b: b, ch: make(chan Event, max(1, buffer))}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.err = ErrClosed
		close(s.ch)
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

// Subscribers counts the subscriptions (the relay sampler runs only while
// someone watches).
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Close ends every subscription with ErrClosed; later events go nowhere.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		b.dropLocked(s, ErrClosed)
	}
}

func (b *Bus) dropLocked(s *Subscription, err error) {
	if _, ok := b.subs[s]; !ok {
		return
	}
	delete(b.subs, s)
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.ch)
}

// Subscription is one reader of a bus.
type Subscription struct {
	b  *Bus
	ch chan Event

	mu  sync.Mutex
	err error
}

// C delivers the events; it is closed when the subscription ends (Err says
// why).
func (s *Subscription) C() <-chan Event { return s.ch }

// Err is why C was closed: ErrTooSlow, ErrClosed, or nil after Close.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.dropLocked(s, nil)
}
