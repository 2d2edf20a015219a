package application

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/diff"
	"github.com/ferrycd/ferry/internal/health"
	"github.com/ferrycd/ferry/internal/render"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// desiredState is a revision rendered and prepared for one Application.
type desiredState struct {
	revision   string
	sourceType string
	objects    []*unstructured.Unstructured // prepared for this Application, hooks excluded
	hooks      []*unstructured.Unstructured // prepared hooks: run by syncs, never compared
}

// renderDesired renders src at revision and prepares the objects for app.
// Renders are cached by repository, revision and source, so Applications
// sharing a revision and path render it once; the cached objects are shared
// and only ever deep-copied by Prepare.
func (r *Reconciler) renderDesired(ctx context.Context, app *v1alpha1.Application, dst *target, src v1alpha1.ApplicationSource, revision string) (*desiredState, error) {
	key := renderKey(src, revision)
	res, ok := r.renders.get(key)
	if !ok {
		fsys, err := r.sources.Snapshot(ctx, src.RepoURL, revision)
		if err != nil {
			return nil, fmt.Errorf("read %s at %s: %w", src.RepoURL, short(revision), err)
		}
		start := time.Now()
		res, err = r.renderer.Render(ctx, fsys, RenderSource(src))
		if err == nil {
			r.opts.Metrics.Rendered(res.Type, time.Since(start))
		}
		if err != nil {
			return nil, fmt.Errorf("render %s at %s: %w", pathOrRoot(src.Path), short(revision), err)
		}
		r.renders.add(key, res)
	}
	objs, err := fsync.Prepare(InstanceName(r.opts.HomeNamespace, appKey(app)), app.Spec.Destination.Namespace, res.Objects, dst.scope)
	if err != nil {
		return nil, fmt.Errorf("render %s at %s: %w", pathOrRoot(src.Path), short(revision), err)
	}
	d := &desiredState{revision: revision, sourceType: res.Type}
	for _, o := range objs {
		if fsync.IsHook(o) {
			d.hooks = append(d.hooks, o)
		} else {
			d.objects = append(d.objects, o)
		}
	}
	return d, nil
}

