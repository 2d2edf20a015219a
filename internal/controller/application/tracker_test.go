package application

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// The Deployment controller's revision annotation does not change what
// Ferry compares; any other annotation or label does.
func TestFingerprintIgnoresTheDeploymentRevision(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{UID: "u1", Generation: 1, ResourceVersion: "10",
		Annotations: map[string]string{"team": "web"}, Labels: map[string]string{"app": "web"}}}
	before := fingerprintOf(d)
	d.Annotations[deploymentRevision] = "1"
	d.ResourceVersion = "11"
	if got := fingerprintOf(d); got != before {
		t.Fatalf("the revision annotation changed the fingerprint: %+v, was %+v", got, before)
	}
	if d.Annotations[deploymentRevision] != "1" {
		t.Fatal("fingerprintOf changed the object's annotations")
	}
	d.Annotations["team"] = "api"
	if fingerprintOf(d) == before {
		t.Fatal("another annotation's change left the fingerprint as it was")
	}
	d.Annotations["team"] = "web"
	d.Labels["app"] = "api"
	if fingerprintOf(d) == before {
		t.Fatal("a label's change left the fingerprint as it was")
	}
	d.Labels["app"] = "web"
	d.Generation = 2
	if fingerprintOf(d) == before {
		t.Fatal("a spec change (generation) left the fingerprint as it was")
	}
}

// A refresh is answered from what was there after the watch first saw it
// asked for: later events that still carry the annotation do not move that
// time, and the annotation's removal ends it.
func TestRefreshAskedIsTheFirstSighting(t *testing.T) {
	r := &Reconciler{tracker: newTracker()}
	seen := r.refreshSeen()
	app := func(refresh string) *v1alpha1.Application {
		a := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "web"}}
		if refresh != "" {
			a.Annotations = map[string]string{refreshAnnotation: refresh}
		}
		return a
	}
	key := types.NamespacedName{Namespace: "argocd", Name: "web"}
	began := time.Now().Add(time.Hour) // a reconcile starting well after the events
	if got := r.tracker.refreshAsked(key, began); !got.Equal(began) {
		t.Fatalf("no refresh seen: refreshAsked = %s, want the reconcile's start %s", got, began)
	}
	before := time.Now()
	if !seen.Update(event.UpdateEvent{ObjectOld: app(""), ObjectNew: app("hard")}) {
		t.Fatal("refreshSeen filtered an event out")
	}
	first := r.tracker.refreshAsked(key, began)
	if first.Before(before) || !first.Before(began) {
		t.Fatalf("refreshAsked = %s, want the time the event was seen (after %s)", first, before)
	}
	seen.Update(event.UpdateEvent{ObjectOld: app("hard"), ObjectNew: app("hard")}) // a status write, say
	if got := r.tracker.refreshAsked(key, began); !got.Equal(first) {
		t.Fatalf("a later event moved the ask from %s to %s", first, got)
	}
	if got := r.tracker.refreshAsked(key, first.Add(-time.Second)); !got.Equal(first.Add(-time.Second)) {
		t.Fatalf("a reconcile that began before the ask was seen: refreshAsked = %s, want its start", got)
	}
	seen.Update(event.UpdateEvent{ObjectOld: app("hard"), ObjectNew: app("")}) // answered
	if got := r.tracker.refreshAsked(key, began); !got.Equal(began) {
		t.Fatalf("after the annotation was cleared: refreshAsked = %s, want the reconcile's start", got)
	}
	seen.Create(event.CreateEvent{Object: app("normal")}) // asked again (or seen at start-up)
	if got := r.tracker.refreshAsked(key, began); !got.After(first) {
		t.Fatalf("a new ask: refreshAsked = %s, want after the first ask %s", got, first)
	}
}
