package notifications

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/controller/application"
	"github.com/ferrycd/ferry/internal/notify"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

const (
	synced, outOf, unknown = v1alpha1.SyncStatusCodeSynced, v1alpha1.SyncStatusCodeOutOfSync, v1alpha1.SyncStatusCodeUnknown
	healthy, degraded      = v1alpha1.HealthStatusHealthy, v1alpha1.HealthStatusDegraded
	progressing            = v1alpha1.HealthStatusProgressing
)

// observer drives a Notifier through states of one Application, as
// successive reconciles do: each step reads the Application back from the
// API server (so what the notifier recorded counts), sets its status and
// reports the triggers queued.
type observer struct {
	t *testing.T
	c client.Client
	n *Notifier
}

func newObserver(t *testing.T, data map[string]string) *observer {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: notify.ConfigMapName}, Data: data}
	app := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "guestbook"},
		Spec: v1alpha1.ApplicationSpec{Source: &v1alpha1.ApplicationSource{RepoURL: "https://github.com/acme/guestbook.git"}}}
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(cm, app).Build()
	return &observer{t: t, c: c, n: New(c, c, "argocd", nil, nil, nil, logr.Discard())}
}

// allBuiltins subscribes a webhook to every built-in trigger.
func allBuiltins() map[string]string {
	return map[string]string{
		"service.webhook.ops": "url: https://hooks.example.com",
		"subscriptions":       "- recipients: [ops]\n  triggers: [" + strings.Join(notify.BuiltinTriggers(), ", ") + "]",
	}
}

// step applies edit to the Application and returns "trigger revision" of
// each notification queued, sorted.
func (o *observer) step(edit func(*v1alpha1.Application), drift ...application.Drift) []string {
	o.t.Helper()
	app := &v1alpha1.Application{}
	if err := o.c.Get(o.t.Context(), client.ObjectKey{Namespace: "argocd", Name: "guestbook"}, app); err != nil {
		o.t.Fatal(err)
	}
	edit(app)
	o.n.Observe(o.t.Context(), app, drift)
	var queued []string
	for {
		select {
		case j := <-o.n.jobs:
			queued = append(queued, j.event.Trigger+" "+j.event.Revision)
		default:
			slices.Sort(queued)
			return queued
		}
	}
}

func (o *observer) expect(edit func(*v1alpha1.Application), want ...string) {
	o.t.Helper()
	o.expectDrift(edit, nil, want...)
}

func (o *observer) expectDrift(edit func(*v1alpha1.Application), drift []application.Drift, want ...string) {
	o.t.Helper()
	got := o.step(edit, drift...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		o.t.Fatalf("queued %q, want %q", got, want)
	}
}

// state sets the sync and health status; with phase, an operation of rev
// started at start (Unix seconds), finished unless Running.
func state(sync v1alpha1.SyncStatusCode, health v1alpha1.HealthStatusCode, rev string, phase v1alpha1.OperationPhase, start int64) func(*v1alpha1.Application) {
	return func(app *v1alpha1.Application) {
		ltt := app.Status.Health.LastTransitionTime
		if app.Status.Health.Status != health || ltt == nil {
			t := metav1.Unix(start+1, 0)
			ltt = &t
		}
		app.Status.Sync = v1alpha1.SyncStatus{Status: sync, Revision: rev}
		app.Status.Health = v1alpha1.HealthStatus{Status: health, LastTransitionTime: ltt}
		app.Status.OperationState = nil
		if phase == "" {
			return
		}
		st := &v1alpha1.OperationState{Phase: phase, StartedAt: metav1.Unix(start, 0), Message: "boom",
			Operation: v1alpha1.Operation{Sync: &v1alpha1.SyncOperation{Revision: rev}}, SyncResult: &v1alpha1.SyncOperationResult{Revision: rev}}
		if phase != v1alpha1.OperationRunning {
			t := metav1.Unix(start+1, 0)
			st.FinishedAt = &t
		}
		app.Status.OperationState = st
	}
}

