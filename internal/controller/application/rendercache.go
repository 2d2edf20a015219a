package application

import (
	"container/list"
	"sync"

	"github.com/ferrycd/ferry/internal/render"
)

// renderCache keeps the most recently used renders, by inputs key. Entries
// are shared and must not be modified.
type renderCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recent; values are *renderEntry
	items map[string]*list.Element
}

type renderEntry struct {
	key string
	val *render.Result
}

func newRenderCache(max int) *renderCache {
	return &renderCache{max: max, order: list.New(), items: map[string]*list.Element{}}
}

func (c *renderCache) get(key string) (*render.Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*renderEntry).val, true
}

func (c *renderCache) add(key string, val *render.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.Value.(*renderEntry).val = val
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(&renderEntry{key: key, val: val})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*renderEntry).key)
	}
}

// clear drops every entry (a hard refresh).
func (c *renderCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	c.items = map[string]*list.Element{}
}