func renderKey(src v1alpha1.ApplicationSource, revision string) string {
	data, _ := json.Marshal(struct {
		Revision string
		Source   v1alpha1.ApplicationSource
	}{revision, src})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// RenderSource translates an Application source into the renderer's terms.
func RenderSource(src v1alpha1.ApplicationSource) render.Source {
	out := render.Source{Path: src.Path}
	if d := src.Directory; d != nil {
		out.Directory = &render.DirectoryOptions{Recurse: d.Recurse, Include: d.Include, Exclude: d.Exclude}
	}
	if k := src.Kustomize; k != nil {
		images := make([]string, len(k.Images))
		for i, img := range k.Images {
			images[i] = string(img)
		}
		out.Kustomize = &render.KustomizeOptions{
			NamePrefix: k.NamePrefix, NameSuffix: k.NameSuffix, Namespace: k.Namespace, Images: images,
			CommonLabels: k.CommonLabels, CommonAnnotations: k.CommonAnnotations,
		}
	}
	return out
}

// inputsKey identifies everything a comparison depends on besides the live
// objects: the revision, the source, the destination and the ignore rules.
func inputsKey(app *v1alpha1.Application, src v1alpha1.ApplicationSource, revision string) string {
	data, _ := json.Marshal(struct {
		Revision    string
		Source      v1alpha1.ApplicationSource
		Destination v1alpha1.ApplicationDestination
		Ignore      []v1alpha1.ResourceIgnoreDifferences
	}{revision, src, app.Spec.Destination, app.Spec.IgnoreDifferences})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// resourceState is the comparison of one object.
type resourceState struct {
	key           fsync.Key
	version       string
	desired       bool                       // false: managed before, no longer in Git
	object        *unstructured.Unstructured // the desired object, when compared in full
	live          *unstructured.Unstructured // from the watch cache; nil: missing
	owner         string                     // live object's tracking owner
	expectedOwner string                     // this Application's instance name
	sync          v1alpha1.SyncStatusCode
	health        health.Result
	pruneOff      bool
	requiresP     bool
	unserved      bool  // the cluster does not serve the kind (yet)
	wave          int64 // sync wave of the desired object
}

// fastCompare returns the Application's resource states without any API
// request when the last full comparison used the same inputs and no object
// it covered has changed since, as the watch cache sees it: the previous
// per-object sync status still holds, and only health is re-read from the
// cache. ok is false when a full comparison is needed.
func (r *Reconciler) fastCompare(ctx context.Context, app *v1alpha1.Application, dst *target, inputs string) ([]resourceState, bool) {
	live := map[fsync.Key]*unstructured.Unstructured{}
	current := func(k fsync.Key, t tracked) (fingerprint, bool) {
		u := dst.cached(ctx, k, t.version)
		if u == nil {
			return fingerprint{}, false
		}
		live[k] = u
		return fingerprintOf(u), true
	}
	objects, ok := r.tracker.unchanged(appKey(app), inputs, current)
	if !ok {
		return nil, false
	}
	states := make([]resourceState, 0, len(objects))
	healths := make(map[fsync.Key]health.Status, len(objects))
	for k, t := range objects {
		s := resourceState{key: k, version: t.version, live: live[k], sync: t.sync, desired: t.desired, wave: t.wave}
		r.finish(app, &s)
		states = append(states, s)
		healths[k] = s.health.Status
	}
	r.tracker.setHealth(appKey(app), healths)
	slices.SortFunc(states, func(a, b resourceState) int { return fsync.CompareKeys(a.key, b.key) })
	return states, true
}

// compare compares the desired objects with the live ones, and lists the
// objects the Application managed before (its inventory in status) that are
// no longer desired. It records the comparison for fastCompare.
func (r *Reconciler) compare(ctx context.Context, app *v1alpha1.Application, dst *target, d *desiredState, inputs string, ig *diff.Ignorer) ([]resourceState, error) {
	states := r.statesFor(app, d)
	var err error
	for i := range states {
		s := &states[i]
		if err := dst.watcher.ensure(ctx, schema.FromAPIVersionAndKind(s.version, s.key.Kind)); err != nil {
			if meta.IsNoMatchError(err) && s.desired {
				// A kind the cluster does not serve yet, such as one whose
				// CRD this very sync creates: missing until then.
				s.unserved = true
				continue
			}
			return nil, err
		}
		s.live = dst.cached(ctx, s.key, s.version)
		if !s.desired && s.live != nil {
			// The cache may still hold an object a sync just pruned.
			if s.live, err = dst.confirmed(ctx, s.key, s.version); err != nil {
				return nil, err
			}
		}
	}
	if err := r.diffAll(ctx, app, dst, states, ig); err != nil {
		return nil, err
	}
	seen := make(map[fsync.Key]tracked, len(states))
	for i := range states {
		s := &states[i]
		r.finish(app, s)
		t := tracked{version: s.version, desired: s.desired, sync: s.sync, health: s.health.Status, wave: s.wave}
		if s.live != nil {
			t.fp = fingerprintOf(s.live)
		}
		seen[s.key] = t
	}
	r.tracker.remember(appKey(app), inputs, seen)
	return states, nil
}

// statesFor lists the desired objects, then the previously managed ones that
// are no longer desired.
func (r *Reconciler) statesFor(app *v1alpha1.Application, d *desiredState) []resourceState {
	states := make([]resourceState, 0, len(d.objects))
	desired := make(map[fsync.Key]bool, len(d.objects))
	for _, o := range d.objects {
		k := fsync.KeyOf(o)
		desired[k] = true
		wave, _ := fsync.SyncWave(o) // an invalid wave fails the sync, not the report
		states = append(states, resourceState{key: k, version: o.GetAPIVersion(), desired: true, object: o, wave: wave})
	}
	for _, res := range app.Status.Resources {
		k := fsync.Key{Group: res.Group, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name}
		if desired[k] || res.Hook {
			continue
		}
		states = append(states, resourceState{key: k, version: schema.GroupVersion{Group: res.Group, Version: res.Version}.String()})
	}
	return states
}

// diffAll compares every desired object through the API server, a few at a
// time, and takes the live object the server returned. An object the watch
// cache does not hold is missing without a request, unless the last
// comparison saw it exist: then the cache may lag behind a sync that just
// created it, and the server decides.
func (r *Reconciler) diffAll(ctx context.Context, app *v1alpha1.Application, dst *target, states []resourceState, ig *diff.Ignorer) error {
	known := r.tracker.existing(appKey(app))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.ApplyConcurrency)
	for i := range states {
		s := &states[i]
		if !s.desired || s.unserved {
			continue
		}
		if s.live == nil && !known[s.key] {
			s.sync = v1alpha1.SyncStatusCodeOutOfSync
			continue
		}
		g.Go(func() error {
			res, err := dst.differ.Diff(ctx, s.object, ig)
			if err != nil {
				return err
			}
			s.sync = v1alpha1.SyncStatusCode(res.State)
			s.live = res.Live
			return nil
		})
	}
	return g.Wait()
}

// finish derives ownership, pruning and health from the live object.
func (r *Reconciler) finish(app *v1alpha1.Application, s *resourceState) {
	s.expectedOwner = InstanceName(r.opts.HomeNamespace, appKey(app))
	if s.live != nil {
		s.owner, _ = fsync.Owner(s.live)
		s.pruneOff = hasSyncOption(s.live.GetAnnotations()[fsync.SyncOptionsAnnotation], "Prune=false")
	}
	if !s.desired {
		// Managed before, no longer in Git: out of sync while it exists and
		// is still ours.
		s.requiresP = s.live != nil && s.owner == s.expectedOwner
		s.sync = v1alpha1.SyncStatusCodeSynced
		if s.requiresP {
			s.sync = v1alpha1.SyncStatusCodeOutOfSync
		}
		return
	}
	if s.live == nil {
		s.sync = v1alpha1.SyncStatusCodeOutOfSync
	}
	s.health = health.Assess(s.live)
}

// hasSyncOption reports whether a comma-separated option list (annotation)
// or one list entry contains opt, e.g. "Prune=false".
func hasSyncOption(list, opt string) bool {
	for _, o := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(o), opt) {
			return true
		}
	}
	return false
}

func syncOptionSet(opts []string, opt string) bool {
	return slices.ContainsFunc(opts, func(o string) bool { return hasSyncOption(o, opt) })
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

func pathOrRoot(p string) string {
	if p == "" || p == "." {
		return "the repository root"
	}
	return p
}
