package chartrepo

import (
	"container/list"
	"sync"
	"time"
)

// archiveLRU keeps chart archives, least recently used first out, bounded
// by the bytes they hold. An archive larger than the whole budget is not
// kept, so one huge chart cannot flush every other.
type archiveLRU struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	order    *list.List // of *lruItem, most recent first
	items    map[string]*list.Element
}

type lruItem struct {
	key string
	a   *Archive
	at  time.Time // when its download started
}

func newArchiveLRU(maxBytes int64) *archiveLRU {
	return &archiveLRU{maxBytes: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

// get returns the archive kept under key if its download started after
// after (any archive for a zero after).
func (l *archiveLRU) get(key string, after time.Time) (*Archive, bool) {
	a, at, ok := l.lookup(key)
	if !ok || !at.After(after) {
		return nil, false
	}
	return a, true
}

// lookup returns the archive kept under key and when its download started.
func (l *archiveLRU) lookup(key string) (*Archive, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.items[key]
	if !ok {
		return nil, time.Time{}, false
	}
	l.order.MoveToFront(e)
	it := e.Value.(*lruItem)
	return it.a, it.at, true
}

// add keeps a, downloaded from at, under key, evicting the least recently
// used archives until the budget holds.
func (l *archiveLRU) add(key string, a *Archive, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.items[key]; ok {
		l.remove(e)
	}
	n := int64(len(a.Data))
	if n > l.maxBytes {
		return
	}
	l.items[key] = l.order.PushFront(&lruItem{key: key, a: a, at: at})
	l.bytes += n
	for l.bytes > l.maxBytes {
		l.remove(l.order.Back())
	}
}

func (l *archiveLRU) remove(e *list.Element) {
	it := e.Value.(*lruItem)
	l.order.Remove(e)
	delete(l.items, it.key)
	l.bytes -= int64(len(it.a.Data))
}

// len returns the number of archives kept and their bytes.
func (l *archiveLRU) len() (int, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items), l.bytes
}

// clear drops every archive.
func (l *archiveLRU) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.order.Init()
	l.items = map[string]*list.Element{}
	l.bytes = 0
}
