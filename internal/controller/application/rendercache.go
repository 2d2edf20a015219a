package application

import (
	"k8s.io/utils/lru"

	"github.com/ferrycd/ferry/internal/render"
)

// renderCache keeps the most recently used renders by repository, revision
// and source (a thread-safe LRU). Entries are shared and must not be
// modified; Prepare deep-copies them.
type renderCache struct{ lru *lru.Cache }

func newRenderCache(size int) *renderCache { return &renderCache{lru: lru.New(size)} }

func (c *renderCache) get(key string) (*render.Result, bool) {
	v, ok := c.lru.Get(key)
	if !ok {
		return nil, false
	}
	return v.(*render.Result), true
}

func (c *renderCache) add(key string, val *render.Result) { c.lru.Add(key, val) }

// clear drops every entry (a hard refresh).
func (c *renderCache) clear() { c.lru.Clear() }
