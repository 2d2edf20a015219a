package notifications

import (
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/notify"
)

// observer drives a Notifier through a sequence of statuses of one
// Application, as successive reconciles do: each step reads the
// Application back from the API server (so what the notifier recorded
// counts) and reports the triggers queued.
type observer struct {
	t      *testing.T
	c      client.Client
	n      *Notifier
	status v1alpha1.ApplicationStatus
}

func newObserver(t *testing.T) *observer {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: notify.ConfigMapName}, Data: map[string]string{
		"service.webhook.ops": "url: https://hooks.example.com",
		"subscriptions":       "- recipients: [ops]\n  triggers: [on-sync-failed, on-sync-succeeded, on-sync-status-unknown, on-out-of-sync]",
	}}
	app := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "guestbook"},
		Spec: v1alpha1.ApplicationSpec{Source: &v1alpha1.ApplicationSource{RepoURL: "https://github.com/acme/guestbook.git"}}}
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(cm, app).Build()
	return &observer{t: t, c: c, n: New(c, c, "argocd", nil, nil, logr.Discard())}
}

// step moves the Application to status and returns the triggers queued.
func (o *observer) step(status v1alpha1.ApplicationStatus) []string {
	o.t.Helper()
	app := &v1alpha1.Application{}
	if err := o.c.Get(o.t.Context(), client.ObjectKey{Namespace: "argocd", Name: "guestbook"}, app); err != nil {
		o.t.Fatal(err)
	}
	before := app.DeepCopy()
	before.Status = o.status
	app.Status = status
	o.status = status
	o.n.Observe(o.t.Context(), before, app, nil)
	var queued []string
	for {
		select {
		case j := <-o.n.jobs:
			queued = append(queued, j.event.Trigger+" "+j.event.Revision)
		default:
			return queued
		}
	}
}

func (o *observer) expect(status v1alpha1.ApplicationStatus, want ...string) {
	o.t.Helper()
	got := o.step(status)
	if len(got) != len(want) {
		o.t.Fatalf("queued %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			o.t.Fatalf("queued %q, want %q", got, want)
		}
	}
}

// TestSyncFailedOncePerRevision: an automated sync of one revision that
// fails and is retried (every attempt a new operation ending Failed) is told
// once; a new revision failing is told again.
func TestSyncFailedOncePerRevision(t *testing.T) {
	const outOf, healthy = v1alpha1.SyncStatusCodeOutOfSync, v1alpha1.HealthStatusHealthy
	o := newObserver(t)
	o.expect(status(outOf, healthy, "r1"), "on-out-of-sync r1")
	o.expect(withOperation(status(outOf, healthy, "r1"), v1alpha1.OperationFailed, 10, true), "on-sync-failed r1")
	for attempt := int64(1); attempt <= 4; attempt++ {
		s := withOperation(status(outOf, healthy, "r1"), v1alpha1.OperationRunning, 10+attempt*20, false)
		o.expect(s) // the retry running
		s = withOperation(status(outOf, healthy, "r1"), v1alpha1.OperationFailed, 10+attempt*20, true)
		s.OperationState.RetryCount = attempt
		o.expect(s) // and failing again
	}
	o.expect(withOperation(status(outOf, healthy, "r2"), v1alpha1.OperationFailed, 200, true), "on-sync-failed r2")
}

// TestFirstFailureWithoutRevision: a trigger whose key is empty (a sync that
// failed before its revision resolved) is told the first time, then not
// again.
func TestFirstFailureWithoutRevision(t *testing.T) {
	o := newObserver(t)
	s := withOperation(status(v1alpha1.SyncStatusCodeUnknown, "", ""), v1alpha1.OperationFailed, 10, true)
	s.Sync.Status = "" // no comparison yet
	o.expect(s, "on-sync-failed ")
	s = withOperation(status("", "", ""), v1alpha1.OperationFailed, 30, true)
	o.expect(s)
}

// TestSyncStatusUnknownOncePerRevision: Unknown is told on the transition
// into it, once per revision, also for an Application never compared
// (no revision).
func TestSyncStatusUnknownOncePerRevision(t *testing.T) {
	const synced, unknown, healthy = v1alpha1.SyncStatusCodeSynced, v1alpha1.SyncStatusCodeUnknown, v1alpha1.HealthStatusHealthy
	o := newObserver(t)
	o.expect(status(unknown, "", ""), "on-sync-status-unknown ")
	o.expect(status(unknown, "", "")) // still Unknown
	o.expect(status(synced, healthy, "r1"))
	o.expect(status(unknown, healthy, "r1"), "on-sync-status-unknown r1")
	o.expect(status(synced, healthy, "r1"))
	o.expect(status(unknown, healthy, "r1")) // again at r1: told already
	o.expect(status(synced, healthy, "r2"))
	o.expect(status(unknown, healthy, "r2"), "on-sync-status-unknown r2")
}
