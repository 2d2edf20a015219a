package appstate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/diff"
	"github.com/ferrycd/ferry/internal/health"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

const instance = "demo"

// fakeCluster is a Cluster over a map of live objects.
type fakeCluster struct {
	live map[fsync.Key]*unstructured.Unstructured
	// confirmed, when it holds a key, is what the API server says where
	// the cache (live) is stale.
	confirmed map[fsync.Key]*unstructured.Unstructured
	// states are Diff's answers by key (Synced when absent); errs its
	// errors.
	states   map[fsync.Key]diff.State
	errs     map[fsync.Key]error
	unserved string // a kind the cluster does not serve

	mu    sync.Mutex
	diffs []fsync.Key
}

func (c *fakeCluster) Watch(_ context.Context, gvk schema.GroupVersionKind) error {
	if gvk.Kind == c.unserved {
		return &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
	}
	return nil
}

func (c *fakeCluster) Cached(_ context.Context, k fsync.Key, _ string) *unstructured.Unstructured {
	return c.live[k]
}

func (c *fakeCluster) Confirmed(_ context.Context, k fsync.Key, _ string) (*unstructured.Unstructured, error) {
	if u, ok := c.confirmed[k]; ok {
		return u, nil
	}
	return c.live[k], nil
}

func (c *fakeCluster) Diff(_ context.Context, desired *unstructured.Unstructured, _ *diff.Ignorer) (diff.Result, error) {
	k := fsync.KeyOf(desired)
	c.mu.Lock()
	c.diffs = append(c.diffs, k)
	c.mu.Unlock()
	if err := c.errs[k]; err != nil {
		return diff.Result{}, err
	}
	live := c.live[k]
	if live == nil {
		return diff.Result{State: diff.OutOfSync, Missing: true, Predicted: desired}, nil
	}
	state, ok := c.states[k]
	if !ok {
		state = diff.Synced
	}
	return diff.Result{State: state, Live: live, Predicted: desired}, nil
}

func (c *fakeCluster) diffed() []fsync.Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.diffs)
}

// object is an object tracked by owner ("" for none).
func object(apiVersion, kind, namespace, name, owner string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	if owner != "" {
		u.SetAnnotations(map[string]string{fsync.TrackingAnnotation: fsync.TrackingID(owner, fsync.KeyOf(u))})
	}
	return u
}

func configMap(name, owner string) *unstructured.Unstructured {
	return object("v1", "ConfigMap", "apps", name, owner)
}

func cmKeyOf(name string) fsync.Key {
	return fsync.Key{Kind: "ConfigMap", Namespace: "apps", Name: name}
}

// inventory is app.Status.Resources listing the objects.
func inventory(objs ...*unstructured.Unstructured) []v1alpha1.ResourceStatus {
	var out []v1alpha1.ResourceStatus
	for _, o := range objs {
		gv := o.GroupVersionKind()
		out = append(out, v1alpha1.ResourceStatus{Group: gv.Group, Version: gv.Version, Kind: gv.Kind,
			Namespace: o.GetNamespace(), Name: o.GetName(), Status: v1alpha1.SyncStatusCodeSynced})
	}
	return out
}

func compareApp(inv []v1alpha1.ResourceStatus) *v1alpha1.Application {
	app := newApp(nil)
	app.Status.Resources = inv
	return app
}

func compare(t *testing.T, c *fakeCluster, app *v1alpha1.Application, existed map[fsync.Key]bool, desired ...*unstructured.Unstructured) *Comparison {
	t.Helper()
	res, err := Compare(t.Context(), CompareInput{App: app, Instance: instance, Cluster: c, Existed: existed,
		Desired: &Desired{Revision: revB, SourceType: "Directory", Objects: desired}})
	if err != nil {
		t.Fatalf("Compare: %v", err)
	}
	if res.Revision != revB || res.SourceType != "Directory" {
		t.Errorf("Compare revision %q, source type %q; want %q, Directory", res.Revision, res.SourceType, revB)
	}
	return res
}

// stateOf finds k in the comparison.
func stateOf(t *testing.T, c *Comparison, k fsync.Key) ResourceState {
	t.Helper()
	for _, s := range c.Resources {
		if s.Key == k {
			return s
		}
	}
	t.Fatalf("no state for %s in %v", k, keysOf(c))
	return ResourceState{}
}

func keysOf(c *Comparison) []fsync.Key {
	var out []fsync.Key
	for _, s := range c.Resources {
		out = append(out, s.Key)
	}
	return out
}

