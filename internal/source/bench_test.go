package source

import (
	"context"
	"fmt"
	"io/fs"
	"runtime"
	"testing"
)

// BenchmarkResolveCached measures Resolve within the poll interval: the cost
// every application pays on every reconcile.
func BenchmarkResolveCached(b *testing.B) {
	remote := newBenchRepo(b, 10)
	c, _ := newTestCache(b, Options{})
	if _, err := c.Resolve(b.Context(), remote.url(), "main", false); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Resolve(b.Context(), remote.url(), "main", false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotBuild measures building a snapshot of 1,000 files, paid
// once per revision: cold, and for a new revision that changes one file
// while the previous revision's snapshot is alive (the usual case).
func BenchmarkSnapshotBuild(b *testing.B) {
	remote := newBenchRepo(b, 1000)
	parent := remote.sha("main")
	remote.write("apps/app0/cm0.yaml", "changed: true\n")
	child := remote.commit("change one file")
	for _, bc := range []struct {
		name string
		cold bool
	}{{"cold", true}, {"next-revision", false}} {
		b.Run(bc.name, func(b *testing.B) {
			c, _ := newTestCache(b, Options{SnapshotCacheSize: 1})
			prev, err := c.Snapshot(b.Context(), remote.url(), parent)
			if err != nil {
				b.Fatal(err)
			}
			r, err := c.repo(context.Background(), remote.url())
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				c.snapshots = newLRU(1, DefaultSnapshotCacheMaxBytes) // drop the cached snapshot
				if bc.cold {
					r.storeMu.Lock()
					r.objects = sharedObjects{}
					r.storeMu.Unlock()
				}
				if _, err := c.Snapshot(b.Context(), remote.url(), child); err != nil {
					b.Fatal(err)
				}
			}
			runtime.KeepAlive(prev)
		})
	}
}

// BenchmarkSnapshotWalk measures reading every file of a cached snapshot, as
// a renderer does.
func BenchmarkSnapshotWalk(b *testing.B) {
	remote := newBenchRepo(b, 1000)
	c, _ := newTestCache(b, Options{})
	fsys, err := c.Snapshot(b.Context(), remote.url(), remote.sha("main"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = fs.ReadFile(fsys, p)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// newBenchRepo makes a repository of n small manifests in 10 directories.
func newBenchRepo(b *testing.B, n int) *testRepo {
	b.Helper()
	r := &testRepo{t: b, dir: b.TempDir()}
	r.git("init", "-q", "-b", "main")
	for i := range n {
		r.write(fmt.Sprintf("apps/app%d/cm%d.yaml", i%10, i), fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%d\ndata:\n  i: %q\n", i, fmt.Sprint(i)))
	}
	r.commit("bench")
	return r
}
