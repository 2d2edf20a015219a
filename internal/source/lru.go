package source

import (
	"container/list"
	"sync"
)

// lru is the least-recently-used cache of snapshots, bounded by the bytes
// they hold (Options.SnapshotCacheMaxBytes) and by a number of entries
// (Options.SnapshotCacheSize).
//
// The byte bound is the one that bounds memory: a snapshot may hold up to
// MaxSnapshotBytes, so a count alone (32 × 256 MiB) allowed 8 GiB. The count
// bound is kept because it is free (one comparison) and lets tests and
// benchmarks keep exactly n snapshots; its default is high enough that the
// byte budget decides in practice.
//
// A snapshot can be kept under two keys (an annotated tag's SHA and its
// commit's): it is counted once, while any key holds it. A snapshot larger
// than the whole byte budget is not kept at all — its caller is served, and
// the next caller builds it again — so one huge revision cannot flush every
// other repository's snapshots.
type lru struct {
	mu         sync.Mutex
	maxEntries int
	maxBytes   int64
	bytes      int64               // sizes of the distinct snapshots held
	refs       map[*snapshotFS]int // keys holding each snapshot
	order      *list.List          // of *lruEntry, most recent first
	items      map[string]*list.Element
}

type lruEntry struct {
	key  string
	fsys *snapshotFS
}

func newLRU(maxEntries int, maxBytes int64) *lru {
	return &lru{
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		refs:       map[*snapshotFS]int{},
		order:      list.New(),
		items:      map[string]*list.Element{},
	}
}

func (l *lru) get(key string) (*snapshotFS, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.items[key]
	if !ok {
		return nil, false
	}
	l.order.MoveToFront(e)
	return e.Value.(*lruEntry).fsys, true
}

// add keeps fsys under key, evicting the least recently used snapshots
// until both bounds hold. It reports whether fsys was kept: a snapshot
// larger than the byte budget is not.
func (l *lru) add(key string, fsys *snapshotFS) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if fsys.size() > l.maxBytes {
		if e, ok := l.items[key]; ok && e.Value.(*lruEntry).fsys != fsys {
			l.remove(e) // whatever key held before is stale
		}
		return false
	}
	if e, ok := l.items[key]; ok {
		entry := e.Value.(*lruEntry)
		if entry.fsys != fsys {
			l.release(entry.fsys)
			entry.fsys = fsys
			l.hold(fsys)
		}
		l.order.MoveToFront(e)
	} else {
		l.items[key] = l.order.PushFront(&lruEntry{key: key, fsys: fsys})
		l.hold(fsys)
	}
	for l.order.Len() > l.maxEntries || l.bytes > l.maxBytes {
		// Never the entry just added: it alone fits both bounds.
		l.remove(l.order.Back())
	}
	return true
}

func (l *lru) remove(e *list.Element) {
	entry := e.Value.(*lruEntry)
	l.order.Remove(e)
	delete(l.items, entry.key)
	l.release(entry.fsys)
}

func (l *lru) hold(fsys *snapshotFS) {
	if l.refs[fsys] == 0 {
		l.bytes += fsys.size()
	}
	l.refs[fsys]++
}

func (l *lru) release(fsys *snapshotFS) {
	l.refs[fsys]--
	if l.refs[fsys] == 0 {
		delete(l.refs, fsys)
		l.bytes -= fsys.size()
	}
}

// usage returns the bytes and entries held.
func (l *lru) usage() (bytes int64, entries int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes, l.order.Len()
}