func TestCompareSyncedAndOutOfSync(t *testing.T) {
	c := &fakeCluster{
		live: map[fsync.Key]*unstructured.Unstructured{
			cmKeyOf("same"):    configMap("same", instance),
			cmKeyOf("changed"): configMap("changed", instance),
		},
		states: map[fsync.Key]diff.State{cmKeyOf("changed"): diff.OutOfSync},
	}
	res := compare(t, c, compareApp(nil), nil, configMap("same", instance), configMap("changed", instance))

	same := stateOf(t, res, cmKeyOf("same"))
	if same.Sync != v1alpha1.SyncStatusCodeSynced || same.Live == nil || same.Predicted != nil || same.Missing() {
		t.Errorf("same: sync %s, live %v, predicted %v; want Synced, live, no prediction", same.Sync, same.Live != nil, same.Predicted != nil)
	}
	if same.Health.Status != health.Healthy || same.Owner != instance || same.ExpectedOwner != instance || same.Shared() {
		t.Errorf("same: health %s, owner %q/%q, shared %t; want Healthy, owned by %s", same.Health.Status, same.Owner, same.ExpectedOwner, same.Shared(), instance)
	}
	changed := stateOf(t, res, cmKeyOf("changed"))
	if changed.Sync != v1alpha1.SyncStatusCodeOutOfSync || changed.Predicted == nil {
		t.Errorf("changed: sync %s, predicted %v; want OutOfSync with the prediction", changed.Sync, changed.Predicted != nil)
	}
	if got, want := keysOf(res), []fsync.Key{cmKeyOf("changed"), cmKeyOf("same")}; !slices.Equal(got, want) {
		t.Errorf("resources %v, want sorted %v", got, want)
	}
	if got := res.OutOfSync(); !slices.Equal(got, []fsync.Key{cmKeyOf("changed")}) {
		t.Errorf("OutOfSync() = %v", got)
	}
	if !res.NeedsSync(false) {
		t.Error("NeedsSync(false) = false with an object out of sync")
	}
}

func TestCompareMissing(t *testing.T) {
	t.Run("not in the cache: missing, no dry-run", func(t *testing.T) {
		c := &fakeCluster{}
		res := compare(t, c, compareApp(nil), nil, configMap("new", instance))
		s := stateOf(t, res, cmKeyOf("new"))
		if !s.Missing() || s.Live != nil || s.Sync != v1alpha1.SyncStatusCodeOutOfSync || s.Health.Status != health.Missing {
			t.Errorf("missing: %t, sync %s, health %s; want missing, OutOfSync, Missing", s.Missing(), s.Sync, s.Health.Status)
		}
		if d := c.diffed(); len(d) != 0 {
			t.Errorf("Diff called for %v; a missing object needs no dry-run", d)
		}
	})
	t.Run("not in the cache but existed: the API server decides", func(t *testing.T) {
		c := &fakeCluster{}
		existed := map[fsync.Key]bool{cmKeyOf("new"): true}
		res := compare(t, c, compareApp(nil), existed, configMap("new", instance))
		s := stateOf(t, res, cmKeyOf("new"))
		if !s.Missing() || s.Sync != v1alpha1.SyncStatusCodeOutOfSync {
			t.Errorf("missing: %t, sync %s; want missing, OutOfSync", s.Missing(), s.Sync)
		}
		if d := c.diffed(); !slices.Equal(d, []fsync.Key{cmKeyOf("new")}) {
			t.Errorf("Diff called for %v; want the object that existed", d)
		}
	})
	t.Run("created by a sync the cache has not seen", func(t *testing.T) {
		existed := map[fsync.Key]bool{cmKeyOf("new"): true}
		// The API server holds it; the cache does not yet.
		c := &fakeCluster{}
		server := &fakeCluster{live: map[fsync.Key]*unstructured.Unstructured{cmKeyOf("new"): configMap("new", instance)}}
		split := &splitCluster{cache: c, server: server}
		res, err := Compare(t.Context(), CompareInput{App: compareApp(nil), Instance: instance, Cluster: split, Existed: existed,
			Desired: &Desired{Revision: revB, Objects: []*unstructured.Unstructured{configMap("new", instance)}}})
		if err != nil {
			t.Fatal(err)
		}
		s := stateOf(t, res, cmKeyOf("new"))
		if s.Missing() || s.Sync != v1alpha1.SyncStatusCodeSynced || s.Health.Status != health.Healthy {
			t.Errorf("missing: %t, sync %s, health %s; want the server's live object, Synced, Healthy", s.Missing(), s.Sync, s.Health.Status)
		}
	})
}

