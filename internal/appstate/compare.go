package appstate

import (
	"context"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/diff"
	"github.com/ferrycd/ferry/internal/health"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Cluster is how a comparison reads a destination cluster.
type Cluster interface {
	// Watch makes objects of gvk readable with Cached; a *meta.NoKindMatchError
	// (meta.IsNoMatchError) means the cluster does not serve the kind.
	Watch(ctx context.Context, gvk schema.GroupVersionKind) error
	// Cached returns the object as last seen (a watch cache, or the API
	// server); nil when it does not exist.
	Cached(ctx context.Context, k fsync.Key, apiVersion string) *unstructured.Unstructured
	// Confirmed reads the object from the API server; nil when it does not
	// exist.
	Confirmed(ctx context.Context, k fsync.Key, apiVersion string) (*unstructured.Unstructured, error)
	// Diff compares a desired object with the live one through a
	// server-side apply dry-run.
	Diff(ctx context.Context, desired *unstructured.Unstructured, ig *diff.Ignorer) (diff.Result, error)
}

// ResourceState is the comparison of one object.
type ResourceState struct {
	Key fsync.Key
	// APIVersion reads the object.
	APIVersion string
	// Desired is false for an object managed before (in the Application's
	// status inventory) that Git no longer holds.
	Desired bool
	// Object is the desired object (nil when not Desired, or when the state
	// comes from a remembered comparison).
	Object *unstructured.Unstructured
	// Live is the live object; nil when it does not exist.
	Live *unstructured.Unstructured
	// Predicted is what the live object would become if synced (the
	// dry-run's answer), when compared in full and different.
	Predicted *unstructured.Unstructured
	// Owner is the live object's tracking owner; ExpectedOwner this
	// Application's instance name.
	Owner, ExpectedOwner string
	Sync                 v1alpha1.SyncStatusCode
	Health               health.Result
	// PruneDisabled: the live object says Prune=false.
	PruneDisabled bool
	// PruneConfirm, DeleteConfirm: the live object says Prune=confirm,
	// Delete=confirm: deleting it waits for the Application's approval
	// (sync.DeletionApprovedAnnotation).
	PruneConfirm, DeleteConfirm bool
	// RequiresPruning: managed before, no longer in Git, still ours.
	RequiresPruning bool
	// Unserved: the cluster does not serve the kind (yet), such as one whose
	// CRD this very sync creates.
	Unserved bool
	// Wave is the desired object's sync wave.
	Wave int64
	// Message says why an object is OutOfSync when the API server refused
	// even to compare it (an invalid object): the sync will fail on it.
	Message string
}

// Missing reports a desired object that does not exist.
func (s ResourceState) Missing() bool { return s.Desired && s.Live == nil }

// Shared reports a desired object another Application owns.
func (s ResourceState) Shared() bool {
	return s.Desired && s.Live != nil && s.Owner != "" && s.Owner != s.ExpectedOwner
}

// CompareInput is what Compare needs.
type CompareInput struct {
	App *v1alpha1.Application
	// Instance is the Application's tracking name (InstanceName).
	Instance string
	Desired  *Desired
	Cluster  Cluster
	Ignore   *diff.Ignorer
	// Existed lists the objects the last comparison saw exist: an object
	// the Cluster's cache does not hold but that existed may be one a sync
	// just created, which the cache has not seen yet; the API server
	// decides. Nil: the cache is the truth.
	Existed map[fsync.Key]bool
	// Concurrency bounds the dry-runs in flight (default 4).
	Concurrency int
}

// Comparison is an Application's desired state against the live one.
type Comparison struct {
	Revision   string
	SourceType string
	// Resources are the desired objects, then the previously managed ones
	// no longer desired, sorted by key.
	Resources []ResourceState
}

// Compare compares the desired objects with the live ones and lists the
// objects the Application managed before (its inventory in status) that
// are no longer desired.
func Compare(ctx context.Context, in CompareInput) (*Comparison, error) {
	states := States(in.App, in.Desired)
	var err error
	for i := range states {
		s := &states[i]
		if err := in.Cluster.Watch(ctx, schema.FromAPIVersionAndKind(s.APIVersion, s.Key.Kind)); err != nil {
			if meta.IsNoMatchError(err) {
				// Desired: a sync may create the kind (its CRD). Managed
				// before: the kind is gone, and the object with it.
				s.Unserved = s.Desired
				continue
			}
			return nil, err
		}
		s.Live = in.Cluster.Cached(ctx, s.Key, s.APIVersion)
		if !s.Desired && s.Live != nil {
			// The cache may still hold an object a sync just pruned.
			if s.Live, err = in.Cluster.Confirmed(ctx, s.Key, s.APIVersion); err != nil {
				return nil, err
			}
		}
	}
	if err := diffAll(ctx, in, states); err != nil {
		return nil, err
	}
	for i := range states {
		Finish(in.Instance, &states[i])
	}
	slices.SortStableFunc(states, func(a, b ResourceState) int { return fsync.CompareKeys(a.Key, b.Key) })
	return &Comparison{Revision: in.Desired.Revision, SourceType: in.Desired.SourceType, Resources: states}, nil
}

// States lists the desired objects, then the previously managed ones that
// are no longer desired, not yet compared.
func States(app *v1alpha1.Application, d *Desired) []ResourceState {
	states := make([]ResourceState, 0, len(d.Objects))
	desired := make(map[fsync.Key]bool, len(d.Objects))
	for _, o := range d.Objects {
		k := fsync.KeyOf(o)
		desired[k] = true
		wave, _ := fsync.SyncWave(o) // an invalid wave fails the sync, not the report
		states = append(states, ResourceState{Key: k, APIVersion: o.GetAPIVersion(), Desired: true, Object: o, Wave: wave})
	}
	for _, res := range app.Status.Resources {
		k := fsync.Key{Group: res.Group, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name}
		if desired[k] || res.Hook {
			continue
		}
		states = append(states, ResourceState{Key: k, APIVersion: schema.GroupVersion{Group: res.Group, Version: res.Version}.String()})
	}
	return states
}

// diffAll compares every desired object through the API server, a few at a
// time, and takes the live object the server returned. An object the
// cache does not hold is missing without a request, unless it existed at
// the last comparison.
func diffAll(ctx context.Context, in CompareInput, states []ResourceState) error {
	g, ctx := errgroup.WithContext(ctx)
	limit := in.Concurrency
	if limit <= 0 {
		limit = 4
	}
	g.SetLimit(limit)
	for i := range states {
		s := &states[i]
		if !s.Desired || s.Unserved {
			continue
		}
		if s.Live == nil && !in.Existed[s.Key] {
			s.Sync = v1alpha1.SyncStatusCodeOutOfSync
			continue
		}
		g.Go(func() error {
			res, err := in.Cluster.Diff(ctx, s.Object, in.Ignore)
			if invalid(err) {
				// The API server refuses the object itself (a field out of
				// range, a wrong type): it is out of sync, and a sync will
				// fail on it with this message. Not a comparison error,
				// which would hide the failure from sync history.
				s.Sync, s.Message = v1alpha1.SyncStatusCodeOutOfSync, err.Error()
				s.Live = in.Cluster.Cached(ctx, s.Key, s.APIVersion)
				return nil
			}
			if err != nil {
				return err
			}
			s.Sync = v1alpha1.SyncStatusCode(res.State)
			s.Live = res.Live
			if res.State != diff.Synced {
				s.Predicted = res.Predicted
			}
			return nil
		})
	}
	return g.Wait()
}

// invalid reports an API server's refusal of the object itself.
func invalid(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)
}

