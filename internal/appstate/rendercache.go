package appstate

import (
	"container/list"
	"encoding/json"
	"sync"
	"time"

	"github.com/ferrycd/ferry/internal/render"
)

// DefaultRenderCacheMaxBytes is the render cache's default budget. A render
// of a typical Application (a handful of objects) is estimated at tens of
// KiB, so 256 MiB keeps thousands; the largest render the renderer allows
// (render.DefaultMaxBytes of YAML, several times that decoded) may not fit,
// and is then rendered again when next needed rather than flushing every
// other Application's render.
const DefaultRenderCacheMaxBytes = 256 << 20

// Sizes the render cache counts besides the objects (see renderSize).
const (
	// renderEntryOverhead is one entry's bookkeeping: its key (a 64-byte
	// hash), map slot, list element and Result.
	renderEntryOverhead = 256
	// failureEntryBytes is what a remembered failure counts, besides its
	// message: the error values wrapping it.
	failureEntryBytes = 512
)

// renderCache is the least-recently-used cache of renders and render
// failures, bounded by an estimate of the bytes they hold. The estimate is
// computed once, when an entry is stored.
type renderCache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	order    *list.List // of *renderCacheEntry, most recent first
	items    map[string]*list.Element
}

type renderCacheEntry struct {
	key  string
	val  renderEntry
	size int64
	at   time.Time // when it was stored
}

func newRenderCache(maxBytes int64) *renderCache {
	return &renderCache{maxBytes: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

// get returns the entry under key if it was stored after after (any entry
// for a zero after).
func (c *renderCache) get(key string, after time.Time) (renderEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok || !e.Value.(*renderCacheEntry).at.After(after) {
		return renderEntry{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*renderCacheEntry).val, true
}

// add keeps val under key, evicting the least recently used entries until
// the budget holds. An entry larger than the whole budget is not kept (and
// add reports false): its caller has it, and it would flush everything else.
func (c *renderCache) add(key string, val renderEntry) bool {
	size := val.size()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.remove(e)
	}
	if size > c.maxBytes {
		return false
	}
	c.items[key] = c.order.PushFront(&renderCacheEntry{key: key, val: val, size: size, at: time.Now()})
	c.bytes += size
	for c.bytes > c.maxBytes {
		c.remove(c.order.Back()) // never the entry just added: it fits alone
	}
	return true
}

func (c *renderCache) remove(e *list.Element) {
	entry := e.Value.(*renderCacheEntry)
	c.order.Remove(e)
	delete(c.items, entry.key)
	c.bytes -= entry.size
}

// clear drops every entry.
func (c *renderCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	c.items = map[string]*list.Element{}
	c.bytes = 0
}

// usage returns the estimated bytes and the entries held.
func (c *renderCache) usage() (bytes int64, entries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes, c.order.Len()
}

// size is what the cache counts for e: a failure a constant and its
// message, a render its estimated size.
func (e renderEntry) size() int64 {
	if e.res == nil {
		n := int64(renderEntryOverhead + failureEntryBytes)
		if e.err != nil {
			n += int64(len(e.err.Error()))
		}
		return n
	}
	return renderEntryOverhead + renderSize(e.res)
}

// renderSize estimates the heap bytes a render holds: its objects as
// decoded JSON (maps, slices, strings, boxed scalars, with Go's per-value
// overheads) and its origins. It walks each object once; it is an estimate
// meant to be within a small factor of the truth, erring high.
func renderSize(res *render.Result) int64 {
	n := int64(len(res.Type)) + 24*3
	for _, o := range res.Objects {
		n += 8 + 48 // the pointer, the Unstructured
		if o != nil {
			n += valueSize(o.Object)
		}
	}
	for _, o := range res.Origins {
		n += 24 + int64(len(o.File))
	}
	return n
}

// Per-value costs of decoded JSON on a 64-bit Go heap (Go's swiss maps),
// checked with runtime.MemStats on typical manifests (see
// TestRenderSizeEstimate).
const (
	mapHeaderBytes = 48  // the map header
	mapGroupBytes  = 288 // a group of 8 slots (string key, interface value) and its control word, in its size class
	sliceHeader    = 24
	sliceSlotBytes = 16 // one interface
	stringHeader   = 16 // a string boxed in an interface
	allocSlack     = 8  // the average rounding of an allocation up to its size class
	scalarBytes    = 8  // a boxed int64 or float64 (bools are not allocated, counted anyway)
)

// mapBytes is what a map of n entries costs besides its keys' and values'
// contents: a group of 8 slots up to 8 entries, then tables kept at most
// 7/8 full, in groups rounded to a power of two.
func mapBytes(n int) int64 {
	switch {
	case n == 0:
		return mapHeaderBytes
	case n <= 8:
		return mapHeaderBytes + mapGroupBytes
	}
	groups := 1
	for groups*7 < n {
		groups *= 2
	}
	return mapHeaderBytes + 64 + int64(groups)*mapGroupBytes // 64: the directory and table headers
}

// valueSize estimates the bytes v holds besides the interface holding it.
func valueSize(v any) int64 {
	switch v := v.(type) {
	case map[string]any:
		n := mapBytes(len(v))
		for k, e := range v {
			n += int64(len(k)) + allocSlack + valueSize(e)
		}
		return n
	case []any:
		n := int64(sliceHeader) + sliceSlotBytes*int64(cap(v)) + allocSlack
		for _, e := range v {
			n += valueSize(e)
		}
		return n
	case string:
		return stringHeader + int64(len(v)) + allocSlack
	case json.Number: // the Directory renderer decodes numbers as json.Number
		return stringHeader + int64(len(v)) + allocSlack
	case nil:
		return 0
	default:
		return scalarBytes
	}
}
