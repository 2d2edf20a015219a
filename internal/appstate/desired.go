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
	"github.com/ferrycd/ferry/internal/chartrepo"
	"github.com/ferrycd/ferry/internal/redact"
	"github.com/ferrycd/ferry/internal/render"
	"github.com/ferrycd/ferry/internal/source"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Desired is a revision rendered and prepared for one Application.
type Desired struct {
	// Revision is the revision rendered; for several sources, their
	// revisions joined (JoinRevisions).
	Revision string
	// SourceType is the type of the first source that renders; SourceTypes
	// are every source's, by position ("" for a ref-only source).
	SourceType  string
	SourceTypes []string
	// Warnings are the renders' warnings (a chart calling lookup).
	Warnings []string
	// Objects are prepared for the Application (tracking annotation,
	// destination namespace), hooks excluded. Shared with the render
	// cache's copy only through Prepare's deep copy: callers may keep them,
	// but a sync that writes into them copies first.
	Objects []*unstructured.Unstructured
	// Hooks are the prepared hooks: run by syncs, never compared.
	Hooks []*unstructured.Unstructured

	hash string // Hash's result, once computed (Objects are not written)
}

// Hash identifies the desired objects: equal hashes, equal objects in the
// same order (JSON with sorted keys, SHA-256).
func (d *Desired) Hash() string {
	if d.hash == "" {
		d.hash = d.computeHash()
	}
	return d.hash
}

func (d *Desired) computeHash() string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, o := range d.Objects {
		if err := enc.Encode(o.Object); err != nil {
			// Objects decoded from JSON or YAML always encode; one that
			// does not gets a hash of its own, matching nothing.
			return "unencodable:" + err.Error()
		}
	}
	return hex.EncodeToString(h.Sum(nil))
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
// goroutine running. A hard refresh renders again, without either
// (RenderedAfter).
//
// The cache is bounded by bytes: each render counts an estimate of the heap
// its objects hold (computed once, when it is stored), each failure a small
// constant and its message. A render larger than the whole budget is
// returned but not kept.
type Renderer struct {
	renderer  *render.Renderer
	snapshots Snapshots
	charts    Charts
	cache     *renderCache
	// OnRender, when set, is told how long each render took (metrics).
	OnRender func(sourceType string, d time.Duration)
	// KustomizeBuildOptions, when set, tells Argo CD's argocd-cm
	// kustomize.buildOptions; "--enable-helm" there lets kustomizations
	// inflate helmCharts (in process, as Helm sources render).
	KustomizeBuildOptions func(context.Context) string
}

// renderEntry is a cached render or its failure; or, under a Git
// source's plain key, the fact that the source is a Helm chart, whose
// renders are kept under keys of their own (renderKey).
type renderEntry struct {
	res  *render.Result
	err  error
	helm bool
}

// NewRenderer returns a Renderer keeping renders up to an estimated
// maxBytes (zero or less: DefaultRenderCacheMaxBytes). charts serves chart
// sources and the dependencies of charts in Git; nil refuses them.
func NewRenderer(r *render.Renderer, snapshots Snapshots, charts Charts, maxBytes int64) *Renderer {
	if maxBytes <= 0 {
		maxBytes = DefaultRenderCacheMaxBytes
	}
	return &Renderer{renderer: r, snapshots: snapshots, charts: charts, cache: newRenderCache(maxBytes)}
}

type renderedAfterKey struct{}

// RenderedAfter asks the renders made under ctx to take no render or
// render failure remembered from before t, and no chart archive downloaded
// before t (chartrepo.WithFetchedAfter): a hard refresh asked for at t.
// What is rendered or downloaded after t is remembered and shared as
// always, so a burst of hard refreshes renders each source once, and the
// renders of Applications that were not refreshed stay remembered.
func RenderedAfter(ctx context.Context, t time.Time) context.Context {
	return chartrepo.WithFetchedAfter(context.WithValue(ctx, renderedAfterKey{}, t), t)
}

