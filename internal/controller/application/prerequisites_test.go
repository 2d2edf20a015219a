package application_test

import (
	"testing"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestCRDAndNamespaceSyncBeforeTheirObjects(t *testing.T) {
	repo := newGitRepo(t)
	repo.write(map[string]string{
		"platform/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: widgets\n  annotations:\n    argocd.argoproj.io/sync-wave: \"-1\"\n",
		"platform/crd.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
`,
		"platform/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gizmo\n  namespace: widgets\nspec:\n  size: 3\n",
	})
	head := repo.commit("platform")
	app := newApp("platform", "widgets", repo, "platform", &v1alpha1.SyncPolicyAutomated{Prune: true})
	app.Spec.SyncPolicy.SyncOptions = nil
	create(t, app)
	got := waitApp(t, app, "Synced with the CRD, Namespace and Widget", syncedAt(head))
	if len(got.Status.Resources) != 3 {
		t.Errorf("resources: %s", describeApp(got))
	}
	for _, r := range got.Status.Resources {
		if want := map[string]int64{"Namespace": -1}[r.Kind]; r.SyncWave != want {
			t.Errorf("%s %s: syncWave %d, want %d", r.Kind, r.Name, r.SyncWave, want)
		}
	}
	if live(t.Context(), t, "example.com/v1", "Widget", "widgets", "gizmo") == nil {
		t.Error("widget not created")
	}
}
