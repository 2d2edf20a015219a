package appstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/redact"
	"github.com/ferrycd/ferry/internal/render"
	"github.com/ferrycd/ferry/internal/source"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Desired is a revision rendered and prepared for one Application.
type Desired struct {
	Revision   string
	SourceType string
	// Objects are prepared for the Application (tracking annotation,
	// destination namespace), hooks excluded. Shared with the render
	// cache's copy only through Prepare's deep copy: callers may keep them,
	// but a sync that writes into them copies first.
	Objects []*unstructured.Unstructured
	// Hooks are the prepared hooks: run by syncs, never compared.
	Hooks []*unstructured.Unstructured
}

// Snapshots reads a repository at a commit (internal/source's Cache).
type Snapshots interface {
	Snapshot(ctx context.Context, repoURL, revision string) (fs.FS, error)
}

// SnapshotFunc adapts a function to Snapshots.
type SnapshotFunc func(ctx context.Context, repoURL, revision string) (fs.FS, error)

// Snapshot calls f.
func (f SnapshotFunc) Snapshot(ctx context.Context, repoURL, revision string) (fs.FS, error) {
	return f(ctx, repoURL, revision)
}

// Renderer renders Applications' sources, remembering the most recent
// renders by repository, revision and source, so that Applications sharing
// a revision and path render it once. It remembers failures too: a revision
// that does not render (broken YAML, a render that timed out) fails the
// same way every time, and rendering it again would only cost — a timed-out
// kustomize build cannot be stopped, so each retry would leave one more
// goroutine running. A hard refresh (Forget) drops both.
//
// The cache is bounded by bytes: each render counts an estimate of the heap
// its objects hold (computed once, when it is stored), each failure a small
// constant and its message. A render larger than the whole budget is
// returned but not kept.
type Renderer struct {
	renderer  *render.Renderer
	snapshots Snapshots
	cache     *renderCache
	// OnRender, when set, is told how long each render took (metrics).
	OnRender func(sourceType string, d time.Duration)
}

// renderEntry is a cached render or its failure.
type renderEntry struct {
	res *render.Result
	err error
}

// NewRenderer returns a Renderer keeping renders up to an estimated
// maxBytes (zero or less: DefaultRenderCacheMaxBytes).
func NewRenderer(r *render.Renderer, snapshots Snapshots, maxBytes int64) *Renderer {
	if maxBytes <= 0 {
		maxBytes = DefaultRenderCacheMaxBytes
	}
	return &Renderer{renderer: r, snapshots: snapshots, cache: newRenderCache(maxBytes)}
}

// Forget drops every remembered render and render failure (a hard refresh).
func (r *Renderer) Forget() { r.cache.clear() }

// Render renders src at revision from the repository, or returns the
// remembered result. The objects are shared: never modify them (Prepare
// deep-copies).
func (r *Renderer) Render(ctx context.Context, src v1alpha1.ApplicationSource, revision string) (*render.Result, error) {
	// Per project: a project reading the repository with credentials of
	// its own must not be served another project's render.
	key := renderKey(src, revision, source.ProjectFrom(ctx))
	if e, ok := r.cache.get(key); ok {
		return e.res, e.err
	}
	fsys, err := r.snapshots.Snapshot(ctx, src.RepoURL, revision)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", redact.URL(src.RepoURL), Short(revision), err) // retryable
	}
	start := time.Now()
	res, err := r.renderer.Render(ctx, fsys, RenderSource(src))
	if err != nil {
		err = fmt.Errorf("render %s at %s: %w", pathOrRoot(src.Path), Short(revision), err)
		if ctx.Err() == nil && renderStalled(err) {
			err = Stall(ReasonRenderFailed, err)
			r.cache.add(key, renderEntry{err: err})
		}
		return nil, err
	}
	if r.OnRender != nil {
		r.OnRender(res.Type, time.Since(start))
	}
	r.cache.add(key, renderEntry{res: res})
	return res, nil
}

// Desired renders the Application's source at revision and prepares the
// objects for its destination: instance is the tracking name (see
// InstanceName), scope tells namespaced kinds on the destination cluster.
func (r *Renderer) Desired(ctx context.Context, app *v1alpha1.Application, instance, revision string, scope fsync.ScopeFunc) (*Desired, error) {
	src := *app.Spec.Source
	res, err := r.Render(ctx, src, revision)
	if err != nil {
		return nil, err
	}
	return Prepare(res, app, instance, revision, scope)
}

// Prepare turns a render into an Application's desired state.
func Prepare(res *render.Result, app *v1alpha1.Application, instance, revision string, scope fsync.ScopeFunc) (*Desired, error) {
	objs, err := fsync.Prepare(instance, app.Spec.Destination.Namespace, res.Objects, scope)
	if err != nil {
		return nil, fmt.Errorf("render %s at %s: %w", pathOrRoot(app.Spec.Source.Path), Short(revision), err)
	}
	d := &Desired{Revision: revision, SourceType: res.Type}
	for _, o := range objs {
		if fsync.IsHook(o) {
			d.Hooks = append(d.Hooks, o)
		} else {
			d.Objects = append(d.Objects, o)
		}
	}
	return d, nil
}

func renderKey(src v1alpha1.ApplicationSource, revision, project string) string {
	data, _ := json.Marshal(struct {
		Revision string
		Project  string
		Source   v1alpha1.ApplicationSource
	}{revision, project, src})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// InputsKey identifies everything a comparison depends on besides the live
// objects: the revision, the source, the destination and the ignore rules.
func InputsKey(app *v1alpha1.Application, revision string) string {
	data, _ := json.Marshal(struct {
		Revision    string
		Source      *v1alpha1.ApplicationSource
		Destination v1alpha1.ApplicationDestination
		Ignore      []v1alpha1.ResourceIgnoreDifferences
	}{revision, app.Spec.Source, app.Spec.Destination, app.Spec.IgnoreDifferences})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
