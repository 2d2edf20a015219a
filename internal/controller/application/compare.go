package application

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/diff"
	"github.com/ferrycd/ferry/internal/health"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// desiredState renders the Application's source at revision (through the
// shared render cache) and prepares it for the destination.
func (r *Reconciler) desiredState(ctx context.Context, app *v1alpha1.Application, dst *target, revision string) (*appstate.Desired, error) {
	return r.renders.Desired(ctx, app, r.instance(app), revision, dst.scope, dst.capabilities)
}

// instance is the Application's tracking name.
func (r *Reconciler) instance(app *v1alpha1.Application) string {
	return appstate.InstanceName(r.opts.HomeNamespace, appstate.Key(app))
}

// fastCompare returns the Application's comparison without any API request
// when the last full comparison used the same inputs and no object it
// covered has changed since, as the watch cache sees it: the previous
// per-object sync status still holds, and only health is re-read from the
// cache. ok is false when a full comparison is needed.
func (r *Reconciler) fastCompare(ctx context.Context, app *v1alpha1.Application, dst *target, inputs, revision string) (*appstate.Comparison, bool) {
	live := map[fsync.Key]*unstructured.Unstructured{}
	current := func(k fsync.Key, t tracked) (fingerprint, bool) {
		u := dst.Cached(ctx, k, t.version)
		if u == nil {
			return fingerprint{}, false
		}
		live[k] = u
		return fingerprintOf(u), true
	}
	objects, ok := r.tracker.unchanged(appstate.Key(app), inputs, current)
	if !ok {
		return nil, false
	}
	instance := r.instance(app)
	cmp := &appstate.Comparison{Revision: revision, Resources: make([]appstate.ResourceState, 0, len(objects))}
	healths := make(map[fsync.Key]health.Status, len(objects))
	for k, t := range objects {
		s := appstate.ResourceState{Key: k, APIVersion: t.version, Live: live[k], Sync: t.sync, Desired: t.desired, Wave: t.wave}
		appstate.Finish(instance, &s)
		cmp.Resources = append(cmp.Resources, s)
		healths[k] = s.Health.Status
	}
	r.tracker.setHealth(appstate.Key(app), healths)
	slices.SortFunc(cmp.Resources, func(a, b appstate.ResourceState) int { return fsync.CompareKeys(a.Key, b.Key) })
	return cmp, true
}

// compare compares in full and remembers the comparison for fastCompare.
func (r *Reconciler) compare(ctx context.Context, app *v1alpha1.Application, dst *target, d *appstate.Desired, inputs string, ig *diff.Ignorer) (*appstate.Comparison, error) {
	cmp, err := appstate.Compare(ctx, appstate.CompareInput{App: app, Instance: r.instance(app), Desired: d, Cluster: dst,
		Ignore: ig, Existed: r.tracker.existing(appstate.Key(app)), Concurrency: r.opts.ApplyConcurrency})
	if err != nil {
		return nil, fmt.Errorf("compare with %s: %w", dst.server, err)
	}
	r.remember(app, inputs, d.Hash(), cmp)
	return cmp, nil
}

// remember records a comparison for fastCompare and for the watch
// handlers, which wake the Application only when an object differs from it.
// rendered is the hash of the desired objects compared (Desired.Hash).
func (r *Reconciler) remember(app *v1alpha1.Application, inputs, rendered string, cmp *appstate.Comparison) {
	seen := make(map[fsync.Key]tracked, len(cmp.Resources))
	for _, s := range cmp.Resources {
		t := tracked{version: s.APIVersion, desired: s.Desired, sync: s.Sync, health: s.Health.Status, wave: s.Wave}
		if s.Live != nil {
			t.fp = fingerprintOf(s.Live)
		}
		seen[s.Key] = t
	}
	r.tracker.remember(appstate.Key(app), inputs, rendered, seen)
}
