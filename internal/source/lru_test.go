package source

import (
	"testing"
)

// fakeSnapshot is a snapshot whose size() is exactly size (no entries but
// the root).
func fakeSnapshot(size int64) *snapshotFS {
	return &snapshotFS{root: &node{name: ".", tree: &tree{bytes: size - entryOverhead}}}
}

func assertUsage(t *testing.T, l *lru, bytes int64, entries int) {
	t.Helper()
	if b, n := l.usage(); b != bytes || n != entries {
		t.Errorf("usage = %d bytes in %d entries, want %d in %d", b, n, bytes, entries)
	}
}

// assertHeld checks which keys are held without touching their recency.
func assertHeld(t *testing.T, l *lru, want map[string]bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, held := range want {
		if _, ok := l.items[key]; ok != held {
			t.Errorf("%s held = %v, want %v", key, ok, held)
		}
	}
}

func TestLRUEvictsLeastRecentlyUsedByBytes(t *testing.T) {
	l := newLRU(100, 3000)
	for _, key := range []string{"a", "b", "c"} {
		if !l.add(key, fakeSnapshot(1000)) {
			t.Fatalf("%s not kept", key)
		}
	}
	assertUsage(t, l, 3000, 3)
	l.get("a") // b is now the least recently used
	l.add("d", fakeSnapshot(1000))
	assertUsage(t, l, 3000, 3)
	assertHeld(t, l, map[string]bool{"a": true, "b": false, "c": true, "d": true})
	// A large snapshot evicts as many as it needs, oldest first (the order
	// is d, a, c, most recent first).
	l.add("e", fakeSnapshot(2000))
	assertUsage(t, l, 3000, 2)
	assertHeld(t, l, map[string]bool{"a": false, "c": false, "d": true, "e": true})
}

func TestLRUDoesNotKeepOversizeSnapshots(t *testing.T) {
	l := newLRU(100, 3000)
	l.add("a", fakeSnapshot(1000))
	l.add("b", fakeSnapshot(1000))
	if l.add("huge", fakeSnapshot(3001)) {
		t.Error("a snapshot over the whole budget was kept")
	}
	assertUsage(t, l, 2000, 2)
	assertHeld(t, l, map[string]bool{"a": true, "b": true, "huge": false})
	// Exactly the budget is kept, alone.
	if !l.add("full", fakeSnapshot(3000)) {
		t.Error("a snapshot of exactly the budget was not kept")
	}
	assertUsage(t, l, 3000, 1)
	// An oversize snapshot under a key held by another drops the stale one.
	if l.add("full", fakeSnapshot(5000)) {
		t.Error("a snapshot over the whole budget was kept")
	}
	assertUsage(t, l, 0, 0)
}

func TestLRUCountsASnapshotOnceUnderTwoKeys(t *testing.T) {
	l := newLRU(100, 3000)
	shared := fakeSnapshot(2000)
	l.add("repo@tag", shared)
	l.add("repo@commit", shared)
	assertUsage(t, l, 2000, 2)
	l.add("other", fakeSnapshot(1000))
	assertUsage(t, l, 3000, 3)
	// Adding 1000 more evicts repo@tag (the oldest key) but the snapshot
	// stays held by repo@commit: still over budget, so repo@commit goes too.
	l.add("new", fakeSnapshot(1000))
	assertUsage(t, l, 2000, 2)
	assertHeld(t, l, map[string]bool{"repo@tag": false, "repo@commit": false, "other": true, "new": true})
	// Replacing a key's snapshot counts the new one instead.
	l.add("other", fakeSnapshot(500))
	assertUsage(t, l, 1500, 2)
}

func TestLRUKeepsTheEntryBound(t *testing.T) {
	l := newLRU(2, 1<<30)
	l.add("a", fakeSnapshot(1000))
	l.add("b", fakeSnapshot(1000))
	l.add("c", fakeSnapshot(1000))
	assertUsage(t, l, 2000, 2)
	assertHeld(t, l, map[string]bool{"a": false, "b": true, "c": true})
}

func TestSnapshotSizeCountsFilesAndEntries(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	fsys, err := c.Snapshot(t.Context(), remote.url(), remote.sha("main"))
	if err != nil {
		t.Fatal(err)
	}
	s := fsys.(*snapshotFS)
	root := s.root.tree
	if root.files == 0 || root.bytes == 0 {
		t.Fatalf("root totals = %d files, %d bytes", root.files, root.bytes)
	}
	if got, want := s.size(), root.bytes+int64(root.files+1)*entryOverhead; got != want {
		t.Errorf("size = %d, want %d", got, want)
	}
	if b, n := c.snapshots.usage(); b != s.size() || n != 1 {
		t.Errorf("cache usage = %d bytes in %d entries, want %d in 1", b, n, s.size())
	}
}

func TestSnapshotOverBudgetIsServedNotKept(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{SnapshotCacheMaxBytes: 100}) // less than one snapshot
	sha := remote.sha("main")
	a, err := c.Snapshot(t.Context(), remote.url(), sha)
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, a, "README.md", "# demo\n")
	b, err := c.Snapshot(t.Context(), remote.url(), sha)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("a snapshot over the budget was kept")
	}
	if s := statsOf(t, c, remote.url()); s.Snapshots != 2 {
		t.Errorf("stats = %+v, want 2 snapshots built", s)
	}
	if bytes, n := c.snapshots.usage(); bytes != 0 || n != 0 {
		t.Errorf("cache usage = %d bytes in %d entries, want none", bytes, n)
	}
}

func TestSnapshotCacheEvictsByBytes(t *testing.T) {
	remote := newTestRepo(t)
	probe, _ := newTestCache(t, Options{})
	main, staging := remote.sha("main"), remote.sha("staging")
	fsys, err := probe.Snapshot(t.Context(), remote.url(), main)
	if err != nil {
		t.Fatal(err)
	}
	// Room for one snapshot of main, not two snapshots.
	c, _ := newTestCache(t, Options{SnapshotCacheMaxBytes: fsys.(*snapshotFS).size() + 100})
	a, err := c.Snapshot(t.Context(), remote.url(), main)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Snapshot(t.Context(), remote.url(), main); again != a {
		t.Error("a snapshot within the budget was not kept")
	}
	if _, err := c.Snapshot(t.Context(), remote.url(), staging); err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Snapshot(t.Context(), remote.url(), main); again == a {
		t.Error("the least recently used snapshot was not evicted")
	}
	if s := statsOf(t, c, remote.url()); s.Snapshots != 3 {
		t.Errorf("stats = %+v, want 3 snapshots built", s)
	}
}