// renderedAfter is RenderedAfter's time (zero: any remembered render).
func renderedAfter(ctx context.Context) time.Time {
	t, _ := ctx.Value(renderedAfterKey{}).(time.Time)
	return t
}

// RenderInput is everything one source's render depends on.
type RenderInput struct {
	Source v1alpha1.ApplicationSource
	// Revision is the source's resolved revision: a commit, or a chart's
	// version.
	Revision string
	// Refs are the Application's sources with a ref, by ref name, for
	// "$ref/..." value files.
	Refs map[string]Ref
	// ReleaseName and Namespace are a Helm source's defaults: the
	// Application's name and destination namespace.
	ReleaseName, Namespace string
	// Capabilities tells the destination cluster's, which a Helm source's
	// templates see unless spec.source.helm names others; asked only for a
	// Helm source. Nil: Helm's defaults.
	Capabilities CapabilitiesFunc `json:"-"`

	// kustomizeHelm is whether kustomizations may inflate helmCharts, set
	// by Render from KustomizeBuildOptions (and part of the render's key).
	kustomizeHelm bool
}

// CapabilitiesFunc tells a cluster's capabilities.
type CapabilitiesFunc func(context.Context) (Capabilities, error)

// Ref is a source lending its repository to value files.
type Ref struct {
	RepoURL, Revision string
}

// Capabilities are what a chart's templates see of the cluster.
type Capabilities struct {
	// KubeVersion is the cluster's version, e.g. "v1.37.2".
	KubeVersion string
	// APIVersions are "group/version" and "group/version/Kind" for every
	// resource the cluster serves.
	APIVersions []string
}

// Render renders one source, or returns the remembered result. The objects
// are shared: never modify them (Prepare deep-copies).
//
// Whether a Git source is a Helm chart (a Chart.yaml in its path) is known
// only from its files; it is remembered under the source's plain key, so a
// remembered render of either kind is found without reading the
// repository.
func (r *Renderer) Render(ctx context.Context, in RenderInput) (*render.Result, error) {
	in.kustomizeHelm = r.kustomizeHelm(ctx)
	caps := &lazyCapabilities{of: in.Capabilities, source: sourceName(in.Source)}
	if IsChart(in.Source) || in.Source.Helm != nil {
		return r.renderHelm(ctx, in, caps, nil)
	}
	return r.renderGit(ctx, in, caps)
}

// renderGit renders a Git source that names no chart: plain manifests, a
// kustomization, or a path that holds a Chart.yaml, which its plain key
// then remembers.
func (r *Renderer) renderGit(ctx context.Context, in RenderInput, caps *lazyCapabilities) (*render.Result, error) {
	var seen Capabilities // what a kustomization's helmCharts see, when they may inflate
	if in.kustomizeHelm {
		var err error
		if seen, err = caps.get(ctx); err != nil {
			return nil, err
		}
	}
	// Per project: a project reading the repository with credentials of
	// its own must not be served another project's render.
	plain := renderKey(in, seen, false, source.ProjectFrom(ctx))
	if e, ok := r.cache.get(plain, renderedAfter(ctx)); ok {
		if e.helm {
			return r.renderHelm(ctx, in, caps, nil)
		}
		return e.res, e.err
	}
	fsys, err := r.snapshot(ctx, in.Source.RepoURL, in.Revision)
	if err != nil {
		return nil, err
	}
	if isChart, _ := render.IsChartDir(fsys, in.Source.Path); !isChart { // a failure to tell is the render's to report
		return r.renderAndKeep(ctx, plain, in, seen, fsys, false)
	}
	r.cache.add(plain, renderEntry{helm: true})
	return r.renderHelm(ctx, in, caps, fsys)
}