// TestCatalogTriggersOverALife drives an Application through the states
// Argo CD's catalog triggers watch: each fires when its condition starts
// to hold, once per revision where the catalog says oncePer.
func TestCatalogTriggersOverALife(t *testing.T) {
	const running, failed, succeeded = v1alpha1.OperationRunning, v1alpha1.OperationFailed, v1alpha1.OperationSucceeded
	o := newObserver(t, allBuiltins())
	o.expect(func(*v1alpha1.Application) {}, "on-created ")
	o.expect(state(outOf, progressing, "r1", "", 0), "on-out-of-sync r1")
	o.expect(state(outOf, progressing, "r1", running, 10), "on-sync-running r1")
	o.expect(state(outOf, progressing, "r1", failed, 10), "on-sync-failed r1")
	// Retries of r1: each a new operation, told already.
	for attempt := int64(1); attempt <= 3; attempt++ {
		o.expect(state(outOf, progressing, "r1", running, 10+20*attempt))
		o.expect(state(outOf, progressing, "r1", failed, 10+20*attempt))
	}
	o.expect(state(synced, healthy, "r1", succeeded, 100), "on-sync-succeeded r1", "on-deployed r1")
	o.expect(state(synced, healthy, "r1", succeeded, 100)) // nothing new
	o.expect(state(synced, degraded, "r1", succeeded, 100), "on-health-degraded r1")
	o.expect(state(synced, healthy, "r1", succeeded, 100))
	o.expect(state(synced, degraded, "r1", succeeded, 100)) // oncePer r1
	// Ferry's drift trigger: once per change of the objects.
	drift := []application.Drift{{Key: fsync.Key{Kind: "ConfigMap", Namespace: "ns", Name: "a"}, Manager: "kubectl-edit", ResourceVersion: "7"}}
	o.expectDrift(state(synced, healthy, "r1", succeeded, 100), drift, "on-drift-detected r1")
	o.expectDrift(state(synced, healthy, "r1", succeeded, 100), drift)
	drift[0].ResourceVersion = "8"
	o.expectDrift(state(synced, healthy, "r1", succeeded, 100), drift, "on-drift-detected r1")
	// A new revision.
	o.expect(state(outOf, healthy, "r2", "", 0), "on-out-of-sync r2")
	o.expect(state(unknown, healthy, "r2", failed, 200), "on-sync-failed r2", "on-sync-status-unknown r2")
	o.expect(func(app *v1alpha1.Application) {
		now := metav1.Now()
		app.DeletionTimestamp = &now
	}, "on-deleted ")
	o.expect(func(*v1alpha1.Application) {}) // deleted, told once
}

// TestToldOnceAcrossRestarts: a new controller (a new Notifier) reads what
// was told from the Application's annotation, Argo CD's: it tells nothing
// again, and an Application moved from Argo CD with that annotation is not
// told again either.
func TestToldOnceAcrossRestarts(t *testing.T) {
	o := newObserver(t, allBuiltins())
	o.expect(func(*v1alpha1.Application) {}, "on-created ")
	o.expect(state(synced, healthy, "r1", v1alpha1.OperationSucceeded, 100), "on-deployed r1", "on-sync-succeeded r1")
	o.n = New(o.c, o.c, "argocd", nil, nil, nil, logr.Discard())
	o.expect(state(synced, healthy, "r1", v1alpha1.OperationSucceeded, 100))
	app := &v1alpha1.Application{}
	if err := o.c.Get(t.Context(), client.ObjectKey{Namespace: "argocd", Name: "guestbook"}, app); err != nil {
		t.Fatal(err)
	}
	// Argo CD's key format: [oncePer:]trigger:[index].hash:service:recipient.
	ann := app.Annotations[notify.NotifiedAnnotation]
	for _, want := range []string{`"guestbook:on-created:[0].`, `"r1:on-deployed:[0].`, `:ops:"`} {
		if !strings.Contains(ann, want) {
			t.Errorf("annotation %s lacks %s", ann, want)
		}
	}
}

// TestCustomTrigger: a trigger written as users write them, over
// app.status, fires once when its condition holds and not otherwise.
func TestCustomTrigger(t *testing.T) {
	data := map[string]string{
		"service.webhook.ops": "url: https://hooks.example.com",
		"trigger.on-replicas-changed": `
- when: app.status.operationState != nil and app.status.operationState.phase == 'Succeeded' and any(app.status.operationState.syncResult.resources, {.kind == 'Deployment' and .message endsWith ' configured'})
  oncePer: app.status.operationState.syncResult.revision
  send: [replicas-changed]`,
		"template.replicas-changed": "message: '{{.app.metadata.name}} scaled'",
		"subscriptions":             "- recipients: [ops]\n  triggers: [on-replicas-changed]",
	}
	o := newObserver(t, data)
	synced := func(rev string, messages ...string) func(*v1alpha1.Application) {
		return func(app *v1alpha1.Application) {
			state(v1alpha1.SyncStatusCodeSynced, healthy, rev, v1alpha1.OperationSucceeded, 100)(app)
			for _, m := range messages {
				app.Status.OperationState.SyncResult.Resources = append(app.Status.OperationState.SyncResult.Resources,
					v1alpha1.ResourceResult{Kind: "Deployment", Namespace: "web", Name: "api", Message: m})
			}
		}
	}
	o.expect(synced("r1", "Deployment web/api created"))
	o.expect(synced("r2", "Deployment web/api unchanged"))
	o.expect(synced("r3", "Deployment web/api configured"), "on-replicas-changed r3")
	o.expect(synced("r3", "Deployment web/api configured"))
	o.expect(synced("r4", "Deployment web/api configured"), "on-replicas-changed r4")
}