// Finish derives ownership, pruning and health from the live object.
func Finish(instance string, s *ResourceState) {
	s.ExpectedOwner = instance
	if s.Live != nil {
		s.Owner, _ = fsync.Owner(s.Live)
		opts := s.Live.GetAnnotations()[fsync.SyncOptionsAnnotation]
		s.PruneDisabled = HasSyncOption(opts, "Prune=false")
		s.PruneConfirm = HasSyncOption(opts, "Prune=confirm")
		s.DeleteConfirm = HasSyncOption(opts, "Delete=confirm")
	}
	if !s.Desired {
		// Managed before, no longer in Git: out of sync while it exists and
		// is still ours.
		s.RequiresPruning = s.Live != nil && s.Owner == s.ExpectedOwner
		s.Sync = v1alpha1.SyncStatusCodeSynced
		if s.RequiresPruning {
			s.Sync = v1alpha1.SyncStatusCodeOutOfSync
		}
		return
	}
	if s.Live == nil {
		s.Sync = v1alpha1.SyncStatusCodeOutOfSync
	}
	s.Health = health.Assess(s.Live)
}

// HasSyncOption reports whether a comma-separated option list (annotation)
// or one list entry contains opt, e.g. "Prune=false".
func HasSyncOption(list, opt string) bool {
	for _, o := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(o), opt) {
			return true
		}
	}
	return false
}