// renderHelm renders a Helm source: a chart from a Helm repository, or a
// chart in Git (fsys, read now when nil).
func (r *Renderer) renderHelm(ctx context.Context, in RenderInput, caps *lazyCapabilities, fsys fs.FS) (*render.Result, error) {
	seen, err := caps.get(ctx)
	if err != nil {
		return nil, err
	}
	key := renderKey(in, seen, true, source.ProjectFrom(ctx))
	if e, ok := r.cache.get(key, renderedAfter(ctx)); ok {
		return e.res, e.err
	}
	if fsys == nil && !IsChart(in.Source) {
		if fsys, err = r.snapshot(ctx, in.Source.RepoURL, in.Revision); err != nil {
			return nil, err
		}
	}
	return r.renderAndKeep(ctx, key, in, seen, fsys, true)
}

// lazyCapabilities asks for a cluster's capabilities once, when a render
// needs them.
type lazyCapabilities struct {
	of     CapabilitiesFunc
	source string
	asked  bool
	caps   Capabilities
	err    error
}

func (l *lazyCapabilities) get(ctx context.Context) (Capabilities, error) {
	if !l.asked && l.of != nil {
		l.asked = true
		if l.caps, l.err = l.of(ctx); l.err != nil {
			l.err = fmt.Errorf("read the destination's API versions for %s: %w", l.source, l.err) // retryable
		}
	}
	return l.caps, l.err
}

func (r *Renderer) snapshot(ctx context.Context, repoURL, revision string) (fs.FS, error) {
	fsys, err := r.snapshots.Snapshot(ctx, repoURL, revision)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", redact.URL(repoURL), Short(revision), err) // retryable
	}
	return fsys, nil
}