// TestNothingWrittenWithoutNews: evaluations that tell nothing write
// nothing (an idle resync costs no request).
func TestNothingWrittenWithoutNews(t *testing.T) {
	o := newObserver(t, allBuiltins())
	o.expect(func(*v1alpha1.Application) {}, "on-created ")
	app := &v1alpha1.Application{}
	key := client.ObjectKey{Namespace: "argocd", Name: "guestbook"}
	if err := o.c.Get(t.Context(), key, app); err != nil {
		t.Fatal(err)
	}
	rv := app.ResourceVersion
	for range 3 {
		o.expect(func(*v1alpha1.Application) {})
	}
	if err := o.c.Get(t.Context(), key, app); err != nil || app.ResourceVersion != rv {
		t.Errorf("resourceVersion %s → %s (%v): written without news", rv, app.ResourceVersion, err)
	}
}

// TestStaleCacheTellsNothingTwice: a reconcile that reads the Application
// from a watch cache older than the notifier's last write does not tell
// again what that write recorded.
func TestStaleCacheTellsNothingTwice(t *testing.T) {
	o := newObserver(t, allBuiltins())
	stale := &v1alpha1.Application{}
	if err := o.c.Get(t.Context(), client.ObjectKey{Namespace: "argocd", Name: "guestbook"}, stale); err != nil {
		t.Fatal(err)
	}
	o.expect(func(*v1alpha1.Application) {}, "on-created ")
	o.n.Observe(t.Context(), stale.DeepCopy(), nil) // the cache before the annotation arrived
	if len(o.n.jobs) != 0 {
		t.Errorf("%d notifications queued again from a stale copy", len(o.n.jobs))
	}
}

// TestFailedDeliveryIsToldAgain: a notification that could not be
// delivered is not recorded as told: the next evaluation sends it again
// (Argo CD's rule), and once delivered it is not sent a third time.
func TestFailedDeliveryIsToldAgain(t *testing.T) {
	var mu sync.Mutex
	status := http.StatusInternalServerError
	got := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got++
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	o := newObserver(t, map[string]string{
		"service.webhook.ops": "url: " + srv.URL,
		"subscriptions":       "- recipients: [ops]\n  triggers: [on-created]",
	})
	o.n.sender.Backoff = []time.Duration{time.Millisecond}
	deliverQueued := func() {
		for {
			select {
			case j := <-o.n.jobs:
				o.n.deliver(t.Context(), j)
			default:
				return
			}
		}
	}
	o.n.Observe(t.Context(), o.get(), nil)
	deliverQueued() // fails (3 attempts)
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	o.n.Observe(t.Context(), o.get(), nil)
	deliverQueued() // told again, delivered
	o.n.Observe(t.Context(), o.get(), nil)
	deliverQueued() // nothing more
	mu.Lock()
	defer mu.Unlock()
	if got != 4 {
		t.Errorf("%d requests, want 3 failed attempts and 1 delivery", got)
	}
}

// TestUpgradeRecordsWithoutSending: an Application notified by a Ferry
// that kept its own annotation is not told again what holds at the
// upgrade; the old annotation goes.
func TestUpgradeRecordsWithoutSending(t *testing.T) {
	o := newObserver(t, allBuiltins())
	app := o.get()
	app.Annotations = map[string]string{legacyAnnotation: `{"on-deployed":"r1"}`}
	if err := o.c.Update(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	o.expect(state(synced, healthy, "r1", v1alpha1.OperationSucceeded, 100))
	after := o.get()
	if _, ok := after.Annotations[legacyAnnotation]; ok || after.Annotations[notify.NotifiedAnnotation] == "" {
		t.Errorf("annotations %v: want Argo CD's recorded and Ferry's old one gone", after.Annotations)
	}
	o.expect(state(synced, healthy, "r2", v1alpha1.OperationSucceeded, 200), "on-deployed r2", "on-sync-succeeded r2")
}

func (o *observer) get() *v1alpha1.Application {
	o.t.Helper()
	app := &v1alpha1.Application{}
	if err := o.c.Get(o.t.Context(), client.ObjectKey{Namespace: "argocd", Name: "guestbook"}, app); err != nil {
		o.t.Fatal(err)
	}
	return app
}