// splitCluster has a stale cache: reads go to cache, dry-runs to server.
type splitCluster struct {
	cache, server *fakeCluster
}

func (c *splitCluster) Watch(ctx context.Context, gvk schema.GroupVersionKind) error {
	return c.cache.Watch(ctx, gvk)
}

func (c *splitCluster) Cached(ctx context.Context, k fsync.Key, v string) *unstructured.Unstructured {
	return c.cache.Cached(ctx, k, v)
}

func (c *splitCluster) Confirmed(ctx context.Context, k fsync.Key, v string) (*unstructured.Unstructured, error) {
	return c.server.Confirmed(ctx, k, v)
}

func (c *splitCluster) Diff(ctx context.Context, d *unstructured.Unstructured, ig *diff.Ignorer) (diff.Result, error) {
	return c.server.Diff(ctx, d, ig)
}

func TestComparePruning(t *testing.T) {
	kept := configMap("kept", instance)
	kept.SetAnnotations(map[string]string{
		fsync.TrackingAnnotation:    fsync.TrackingID(instance, cmKeyOf("kept")),
		fsync.SyncOptionsAnnotation: "ServerSideApply=true, Prune=false",
	})
	c := &fakeCluster{
		live: map[fsync.Key]*unstructured.Unstructured{
			cmKeyOf("current"):     configMap("current", instance),
			cmKeyOf("old"):         configMap("old", instance),
			cmKeyOf("theirs"):      configMap("theirs", "other"),
			cmKeyOf("untracked"):   configMap("untracked", ""),
			cmKeyOf("kept"):        kept,
			cmKeyOf("just-pruned"): configMap("just-pruned", instance),
		},
		// The cache still holds an object a sync just deleted.
		confirmed: map[fsync.Key]*unstructured.Unstructured{cmKeyOf("just-pruned"): nil},
	}
	inv := inventory(configMap("current", ""), configMap("old", ""), configMap("theirs", ""), configMap("untracked", ""),
		configMap("kept", ""), configMap("just-pruned", ""), configMap("gone", ""))
	res := compare(t, c, compareApp(inv), nil, configMap("current", instance))

	for name, want := range map[string]bool{"old": true, "kept": true, "theirs": false, "untracked": false, "just-pruned": false, "gone": false} {
		s := stateOf(t, res, cmKeyOf(name))
		if s.Desired || s.RequiresPruning != want {
			t.Errorf("%s: desired %t, requires pruning %t; want not desired, requires pruning %t", name, s.Desired, s.RequiresPruning, want)
		}
		wantSync := v1alpha1.SyncStatusCodeSynced
		if want {
			wantSync = v1alpha1.SyncStatusCodeOutOfSync
		}
		if s.Sync != wantSync {
			t.Errorf("%s: sync %s, want %s", name, s.Sync, wantSync)
		}
	}
	if d := c.diffed(); !slices.Equal(d, []fsync.Key{cmKeyOf("current")}) {
		t.Errorf("Diff called for %v; want only the desired object", d)
	}
	wantPrunes := []Prune{{Key: cmKeyOf("kept"), Kept: true}, {Key: cmKeyOf("old")}}
	if got := res.Prunes(); !slices.Equal(got, wantPrunes) {
		t.Errorf("Prunes() = %+v, want %+v", got, wantPrunes)
	}
	if res.NeedsSync(false) {
		t.Error("NeedsSync(false) = true: only pruning is needed")
	}
	if !res.NeedsSync(true) {
		t.Error("NeedsSync(true) = false with an object to prune")
	}
	if res.DesiredCount() != 1 {
		t.Errorf("DesiredCount() = %d, want 1", res.DesiredCount())
	}

	st := res.Status()
	if st.Sync != v1alpha1.SyncStatusCodeOutOfSync {
		t.Errorf("Status().Sync = %s, want OutOfSync", st.Sync)
	}
	var names []string
	for _, r := range st.Resources {
		names = append(names, r.Name)
		if r.Name == "old" && (!r.RequiresPruning || r.Health != nil || r.Status != v1alpha1.SyncStatusCodeOutOfSync || r.Version != "v1") {
			t.Errorf("status of old: %+v; want v1, OutOfSync, requires pruning, no health", r)
		}
	}
	if want := []string{"current", "kept", "old"}; !slices.Equal(names, want) {
		t.Errorf("Status().Resources = %v, want %v (what is no longer ours is not listed)", names, want)
	}
}

