package application_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestIgnoreDifferencesInDiffAndSync(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(myappFiles("ignore", "one"))
	repo.commit("ignore")
	app := newApp("ignore", "ignore", repo, "apps/ignore/myapp", &v1alpha1.SyncPolicyAutomated{SelfHeal: true})
	app.Spec.IgnoreDifferences = []v1alpha1.ResourceIgnoreDifferences{
		{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}},
		{Kind: "ConfigMap", JQPathExpressions: []string{".data.DATABASE_HOST"}},
	}
	app.Spec.SyncPolicy.SyncOptions = append(app.Spec.SyncPolicy.SyncOptions, "RespectIgnoreDifferences=true")
	create(t, app)
	waitApp(t, app, "Synced", func(a *v1alpha1.Application) bool { return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced })

	// An autoscaler's change to replicas and someone's to an ignored key.
	scale := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":5}}`))
	d := &unstructured.Unstructured{}
	d.SetAPIVersion("apps/v1")
	d.SetKind("Deployment")
	d.SetNamespace("ignore")
	d.SetName("myapp")
	if err := env.Client.Patch(ctx, d, scale, client.FieldOwner("hpa")); err != nil {
		t.Fatal(err)
	}
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetNamespace("ignore")
	cm.SetName("myapp-config")
	if err := env.Client.Patch(ctx, cm, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"DATABASE_HOST":"elsewhere"}}`)), client.FieldOwner("ops")); err != nil {
		t.Fatal(err)
	}
	// A commit is synced; the ignored fields keep their live values.
	repo.write(myappFiles("ignore", "two"))
	head := repo.commit("two")
	waitApp(t, app, "Synced at the second commit", syncedAt(head))
	if g := greeting(ctx, t, "ignore"); g != "two" {
		t.Errorf("greeting = %q, want two", g)
	}
	deploy := live(ctx, t, "apps/v1", "Deployment", "ignore", "myapp")
	if r, _, _ := unstructured.NestedInt64(deploy.Object, "spec", "replicas"); r != 5 {
		t.Errorf("replicas = %d after sync, want the ignored live value 5", r)
	}
	liveCM, _, _ := unstructuredString(live(ctx, t, "v1", "ConfigMap", "ignore", "myapp-config").Object, "data", "DATABASE_HOST")
	if liveCM != "elsewhere" {
		t.Errorf("DATABASE_HOST = %q after sync, want the ignored live value", liveCM)
	}
}

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

func TestCascadingDeletionWithTheResourcesFinalizer(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1"),
		"cms/kept.yaml": configMapYAML("kept", "    argocd.argoproj.io/sync-options: Delete=false")})
	head := repo.commit("one")
	app := newApp("cascade", "cascade", repo, "cms", &v1alpha1.SyncPolicyAutomated{})
	app.Finalizers = []string{"resources-finalizer.argocd.argoproj.io"}
	create(t, app)
	waitApp(t, app, "Synced", syncedAt(head))
	if err := env.Client.Delete(ctx, app); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "application and its ConfigMap deleted", func(ctx context.Context) (bool, string) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), &v1alpha1.Application{})
		cm := live(ctx, t, "v1", "ConfigMap", "cascade", "a")
		return err != nil && cm == nil, fmt.Sprintf("application get: %v; configmap present: %v", err, cm != nil)
	})
	kept := live(ctx, t, "v1", "ConfigMap", "cascade", "kept")
	if kept == nil {
		t.Fatal("the ConfigMap marked Delete=false was deleted with the application")
	}
	if err := env.Client.Delete(ctx, kept); err != nil {
		t.Error(err)
	}
}

func TestUnsupportedSyncOptionIsReported(t *testing.T) {
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1")})
	repo.commit("one")
	app := newApp("replace", "replace", repo, "cms", &v1alpha1.SyncPolicyAutomated{})
	app.Spec.SyncPolicy.SyncOptions = append(app.Spec.SyncPolicy.SyncOptions, "Replace=true")
	create(t, app)
	waitApp(t, app, "UnsupportedField for Replace", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionUnsupportedField, "Replace=true")
	})
}