// SyncOptionSet reports whether a syncOptions list holds opt.
func SyncOptionSet(opts []string, opt string) bool {
	return slices.ContainsFunc(opts, func(o string) bool { return HasSyncOption(o, opt) })
}

// OutOfSync lists the keys of the resources that are not Synced.
func (c *Comparison) OutOfSync() []fsync.Key {
	var keys []fsync.Key
	for _, s := range c.Resources {
		if s.Sync != v1alpha1.SyncStatusCodeSynced || s.RequiresPruning {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// Prune is an object a sync with pruning would delete, or would keep.
type Prune struct {
	Key fsync.Key
	// Kept: the live object says Prune=false, so no sync deletes it.
	Kept bool
}

// Prunes lists the objects that require pruning.
func (c *Comparison) Prunes() []Prune {
	var out []Prune
	for _, s := range c.Resources {
		if s.RequiresPruning {
			out = append(out, Prune{Key: s.Key, Kept: s.PruneDisabled})
		}
	}
	return out
}

// NeedsSync reports whether anything is out of sync that a sync would fix:
// a desired object that differs (and is not another Application's), or,
// with prune, an object to delete.
func (c *Comparison) NeedsSync(prune bool) bool { return c.needsSync(prune, fsync.Confirmation{}) }

// needsSync is NeedsSync, for which an object marked Prune=confirm that
// conf names and does not approve is no reason: a sync would only hold it
// again, as the one that asked for its confirmation did.
func (c *Comparison) needsSync(prune bool, conf fsync.Confirmation) bool {
	for _, s := range c.Resources {
		if s.Desired && s.Sync != v1alpha1.SyncStatusCodeSynced && (s.Owner == "" || s.Owner == s.ExpectedOwner) {
			return true
		}
		if s.RequiresPruning && prune && !s.PruneDisabled && !(s.PruneConfirm && awaits(conf, s.Key)) {
			return true
		}
	}
	return false
}

// approvedPrune reports whether an object to prune, marked Prune=confirm,
// is approved by conf: a sync would now prune what an earlier one held.
func (c *Comparison) approvedPrune(conf fsync.Confirmation) bool {
	return slices.ContainsFunc(c.Resources, func(s ResourceState) bool {
		return s.RequiresPruning && !s.PruneDisabled && s.PruneConfirm && conf.Approves(s.Key)
	})
}

// DesiredCount is how many objects Git holds for the Application.
func (c *Comparison) DesiredCount() int {
	n := 0
	for _, s := range c.Resources {
		if s.Desired {
			n++
		}
	}
	return n
}

// Drift is a managed object changed outside Git, and who changed it last
// (the newest field manager other than Ferry's), for notifications.
type Drift struct {
	Key             fsync.Key
	Manager         string
	ResourceVersion string
}
