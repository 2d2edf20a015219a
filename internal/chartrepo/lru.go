package chartrepo

import (
	"container/list"
	"sync"
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
}

func newArchiveLRU(maxBytes int64) *archiveLRU {
	return &archiveLRU{maxBytes: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

func (l *archiveLRU) get(key string) (*Archive, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.items[key]
	if !ok {
		return nil, false
	}
	l.order.MoveToFront(e)
	return e.Value.(*lruItem).a, true
}

// add keeps a under key, evicting the least recently used archives until
// the budget holds.
func (l *archiveLRU) add(key string, a *Archive) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.items[key]; ok {
		l.remove(e)
	}
	n := int64(len(a.Data))
	if n > l.maxBytes {
		return
	}
	l.items[key] = l.order.PushFront(&lruItem{key: key, a: a})
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
