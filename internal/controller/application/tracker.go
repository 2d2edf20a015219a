package application

import (
	"fmt"
	"hash"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/health"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// fingerprint summarises what of a live object Ferry compares, so that a
// watch event that changes nothing Ferry cares about (a Deployment's status
// updated by its controller) does not trigger a comparison. Objects whose
// API sets metadata.generation bump it for every spec change; for the rest
// the resourceVersion stands in. Labels and annotations are hashed in, since
// they change without a generation bump.
type fingerprint struct {
	uid        types.UID
	generation int64
	version    string // resourceVersion, only when generation is 0
	meta       uint64 // hash of labels and annotations
}

// deploymentRevision is written by the Deployment controller on every
// Deployment it sees (the first time right after Ferry creates one, then at
// every rollout, which a spec change Ferry does see already causes). No
// manifest sets it meaningfully: hashing it in made every new Deployment
// wake its Application for a full comparison (a get and a dry-run per
// object, 4 + 4 requests for an Application of 4) that could find nothing.
const deploymentRevision = "deployment.kubernetes.io/revision"

type metaObject interface {
	GetUID() types.UID
	GetGeneration() int64
	GetResourceVersion() string
	GetLabels() map[string]string
	GetAnnotations() map[string]string
}

func fingerprintOf(obj metaObject) fingerprint {
	f := fingerprint{uid: obj.GetUID(), generation: obj.GetGeneration(), meta: hashMeta(obj.GetLabels(), obj.GetAnnotations())}
	if f.generation == 0 {
		f.version = obj.GetResourceVersion()
	}
	return f
}

// hashMeta hashes labels and annotations, the Deployment controller's
// deploymentRevision annotation left out (nothing is copied to leave it
// out: this runs for every watch event of a managed object).
func hashMeta(labels, annotations map[string]string) uint64 {
	h := fnv.New64a()
	hashMap(h, labels, "")
	hashMap(h, annotations, deploymentRevision)
	return h.Sum64()
}

func hashMap(h hash.Hash64, m map[string]string, skip string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k != skip {
			fmt.Fprintf(h, "%q=%q;", k, m[k])
		}
	}
	h.Write([]byte{0})
}

// comparison is what the tracker remembers of an Application's last full
// comparison: the inputs it was made with, and the fingerprint of every
// object it covered, the zero fingerprint for an object that did not exist.
// While both still hold, the status that comparison wrote is still true.
type comparison struct {
	inputs string
	// rendered is the hash of the desired objects compared
	// (appstate.Desired.Hash).
	rendered string
	objects  map[fsync.Key]tracked
}

// tracked is one object of a comparison.
type tracked struct {
	version string // API version, to read it from the watch cache
	desired bool   // false: managed before, no longer in Git
	fp      fingerprint
	sync    v1alpha1.SyncStatusCode // as compared
	health  health.Status           // as last reported
	wave    int64                   // sync wave, for status
}

// tracker remembers comparisons per Application, in memory. After a restart
// every Application is compared once in full, which is correct, only slower.
type tracker struct {
	mu       sync.Mutex
	apps     map[types.NamespacedName]comparison
	syncs    map[types.NamespacedName]*v1alpha1.OperationState
	reported map[types.NamespacedName]reportedSync
	// drifts is when a drift that selfHeal would sync away was first seen,
	// per Application waiting for its self-heal (Options.SelfHealDelay).
	drifts map[types.NamespacedName]time.Time
	// refreshes is when the watch first saw each Application's refresh
	// annotation, for as long as the annotation stays.
	refreshes map[types.NamespacedName]time.Time
}

// reportedSync is the sync status this process last wrote for an
// Application.
type reportedSync struct {
	status   v1alpha1.SyncStatusCode
	revision string
}

func newTracker() *tracker {
	return &tracker{apps: map[types.NamespacedName]comparison{}, syncs: map[types.NamespacedName]*v1alpha1.OperationState{},
		reported: map[types.NamespacedName]reportedSync{}, drifts: map[types.NamespacedName]time.Time{},
		refreshes: map[types.NamespacedName]time.Time{}}
}

func (t *tracker) remember(app types.NamespacedName, inputs, rendered string, objects map[fsync.Key]tracked) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.apps[app] = comparison{inputs: inputs, rendered: rendered, objects: objects}
}

// renderedAs reports whether app's last full comparison compared the
// desired objects of this hash.
func (t *tracker) renderedAs(app types.NamespacedName, rendered string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.apps[app]
	return ok && c.rendered != "" && c.rendered == rendered
}

// invalidate makes the next reconcile of app compare in full, remembering
// that the applied objects (those carrying the server's response) exist.
func (t *tracker) invalidate(app types.NamespacedName, applied []*unstructured.Unstructured) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.apps[app]
	objects := make(map[fsync.Key]tracked, len(c.objects)+len(applied))
	maps.Copy(objects, c.objects)
	for _, obj := range applied {
		if obj.GetResourceVersion() != "" {
			objects[fsync.KeyOf(obj)] = tracked{version: obj.GetAPIVersion(), desired: true, fp: fingerprintOf(obj)}
		}
	}
	t.apps[app] = comparison{objects: objects} // no inputs: never unchanged
}

