package ui

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// feed fans the watch cache's Application changes out to the open pages.
// A subscriber keeps only the latest row per Application until its page
// takes them, so a burst of 1,000 changes is one batch of at most 1,000
// rows, never a queue that grows or blocks the cache's handlers.
type feed struct {
	mu   sync.Mutex
	subs map[*subscriber]bool
}

type subscriber struct {
	only    *types.NamespacedName // one Application's page; nil: every Application
	mu      sync.Mutex
	pending map[types.NamespacedName]row
	ready   chan struct{} // has a value when pending is not empty
}

func newFeed() *feed { return &feed{subs: map[*subscriber]bool{}} }

func (f *feed) subscribe(only *types.NamespacedName) *subscriber {
	s := &subscriber{only: only, pending: map[types.NamespacedName]row{}, ready: make(chan struct{}, 1)}
	f.mu.Lock()
	f.subs[s] = true
	f.mu.Unlock()
	return s
}

func (f *feed) unsubscribe(s *subscriber) {
	f.mu.Lock()
	delete(f.subs, s)
	f.mu.Unlock()
}

func (f *feed) publish(r row) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if s.only != nil && *s.only != r.key() {
			continue
		}
		s.mu.Lock()
		s.pending[r.key()] = r
		s.mu.Unlock()
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
}

// take returns and clears the pending rows.
func (s *subscriber) take() []row {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]row, 0, len(s.pending))
	for k, r := range s.pending {
		out = append(out, r)
		delete(s.pending, k)
	}
	return out
}