// renderAndKeep renders and remembers the render, or its failure when it
// would fail the same way again.
func (r *Renderer) renderAndKeep(ctx context.Context, key string, in RenderInput, caps Capabilities, fsys fs.FS, helmSource bool) (*render.Result, error) {
	start := time.Now()
	res, err := r.render(ctx, in, caps, fsys, helmSource)
	if err != nil {
		err = fmt.Errorf("render %s at %s: %w", sourceName(in.Source), Short(in.Revision), err)
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

func (r *Renderer) render(ctx context.Context, in RenderInput, caps Capabilities, fsys fs.FS, helmSource bool) (*render.Result, error) {
	rs := RenderSource(in.Source)
	if h := in.Source.Helm; h != nil {
		ctx = chartrepo.WithPassCredentials(ctx, h.PassCredentials)
	}
	if in.kustomizeHelm {
		if rs.Kustomize == nil {
			rs.Kustomize = &render.KustomizeOptions{}
		}
		rs.Kustomize.EnableHelm = true
		rs.Kustomize.HelmKubeVersion, rs.Kustomize.HelmAPIVersions = caps.KubeVersion, caps.APIVersions
	}
	var fetcher *chartFetcher
	if r.charts != nil {
		fetcher = &chartFetcher{charts: r.charts}
		rs.Dependencies = fetcher
	}
	if helmSource {
		var err error
		if rs, err = r.helmSource(ctx, in, caps, rs); err != nil {
			return nil, err
		}
	}
	res, err := r.renderSource(ctx, in, fsys, rs)
	if err != nil && fetcher != nil && fetcher.interrupted.Load() {
		// Not the source's fault: retried (the download goes on in the
		// background, and is kept), never remembered as a failure.
		return nil, fmt.Errorf("a chart download did not finish within the render's time, tried again later: %s", err.Error())
	}
	return res, err
}

// renderSource renders rs: a chart from a Helm repository, or a path of
// the snapshot fsys.
func (r *Renderer) renderSource(ctx context.Context, in RenderInput, fsys fs.FS, rs render.Source) (*render.Result, error) {
	if !IsChart(in.Source) {
		return r.renderer.Render(ctx, fsys, rs)
	}
	if r.charts == nil {
		return nil, Stall(ReasonInvalidSpec, fmt.Errorf("chart %s: this command reads no Helm repositories", in.Source.Chart))
	}
	archive, err := r.charts.Fetch(ctx, in.Source.RepoURL, in.Source.Chart, in.Revision)
	if err != nil {
		return nil, err
	}
	return r.renderer.RenderChart(ctx, archive.Data, rs)
}

// Desired renders the Application's sources at revision (a key of
// JoinRevisions) and prepares the objects for its destination: instance is
// the tracking name (see InstanceName), scope tells namespaced kinds on the
// destination cluster, caps what its charts see of it.
func (r *Renderer) Desired(ctx context.Context, app *v1alpha1.Application, instance, revision string, scope fsync.ScopeFunc, caps CapabilitiesFunc) (*Desired, error) {
	srcs := Sources(app)
	revs := SplitRevisions(revision, len(srcs))
	refs := map[string]Ref{}
	for i, s := range srcs {
		if s.Ref != "" {
			refs[s.Ref] = Ref{RepoURL: s.RepoURL, Revision: revs[i]}
		}
	}
	merged := &render.Result{}
	types := make([]string, len(srcs))
	for i, s := range srcs {
		if !Renders(s) {
			continue
		}
		res, err := r.Render(ctx, RenderInput{Source: s, Revision: revs[i], Refs: refs, ReleaseName: app.Name,
			Namespace: app.Spec.Destination.Namespace, Capabilities: caps})
		if err != nil {
			if len(srcs) > 1 {
				err = fmt.Errorf("source %d: %w", i+1, err)
			}
			return nil, err
		}
		types[i] = res.Type
		if merged.Type == "" {
			merged.Type = res.Type
		}
		merged.Objects = append(merged.Objects, res.Objects...)
		merged.Warnings = append(merged.Warnings, res.Warnings...)
	}
	d, err := Prepare(merged, app, instance, revision, scope)
	if err != nil {
		return nil, err
	}
	if MultiSource(app) {
		d.SourceTypes = types
	}
	d.Warnings = merged.Warnings
	return d, nil
}

// Prepare turns a render into an Application's desired state.
func Prepare(res *render.Result, app *v1alpha1.Application, instance, revision string, scope fsync.ScopeFunc) (*Desired, error) {
	objs, err := fsync.Prepare(instance, app.Spec.Destination.Namespace, res.Objects, scope)
	if err != nil {
		return nil, fmt.Errorf("render %s at %s: %w", sourcesName(app), Short(revision), err)
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

// renderKey identifies a render: the source, its revision and project, and
// for a Helm source also what its templates see (release, namespace,
// capabilities) and the revisions of the refs it reads. A plain or
// Kustomize source leaves those out, so Applications sharing a path share
// its render.
func renderKey(in RenderInput, caps Capabilities, helmSource bool, project string) string {
	if !helmSource {
		in.Refs, in.ReleaseName, in.Namespace = nil, "", ""
	}
	data, _ := json.Marshal(struct {
		In            RenderInput
		Caps          Capabilities
		Project       string
		KustomizeHelm bool
		Helm          bool // a Git source's plain key holds the marker, its Helm key the render
	}{in, caps, project, in.kustomizeHelm, helmSource})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// InputsKey identifies everything a comparison depends on besides the live
// objects: the revision, the source, the destination, the ignore rules, and
// settings, what else renders depend on (the destination's capabilities,
// which charts see; the kustomize build options), as the caller words it.
func InputsKey(app *v1alpha1.Application, revision, settings string) string {
	data, _ := json.Marshal(struct {
		Revision    string
		Source      *v1alpha1.ApplicationSource
		Sources     v1alpha1.ApplicationSources
		Destination v1alpha1.ApplicationDestination
		Ignore      []v1alpha1.ResourceIgnoreDifferences
		Settings    string
	}{revision, app.Spec.Source, app.Spec.Sources, app.Spec.Destination, app.Spec.IgnoreDifferences, settings})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