// existing returns the objects app's last comparison saw exist.
func (t *tracker) existing(app types.NamespacedName) map[fsync.Key]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[fsync.Key]bool{}
	for k, o := range t.apps[app].objects {
		if o.fp != (fingerprint{}) {
			out[k] = true
		}
	}
	return out
}

// forget drops app's comparison, so the next reconcile compares in full.
func (t *tracker) forget(app types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.apps, app)
}

// forgetComparisons forgets every remembered comparison (a cluster's watch
// cache was replaced, which is rare): each Application compares in full
// once.
func (t *tracker) forgetComparisons() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.apps)
}

// drop forgets everything about a deleted Application.
func (t *tracker) drop(app types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.apps, app)
	delete(t.syncs, app)
	delete(t.reported, app)
	delete(t.drifts, app)
	delete(t.refreshes, app)
}

// seeRefresh records what a watch event at now showed of app's refresh
// annotation: the first event asking for a refresh is remembered until one
// shows the annotation gone (the reconcile that answered cleared it).
func (t *tracker) seeRefresh(app types.NamespacedName, asking bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !asking {
		delete(t.refreshes, app)
	} else if _, seen := t.refreshes[app]; !seen {
		t.refreshes[app] = now
	}
}

// refreshAsked is when the watch first saw app's refresh asked for, or
// began (the reconcile's start) when it did not see it before that.
func (t *tracker) refreshAsked(app types.NamespacedName, began time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.refreshes[app]; ok && at.Before(began) {
		return at
	}
	return began
}

// unchanged returns app's last comparison if it used these inputs and every
// object it covered still has the fingerprint it had then, according to
// current (the watch cache); ok is false otherwise.
func (t *tracker) unchanged(app types.NamespacedName, inputs string, current func(fsync.Key, tracked) (fingerprint, bool)) (map[fsync.Key]tracked, bool) {
	t.mu.Lock()
	c, ok := t.apps[app]
	t.mu.Unlock()
	if !ok || c.inputs != inputs {
		return nil, false
	}
	for k, want := range c.objects {
		got, exists := current(k, want)
		if !exists {
			got = fingerprint{}
		}
		if got != want.fp {
			return nil, false
		}
	}
	return c.objects, true
}

// changed reports whether a watched object differs from what app's last
// comparison saw, or its health from what was last reported (f is the zero
// fingerprint for a deleted object); objects the tracker does not know count
// as changed.
func (t *tracker) changed(app types.NamespacedName, k fsync.Key, f fingerprint, h health.Status) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.apps[app]
	if !ok {
		return true
	}
	want, ok := c.objects[k]
	return !ok || want.fp != f || (want.desired && want.health != h)
}

// setHealth records the health last reported for app's objects.
func (t *tracker) setHealth(app types.NamespacedName, healths map[fsync.Key]health.Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.apps[app]
	if !ok {
		return
	}
	for k, h := range healths {
		if o, ok := c.objects[k]; ok {
			o.health = h
			c.objects[k] = o
		}
	}
}

// lastSync is the most recent sync this process ran for app, or nil. The
// watch cache can lag behind the status the sync wrote; this does not.
func (t *tracker) lastSync(app types.NamespacedName) *v1alpha1.OperationState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.syncs[app]
}

func (t *tracker) recordSync(app types.NamespacedName, s *v1alpha1.OperationState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.syncs[app] = s.DeepCopy()
}

// previousSync is the sync status app had before this reconcile: the one
// this process last wrote, which the watch cache may not show yet (a
// reconcile right after a status write reads the older copy), or else the
// one in status (after a restart or a hand-over).
func (t *tracker) previousSync(app types.NamespacedName, inStatus v1alpha1.SyncStatus) (v1alpha1.SyncStatusCode, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.reported[app]; ok {
		return r.status, r.revision
	}
	return inStatus.Status, appstate.SyncedRevision(inStatus.Revision, inStatus.Revisions)
}

// reportSync records the sync status now in the API server for app.
func (t *tracker) reportSync(app types.NamespacedName, s v1alpha1.SyncStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reported[app] = reportedSync{status: s.Status, revision: appstate.SyncedRevision(s.Revision, s.Revisions)}
}

// driftSince is when app's drift, which a self-heal waits to sync away, was
// first seen; zero when app is not waiting for a self-heal.
func (t *tracker) driftSince(app types.NamespacedName) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.drifts[app]
}

// seeDrift records that app's drift was seen at now, unless an earlier
// sighting is remembered; it reports whether this is the first.
func (t *tracker) seeDrift(app types.NamespacedName, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.drifts[app]; ok {
		return false
	}
	t.drifts[app] = now
	return true
}

// forgetDrift forgets app's drift: it is in sync again, or a sync ran.
func (t *tracker) forgetDrift(app types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.drifts, app)
}