func TestComparePruneDisabledOnly(t *testing.T) {
	kept := configMap("kept", instance)
	kept.SetAnnotations(map[string]string{
		fsync.TrackingAnnotation:    fsync.TrackingID(instance, cmKeyOf("kept")),
		fsync.SyncOptionsAnnotation: "Prune=false",
	})
	c := &fakeCluster{live: map[fsync.Key]*unstructured.Unstructured{cmKeyOf("current"): configMap("current", instance), cmKeyOf("kept"): kept}}
	res := compare(t, c, compareApp(inventory(configMap("kept", ""))), nil, configMap("current", instance))
	if got := res.Prunes(); !slices.Equal(got, []Prune{{Key: cmKeyOf("kept"), Kept: true}}) {
		t.Errorf("Prunes() = %+v, want kept", got)
	}
	if res.NeedsSync(true) {
		t.Error("NeedsSync(true) = true: the only object to prune says Prune=false")
	}
}

func TestCompareUnserved(t *testing.T) {
	widget := object("example.com/v1", "Widget", "apps", "w", instance)
	wkey := fsync.KeyOf(widget)
	t.Run("desired", func(t *testing.T) {
		c := &fakeCluster{unserved: "Widget"}
		res := compare(t, c, compareApp(nil), nil, widget)
		s := stateOf(t, res, wkey)
		if !s.Unserved || s.Sync != v1alpha1.SyncStatusCodeOutOfSync || s.Live != nil {
			t.Errorf("widget: unserved %t, sync %s; want unserved, OutOfSync", s.Unserved, s.Sync)
		}
		if d := c.diffed(); len(d) != 0 {
			t.Errorf("Diff called for %v", d)
		}
		if !res.NeedsSync(false) {
			t.Error("NeedsSync(false) = false: a sync creates the object (and its CRD)")
		}
	})
	t.Run("in the inventory only", func(t *testing.T) {
		// Its CRD is gone: so is the object, nothing to prune.
		c := &fakeCluster{unserved: "Widget", live: map[fsync.Key]*unstructured.Unstructured{cmKeyOf("current"): configMap("current", instance)}}
		res := compare(t, c, compareApp(inventory(widget)), nil, configMap("current", instance))
		s := stateOf(t, res, wkey)
		if s.RequiresPruning || s.Live != nil || s.Sync != v1alpha1.SyncStatusCodeSynced {
			t.Errorf("widget: requires pruning %t, sync %s; want neither", s.RequiresPruning, s.Sync)
		}
		if res.NeedsSync(true) {
			t.Error("NeedsSync(true) = true")
		}
	})
}

func TestCompareDiffErrors(t *testing.T) {
	invalid := apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "bad",
		field.ErrorList{field.Invalid(field.NewPath("data"), 1, "must be a string")})
	t.Run("refused by the API server: OutOfSync with the message", func(t *testing.T) {
		c := &fakeCluster{
			live: map[fsync.Key]*unstructured.Unstructured{cmKeyOf("bad"): configMap("bad", instance), cmKeyOf("good"): configMap("good", instance)},
			errs: map[fsync.Key]error{cmKeyOf("bad"): fmt.Errorf("dry-run apply ConfigMap apps/bad: %w", invalid)},
		}
		res := compare(t, c, compareApp(nil), nil, configMap("bad", instance), configMap("good", instance))
		s := stateOf(t, res, cmKeyOf("bad"))
		if s.Sync != v1alpha1.SyncStatusCodeOutOfSync || !strings.Contains(s.Message, "must be a string") {
			t.Errorf("bad: sync %s, message %q; want OutOfSync with the server's message", s.Sync, s.Message)
		}
		if s.Live == nil || s.Health.Status != health.Healthy {
			t.Errorf("bad: live %t, health %s; want the cached live object and its health", s.Live != nil, s.Health.Status)
		}
		if g := stateOf(t, res, cmKeyOf("good")); g.Sync != v1alpha1.SyncStatusCodeSynced || g.Message != "" {
			t.Errorf("good: sync %s, message %q", g.Sync, g.Message)
		}
	})
	t.Run("other errors fail the comparison", func(t *testing.T) {
		unavailable := apierrors.NewServiceUnavailable("etcd leader changed")
		c := &fakeCluster{
			live: map[fsync.Key]*unstructured.Unstructured{cmKeyOf("a"): configMap("a", instance)},
			errs: map[fsync.Key]error{cmKeyOf("a"): fmt.Errorf("get ConfigMap apps/a: %w", unavailable)},
		}
		_, err := Compare(t.Context(), CompareInput{App: compareApp(nil), Instance: instance, Cluster: c,
			Desired: &Desired{Revision: revB, Objects: []*unstructured.Unstructured{configMap("a", instance)}}})
		if !errors.Is(err, unavailable) && !apierrors.IsServiceUnavailable(err) {
			t.Errorf("Compare error = %v, want the Diff error", err)
		}
	})
}

