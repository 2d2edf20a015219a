package application_test

import (
	"testing"

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
