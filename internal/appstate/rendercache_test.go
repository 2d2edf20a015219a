package appstate

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ferrycd/ferry/internal/render"
)

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo-%d
  labels:
    app.kubernetes.io/name: podinfo
    app.kubernetes.io/part-of: demo
  annotations:
    description: "a typical Deployment, as the benchmarks use"
spec:
  replicas: 0
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: podinfo-%d
  template:
    metadata:
      labels:
        app.kubernetes.io/name: podinfo-%d
    spec:
      containers:
      - name: podinfod
        image: ghcr.io/stefanprodan/podinfo:6.7.1
        imagePullPolicy: IfNotPresent
        command: ["./podinfo", "--port=9898", "--level=info"]
        ports:
        - name: http
          containerPort: 9898
          protocol: TCP
        env:
        - name: PODINFO_UI_COLOR
          value: "#34577c"
        resources:
          limits:
            cpu: 2000m
            memory: 512Mi
          requests:
            cpu: 100m
            memory: 64Mi
---
apiVersion: v1
kind: Service
metadata:
  name: podinfo-%d
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: podinfo-%d
  ports:
  - name: http
    port: 9898
    targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-%d
data:
  a: b
  level: info
`

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestRenderSizeEstimate checks that renderSize is within a factor of two
// of the heap a render holds, for the Directory and the Kustomize renderer.
func TestRenderSizeEstimate(t *testing.T) {
	fsys := fstest.MapFS{"kustomize/kustomization.yaml": {Data: []byte("resources:\n"), Mode: 0o644}}
	for i := range 100 {
		name := fmt.Sprintf("m%03d.yaml", i)
		fsys["directory/"+name] = &fstest.MapFile{Data: fmt.Appendf(nil, deploymentYAML, i, i, i, i, i, i), Mode: 0o644}
		fsys["kustomize/"+name] = fsys["directory/"+name]
		fsys["kustomize/kustomization.yaml"].Data = fmt.Appendf(fsys["kustomize/kustomization.yaml"].Data, "- %s\n", name)
	}
	r := render.NewRenderer(render.Limits{})
	for _, path := range []string{"directory", "kustomize"} {
		t.Run(path, func(t *testing.T) {
			if _, err := r.Render(t.Context(), fsys, render.Source{Path: path}); err != nil { // warm up
				t.Fatal(err)
			}
			before := heapAlloc()
			res, err := r.Render(t.Context(), fsys, render.Source{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			held := int64(heapAlloc()) - int64(before)
			est := renderSize(res)
			ratio := float64(est) / float64(held)
			t.Logf("%s, %d objects: held %d bytes, estimated %d (%.2f)", res.Type, len(res.Objects), held, est, ratio)
			if ratio < 0.5 || ratio > 2 {
				t.Errorf("estimate %d bytes is not within a factor of 2 of the %d held", est, held)
			}
			runtime.KeepAlive(res)
		})
	}
}

// resultOfSize is a render whose entry counts exactly size bytes.
func resultOfSize(t *testing.T, size int64) renderEntry {
	t.Helper()
	res := &render.Result{}
	base := renderEntry{res: res}.size()
	if size < base {
		t.Fatalf("a render counts at least %d bytes", base)
	}
	res.Type = strings.Repeat("x", int(size-base)) // Type's length counts byte for byte
	if got := (renderEntry{res: res}).size(); got != size {
		t.Fatalf("render of %d bytes counts %d", size, got)
	}
	return renderEntry{res: res}
}

func assertRenderCache(t *testing.T, c *renderCache, bytes int64, want map[string]bool) {
	t.Helper()
	if b, _ := c.usage(); b != bytes {
		t.Errorf("usage = %d bytes, want %d", b, bytes)
	}
	c.mu.Lock() // peek, without touching recency
	defer c.mu.Unlock()
	for key, held := range want {
		if _, ok := c.items[key]; ok != held {
			t.Errorf("%s held = %v, want %v", key, ok, held)
		}
	}
}

func TestRenderCacheEvictsLeastRecentlyUsedByBytes(t *testing.T) {
	c := newRenderCache(3000)
	for _, key := range []string{"a", "b", "c"} {
		c.add(key, resultOfSize(t, 1000))
	}
	assertRenderCache(t, c, 3000, map[string]bool{"a": true, "b": true, "c": true})
	c.get("a", time.Time{})
	c.add("d", resultOfSize(t, 1000))
	assertRenderCache(t, c, 3000, map[string]bool{"a": true, "b": false, "c": true, "d": true})
	// Order now d, a, c: a render of 2000 evicts c, then a.
	c.add("e", resultOfSize(t, 2000))
	assertRenderCache(t, c, 3000, map[string]bool{"a": false, "c": false, "d": true, "e": true})
	// Storing a key again replaces its size.
	c.add("e", resultOfSize(t, 1500))
	assertRenderCache(t, c, 2500, map[string]bool{"d": true, "e": true})
}

func TestRenderCacheDoesNotKeepOversizeRenders(t *testing.T) {
	c := newRenderCache(3000)
	c.add("a", resultOfSize(t, 1000))
	if c.add("huge", resultOfSize(t, 3001)) {
		t.Error("a render over the whole budget was kept")
	}
	assertRenderCache(t, c, 1000, map[string]bool{"a": true, "huge": false})
	if !c.add("full", resultOfSize(t, 3000)) {
		t.Error("a render of exactly the budget was not kept")
	}
	assertRenderCache(t, c, 3000, map[string]bool{"a": false, "full": true})
	// An oversize render stored under a held key drops the stale entry.
	c.add("full", resultOfSize(t, 4000))
	assertRenderCache(t, c, 0, map[string]bool{"full": false})
}

func TestRenderCacheCountsFailuresSmall(t *testing.T) {
	err := Stall(ReasonRenderFailed, errors.New("render app at abc1234: broken YAML"))
	e := renderEntry{err: err}
	if want := int64(renderEntryOverhead+failureEntryBytes) + int64(len(err.Error())); e.size() != want {
		t.Errorf("failure counts %d bytes, want %d", e.size(), want)
	}
	// A budget of ten failures keeps the ten most recent.
	c := newRenderCache(10 * e.size())
	for i := range 15 {
		c.add(fmt.Sprint(i), e)
	}
	if b, n := c.usage(); n != 10 || b != 10*e.size() {
		t.Errorf("usage = %d bytes in %d entries, want %d in 10", b, n, 10*e.size())
	}
	if _, ok := c.get("4", time.Time{}); ok {
		t.Error("the oldest failures were kept")
	}
	if got, ok := c.get("14", time.Time{}); !ok || got.err != err {
		t.Errorf("the newest failure = %v, %v; want it kept", got.err, ok)
	}
}

func TestRendererKeepsRendersWithinItsBudget(t *testing.T) {
	snaps := &snapshots{fsys: repo()}
	app := newApp(nil)
	// A budget smaller than the render: rendered each time, never kept.
	small := NewRenderer(render.NewRenderer(render.Limits{}), snaps, nil, 100)
	for range 2 {
		if _, err := small.Desired(t.Context(), app, instance, revB, namespaced, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := snaps.calls.Load(); n != 2 {
		t.Errorf("a render over the budget: %d snapshots read, want 2", n)
	}
	if b, n := small.cache.usage(); b != 0 || n != 0 {
		t.Errorf("cache usage = %d bytes in %d entries, want none", b, n)
	}
	// The default budget keeps it, and counts its estimate.
	snaps.calls.Store(0)
	r := NewRenderer(render.NewRenderer(render.Limits{}), snaps, nil, 0)
	for range 2 {
		if _, err := r.Desired(t.Context(), app, instance, revB, namespaced, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := snaps.calls.Load(); n != 1 {
		t.Errorf("%d snapshots read, want 1", n)
	}
	b, n := r.cache.usage()
	if n != 1 || b <= renderEntryOverhead {
		t.Errorf("cache usage = %d bytes in %d entries, want one render", b, n)
	}
	// A hard refresh asked for now renders again, once, and keeps only the
	// new render.
	asked := RenderedAfter(t.Context(), time.Now())
	for range 2 {
		if _, err := r.Desired(asked, app, instance, revB, namespaced, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := snaps.calls.Load(); n != 2 {
		t.Errorf("a refresh asked for after the render: %d snapshots read in all, want 2", n)
	}
	if b2, n := r.cache.usage(); n != 1 || b2 != b {
		t.Errorf("after the refresh, cache usage = %d bytes in %d entries, want the one render (%d bytes)", b2, n, b)
	}
}