func TestCompareShared(t *testing.T) {
	deploy := object("apps/v1", "Deployment", "apps", "web", instance)
	deploy.SetGeneration(2)
	_ = unstructured.SetNestedField(deploy.Object, int64(1), "status", "observedGeneration")
	c := &fakeCluster{
		live: map[fsync.Key]*unstructured.Unstructured{
			cmKeyOf("theirs"):    configMap("theirs", "other"),
			fsync.KeyOf(deploy):  deploy,
			cmKeyOf("untracked"): configMap("untracked", ""),
		},
		states: map[fsync.Key]diff.State{cmKeyOf("theirs"): diff.OutOfSync},
	}
	res := compare(t, c, compareApp(nil), nil, configMap("theirs", instance), object("apps/v1", "Deployment", "apps", "web", instance),
		configMap("untracked", instance), configMap("absent", instance))
	theirs := stateOf(t, res, cmKeyOf("theirs"))
	if !theirs.Shared() || theirs.Owner != "other" {
		t.Errorf("theirs: shared %t, owner %q; want shared, owned by other", theirs.Shared(), theirs.Owner)
	}
	if stateOf(t, res, cmKeyOf("untracked")).Shared() {
		t.Error("an untracked live object is shared")
	}
	st := res.Status()
	if want := []string{"ConfigMap apps/theirs (owned by other)"}; !slices.Equal(st.Shared, want) {
		t.Errorf("Status().Shared = %q, want %q", st.Shared, want)
	}
	if st.Sync != v1alpha1.SyncStatusCodeOutOfSync {
		t.Errorf("Status().Sync = %s, want OutOfSync", st.Sync)
	}
	// Healthy ConfigMaps, a Progressing Deployment, a missing ConfigMap:
	// the Application is as healthy as the worst.
	if st.Health != v1alpha1.HealthStatusCode(health.Missing) {
		t.Errorf("Status().Health = %s, want Missing", st.Health)
	}
	if h := stateOf(t, res, fsync.KeyOf(deploy)).Health.Status; h != health.Progressing {
		t.Errorf("deployment health %s, want Progressing", h)
	}

	// Only another Application's object differs: nothing a sync would fix.
	c.live[cmKeyOf("absent")] = configMap("absent", instance)
	res = compare(t, c, compareApp(nil), nil, configMap("theirs", instance), configMap("absent", instance))
	if res.NeedsSync(true) {
		t.Error("NeedsSync(true) = true: the only difference is another Application's object")
	}
	if st := res.Status(); st.Sync != v1alpha1.SyncStatusCodeOutOfSync || st.Health != v1alpha1.HealthStatusCode(health.Healthy) {
		t.Errorf("Status() sync %s, health %s; want OutOfSync, Healthy", st.Sync, st.Health)
	}
}

func TestCompareInSync(t *testing.T) {
	c := &fakeCluster{live: map[fsync.Key]*unstructured.Unstructured{cmKeyOf("a"): configMap("a", instance)}}
	res := compare(t, c, compareApp(inventory(configMap("a", ""))), nil, configMap("a", instance))
	if res.NeedsSync(true) || len(res.OutOfSync()) != 0 || len(res.Prunes()) != 0 {
		t.Errorf("NeedsSync %t, OutOfSync %v, Prunes %v; want nothing", res.NeedsSync(true), res.OutOfSync(), res.Prunes())
	}
	st := res.Status()
	if st.Sync != v1alpha1.SyncStatusCodeSynced || st.Health != v1alpha1.HealthStatusCode(health.Healthy) || len(st.Shared) != 0 {
		t.Errorf("Status() sync %s, health %s, shared %v; want Synced, Healthy, none", st.Sync, st.Health, st.Shared)
	}
	if len(st.Resources) != 1 {
		t.Fatalf("Status().Resources = %+v, want one", st.Resources)
	}
	r := st.Resources[0]
	if ResourceKey(r) != cmKeyOf("a") || r.Version != "v1" || r.Status != v1alpha1.SyncStatusCodeSynced ||
		r.Health == nil || r.Health.Status != v1alpha1.HealthStatusCode(health.Healthy) || r.RequiresPruning {
		t.Errorf("Status().Resources[0] = %+v (health %+v), want ConfigMap apps/a v1, Synced, Healthy", r, r.Health)
	}
}
