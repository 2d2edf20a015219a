package appview

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

func TestDifferences(t *testing.T) {
	obj := func(name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("ConfigMap")
		u.SetName(name)
		return u
	}
	key := func(name string) fsync.Key { return fsync.Key{Kind: "ConfigMap", Name: name} }
	cmp := &appstate.Comparison{Resources: []appstate.ResourceState{
		{Key: key("synced"), Desired: true, Sync: v1alpha1.SyncStatusCodeSynced, Live: obj("synced"), Predicted: obj("synced")},
		{Key: key("changed"), Desired: true, Sync: v1alpha1.SyncStatusCodeOutOfSync, Live: obj("changed"), Predicted: obj("changed")},
		{Key: key("gone"), RequiresPruning: true, Live: obj("gone")},
		{Key: key("kept"), RequiresPruning: true, PruneDisabled: true, Live: obj("kept")},
		{Key: key("crd-kind"), Desired: true, Unserved: true, Sync: v1alpha1.SyncStatusCodeOutOfSync, Object: obj("crd-kind")},
		{Key: key("refused"), Desired: true, Sync: v1alpha1.SyncStatusCodeOutOfSync, Message: "spec.x: Invalid value"},
	}}
	app := &v1alpha1.Application{}
	got := Differences(cmp, app)
	want := []struct {
		name, note             string
		live, desired, refused bool
	}{
		{"changed", "", true, true, false},
		{"gone", "requires pruning: a sync with prune deletes it", true, false, false},
		{"kept", "requires pruning, kept: it is marked Prune=false", true, false, false},
		{"crd-kind", "kind not served by the cluster yet: a sync creates it after its CRD", false, true, false},
		{"refused", "the API server refuses this object, a sync will fail: spec.x: Invalid value", false, false, true},
	}
	if len(got) != len(want) {
		t.Fatalf("%d differences, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		d := got[i]
		if d.Key.Name != w.name || d.Note != w.note || (d.Live != nil) != w.live || (d.Desired != nil) != w.desired || d.Refused() != w.refused {
			t.Errorf("difference %d = %+v (refused %v), want %+v", i, d, d.Refused(), w)
		}
	}
	// With automated prune, what requires pruning will be deleted.
	app.Spec.SyncPolicy = &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{Prune: true}}
	if d := Differences(cmp, app)[1]; d.Note != "requires pruning: the automated sync (prune on) deletes it" {
		t.Errorf("with automated prune: %q", d.Note)
	}
}
