package source

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

const mib = 1 << 20

// newRandomRepo makes a repository of files of random contents (which Git
// cannot compress or delta), totalling about totalBytes, in files of
// fileBytes, 100 to a directory.
func newRandomRepo(t testing.TB, totalBytes, fileBytes int64) *testRepo {
	t.Helper()
	r := &testRepo{t: t, dir: filepath.Join(t.TempDir(), "remote")}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.git("init", "-q", "-b", "main")
	rnd := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, fileBytes)
	for i := range (totalBytes + fileBytes - 1) / fileBytes {
		_, _ = rnd.Read(buf)
		p := filepath.Join(r.dir, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.commit("random files")
	return r
}

// refusals is what measureRefusals saw.
type refusals struct {
	heapBefore, heapAfterOne, heapAfterAll uint64 // HeapAlloc after a GC
	heapPeak                               uint64 // highest HeapAlloc sampled during the refusals
	allocFirst                             uint64 // bytes allocated (TotalAlloc) by the first refusal
	allocPerRefusal                        uint64 // bytes allocated per refusal, on average
	rssAfterAll, rssPeak                   string // VmRSS, VmHWM of the process (Linux)
}

// heapNow returns HeapAlloc after a full collection, and TotalAlloc.
func heapNow() (heap, total uint64) {
	runtime.GC()
	runtime.GC() // the second cycle frees what the first one's finalizers and weak pointers let go
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.TotalAlloc
}

// measureRefusals clones remote (so that fetching is not measured), then
// asks n times for a snapshot its limits refuse.
func measureRefusals(t testing.TB, remote *testRepo, opts Options, n int) refusals {
	t.Helper()
	c, _ := newTestCache(t, opts)
	sha, err := c.Resolve(t.Context(), remote.url(), "main", false)
	if err != nil {
		t.Fatal(err)
	}
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	var res refusals
	var totalBefore uint64
	res.heapBefore, totalBefore = heapNow()
	peak.Store(res.heapBefore)
	refuse := func() {
		_, err := c.Snapshot(t.Context(), remote.url(), sha)
		if !errors.Is(err, ErrSnapshotTooLarge) {
			t.Fatalf("error = %v, want ErrSnapshotTooLarge", err)
		}
	}
	refuse()
	var totalAfterOne uint64
	res.heapAfterOne, totalAfterOne = heapNow()
	res.allocFirst = totalAfterOne - totalBefore
	for range n - 1 {
		refuse()
	}
	var totalAfter uint64
	res.heapAfterAll, totalAfter = heapNow()
	close(stop)
	sampling.Wait()
	res.heapPeak = peak.Load()
	// heapNow's own allocations are nil; the sampler's are a few bytes.
	res.allocPerRefusal = (totalAfter - totalBefore) / uint64(n)
	res.rssAfterAll, res.rssPeak = procStatus("VmRSS"), procStatus("VmHWM")
	runtime.KeepAlive(c)
	return res
}

// procStatus returns a field of /proc/self/status ("" elsewhere).
func procStatus(field string) string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func (r refusals) String() string {
	m := func(v uint64) string { return fmt.Sprintf("%.1f MiB", float64(v)/mib) }
	return fmt.Sprintf("heap before %s, after 1 refusal %s, after all %s, peak %s; allocated by the first refusal %s, per refusal %s; process VmRSS %s, VmHWM %s",
		m(r.heapBefore), m(r.heapAfterOne), m(r.heapAfterAll), m(r.heapPeak), m(r.allocFirst), m(r.allocPerRefusal), r.rssAfterAll, r.rssPeak)
}

// TestRefusedSnapshotLeavesNothing checks that refusing a revision over
// MaxSnapshotBytes again and again leaves nothing behind: the controller's
// memory stays flat however often an Application points at a too large
// repository.
//
// The bounds are generous on purpose, and about memory, never time. After
// the refusals the heap holds at most the limit and a few MiB more than
// before them, and no more after ten refusals than after one: what stays
// is go-git's object cache of the repository (remote.go, objectCacheSize:
// 16 MiB, here holding the 8 MiB of blobs read before the refusal).
//
// That the build stops reading at the limit is checked exactly by
// TestSnapshotBuilderStopsAtTheLimit; bytes allocated are only reported
// here: go-git grows each blob's buffer by appending (about five times
// the blob's size allocated, garbage at once).
func TestRefusedSnapshotLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 24 MiB repository")
	}
	const limit = 8 * mib
	remote := newRandomRepo(t, 24*mib, 512<<10)
	res := measureRefusals(t, remote, Options{MaxSnapshotBytes: limit}, 10)
	t.Log(res)
	if grown := int64(res.heapAfterAll) - int64(res.heapBefore); grown > limit+4*mib {
		t.Errorf("the heap grew by %.1f MiB over 10 refusals, want at most the %d MiB limit and 4 MiB", float64(grown)/mib, limit/mib)
	}
	if grown := int64(res.heapAfterAll) - int64(res.heapAfterOne); grown > 2*mib {
		t.Errorf("the heap grew by %.1f MiB from the first refusal to the tenth, want it flat (2 MiB of headroom)", float64(grown)/mib)
	}
}

// countingStore counts the bytes of the blobs whose contents are read.
type countingStore struct {
	storer.EncodedObjectStorer
	blobBytes *int64
}

func (s countingStore) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	obj, err := s.EncodedObjectStorer.EncodedObject(t, h)
	if err != nil || t != plumbing.BlobObject {
		return obj, err
	}
	return countingObject{obj, s.blobBytes}, nil
}

type countingObject struct {
	plumbing.EncodedObject
	blobBytes *int64
}

func (o countingObject) Reader() (io.ReadCloser, error) {
	*o.blobBytes += o.Size()
	return o.EncodedObject.Reader()
}

// TestSnapshotBuilderStopsAtTheLimit checks that a revision over
// MaxSnapshotBytes is refused while it is read: the builder opens no blob
// past the limit, since sizes come from object headers.
func TestSnapshotBuilderStopsAtTheLimit(t *testing.T) {
	const limit = 1 * mib
	remote := newRandomRepo(t, 4*mib, 64<<10)
	c, _ := newTestCache(t, Options{MaxSnapshotBytes: limit})
	sha, err := c.Resolve(t.Context(), remote.url(), "main", false)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.repo(t.Context(), remote.url())
	if err != nil {
		t.Fatal(err)
	}
	var read int64
	err = r.withStore(func() error {
		b := &treeBuilder{ctx: t.Context(), store: countingStore{r.git.Storer, &read}, shared: &sharedObjects{},
			maxBytes: limit, maxFiles: DefaultMaxFiles}
		_, err := b.build(plumbing.NewHash(sha))
		return err
	})
	if !errors.Is(err, ErrSnapshotTooLarge) {
		t.Fatalf("error = %v, want ErrSnapshotTooLarge", err)
	}
	if read > limit || read < limit-64<<10 {
		t.Errorf("read %d bytes of blobs before refusing, want the %d of the limit (not past it)", read, limit)
	}
}

// TestRefusedSnapshotHeapFigure measures, when FERRY_REFUSED_REPO_MIB is
// set, the heap after 10 refused snapshots of a repository of that many
// MiB of random files, with MaxSnapshotBytes FERRY_REFUSED_LIMIT_MIB
// (default 64). It asserts nothing: it reports the figure quoted in
// docs/benchmarks.md.
//
//	FERRY_REFUSED_REPO_MIB=200 go test ./internal/source -run TestRefusedSnapshotHeapFigure -v -count=1
func TestRefusedSnapshotHeapFigure(t *testing.T) {
	repoMiB, _ := strconv.Atoi(os.Getenv("FERRY_REFUSED_REPO_MIB"))
	if repoMiB <= 0 {
		t.Skip("set FERRY_REFUSED_REPO_MIB to measure")
	}
	limitMiB, _ := strconv.Atoi(os.Getenv("FERRY_REFUSED_LIMIT_MIB"))
	if limitMiB <= 0 {
		limitMiB = 64
	}
	start := time.Now()
	remote := newRandomRepo(t, int64(repoMiB)*mib, 512<<10)
	t.Logf("wrote a %d MiB repository of 512 KiB random files in %s", repoMiB, time.Since(start).Round(time.Second))
	res := measureRefusals(t, remote, Options{MaxSnapshotBytes: int64(limitMiB) * mib}, 10)
	t.Logf("10 refused snapshots of a %d MiB repository, MaxSnapshotBytes %d MiB: %s", repoMiB, limitMiB, res)
}
