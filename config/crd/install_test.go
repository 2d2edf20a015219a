package crd_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/config/crd"
	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// TestInstall installs the CRDs into a real API server and checks that it
// serves Argo CD's Applications as Ferry needs: the example Applications accepted
// verbatim, unmodelled fields kept, status written only through /status.
func TestInstall(t *testing.T) {
	cluster := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeAPI})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c := newClient(t, cluster)

	if err := crd.Install(ctx, c); err != nil {
		t.Fatalf("install: %v", err)
	}
	if err := crd.Install(ctx, c); err != nil {
		t.Fatalf("install again: %v", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace argocd: %v", err)
	}
	for _, app := range exampleApplications(t) {
		if err := c.Create(ctx, app); err != nil {
			t.Fatalf("create %s verbatim: %v", app.GetName(), err)
		}
	}

	t.Run("example manifests read back typed", func(t *testing.T) {
		testExampleReadBack(ctx, t, c)
	})
	t.Run("unmodelled fields survive", func(t *testing.T) {
		testUnmodelledFieldsSurvive(ctx, t, c)
	})
	t.Run("status only through the subresource", func(t *testing.T) {
		testStatusSubresource(ctx, t, c)
	})
	t.Run("appproject", func(t *testing.T) {
		testAppProject(ctx, t, c)
	})
	t.Run("example applicationset and image automation verbatim", func(t *testing.T) {
		testExampleFluxAndAppSet(ctx, t, c)
	})
}

// testExampleFluxAndAppSet creates the example ApplicationSet and image
// automation manifests as written and reads them back whole.
func testExampleFluxAndAppSet(ctx context.Context, t *testing.T, c client.Client) {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}}); err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{examples.ApplicationSet(), examples.ImageAutomation()} {
		for _, doc := range strings.Split(string(data), "\n---\n") {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatal(err)
			}
			want := u.DeepCopy()
			if err := c.Create(ctx, u); err != nil {
				t.Fatalf("create %s %s verbatim: %v", u.GetKind(), u.GetName(), err)
			}
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(u.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got.Object["spec"], want.Object["spec"]) {
				t.Errorf("%s %s: spec read back as %v, want %v", u.GetKind(), u.GetName(), got.Object["spec"], want.Object["spec"])
			}
		}
	}
}

func newClient(t *testing.T, cluster *localcluster.Cluster) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cluster.AdminConfig(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return c
}

// exampleApplications parses the example Applications as written.
func exampleApplications(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	docs, err := examples.ApplicationDocuments()
	if err != nil {
		t.Fatal(err)
	}
	var apps []*unstructured.Unstructured
	for _, doc := range docs {
		app := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &app.Object); err != nil {
			t.Fatalf("parse example manifest: %v", err)
		}
		apps = append(apps, app)
	}
	if len(apps) != 2 {
		t.Fatalf("example manifests: %d documents, want 2", len(apps))
	}
	return apps
}

func exampleApplication(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	for _, app := range exampleApplications(t) {
		if app.GetName() == name {
			return app
		}
	}
	t.Fatalf("no example application %s", name)
	return nil
}

func getApplication(ctx context.Context, t *testing.T, c client.Client, name string) *v1alpha1.Application {
	t.Helper()
	app := &v1alpha1.Application{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: name}, app); err != nil {
		t.Fatalf("get application %s: %v", name, err)
	}
	return app
}

func testExampleReadBack(ctx context.Context, t *testing.T, c client.Client) {
	tests := []struct {
		name      string
		revision  string
		path      string
		namespace string
		automated *v1alpha1.SyncPolicyAutomated
	}{
		{
			name: "myapp-staging", revision: "staging", path: "apps/staging/myapp", namespace: "staging",
			automated: &v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true},
		},
		{name: "myapp-production", revision: "main", path: "apps/production/myapp", namespace: "production"},
	}
	for _, tt := range tests {
		app := getApplication(ctx, t, c, tt.name)
		spec := app.Spec
		if spec.Project != "default" {
			t.Errorf("%s: project %q", tt.name, spec.Project)
		}
		want := v1alpha1.ApplicationSource{
			RepoURL:        "https://github.com/myorg/gitops-repo.git",
			TargetRevision: tt.revision,
			Path:           tt.path,
		}
		if spec.Source == nil || *spec.Source != want {
			t.Errorf("%s: source %+v, want %+v", tt.name, spec.Source, want)
		}
		wantDest := v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: tt.namespace}
		if spec.Destination != wantDest {
			t.Errorf("%s: destination %+v, want %+v", tt.name, spec.Destination, wantDest)
		}
		if spec.SyncPolicy == nil {
			t.Fatalf("%s: no syncPolicy", tt.name)
		}
		if !slices.Equal(spec.SyncPolicy.SyncOptions, []string{"CreateNamespace=true"}) {
			t.Errorf("%s: syncOptions %q", tt.name, spec.SyncPolicy.SyncOptions)
		}
		got := spec.SyncPolicy.Automated
		if (got == nil) != (tt.automated == nil) || got != nil && *got != *tt.automated {
			t.Errorf("%s: automated %+v, want %+v", tt.name, got, tt.automated)
		}
	}
	list := &v1alpha1.ApplicationList{}
	if err := c.List(ctx, list, client.InNamespace("argocd")); err != nil {
		t.Fatalf("list applications: %v", err)
	}
	if len(list.Items) < 2 {
		t.Errorf("listed %d applications, want at least the 2 examples", len(list.Items))
	}
}

func testUnmodelledFieldsSurvive(ctx context.Context, t *testing.T, c client.Client) {
	app := exampleApplication(t, "myapp-staging")
	app.SetName("myapp-helm")
	valueFiles := []any{"values.yaml", "values-staging.yaml"}
	if err := unstructured.SetNestedSlice(app.Object, valueFiles, "spec", "source", "helm", "valueFiles"); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(app.Object, true, "spec", "syncPolicy", "automated", "enabled"); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, app); err != nil {
		t.Fatalf("create: %v", err)
	}

	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(v1alpha1.ApplicationKind))
	if err := c.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
		t.Fatalf("get: %v", err)
	}
	files, found, err := unstructured.NestedStringSlice(got.Object, "spec", "source", "helm", "valueFiles")
	if err != nil || !found || !slices.Equal(files, []string{"values.yaml", "values-staging.yaml"}) {
		t.Errorf("spec.source.helm.valueFiles = %q (found %t, %v): pruned by the API server", files, found, err)
	}
	if want := []string{"spec.syncPolicy.automated.enabled"}; !slices.Equal(v1alpha1.UnsupportedFields(got.Object), want) {
		t.Errorf("UnsupportedFields = %q, want %q", v1alpha1.UnsupportedFields(got.Object), want)
	}
}

func testStatusSubresource(ctx context.Context, t *testing.T, c client.Client) {
	const name = "myapp-staging"
	app := getApplication(ctx, t, c, name)
	generation := app.Generation

	patched := app.DeepCopy()
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	patched.Status.Sync = v1alpha1.SyncStatus{Status: v1alpha1.SyncStatusCodeSynced, Revision: "0123abcd"}
	patched.Status.Health = v1alpha1.HealthStatus{Status: v1alpha1.HealthStatusHealthy}
	patched.Status.ReconciledAt = &now
	if err := c.Status().Patch(ctx, patched, client.MergeFrom(app)); err != nil {
		t.Fatalf("patch status: %v", err)
	}
	assertStatus := func(step string) {
		t.Helper()
		got := getApplication(ctx, t, c, name)
		if got.Status.Sync.Status != v1alpha1.SyncStatusCodeSynced || got.Status.Sync.Revision != "0123abcd" ||
			got.Status.Health.Status != v1alpha1.HealthStatusHealthy ||
			got.Status.ReconciledAt == nil || !got.Status.ReconciledAt.Equal(&now) {
			t.Errorf("after %s: status %+v", step, got.Status)
		}
		if got.Generation != generation {
			t.Errorf("after %s: generation %d, want %d", step, got.Generation, generation)
		}
	}
	assertStatus("status patch")

	// kubectl replace: a PUT of the manifest as kept in Git, without status.
	replace := exampleApplication(t, name)
	replace.SetResourceVersion(getApplication(ctx, t, c, name).ResourceVersion)
	if err := c.Update(ctx, replace); err != nil {
		t.Fatalf("replace: %v", err)
	}
	assertStatus("replace")

	// kubectl apply --server-side of the same manifest, as another manager.
	apply := exampleApplication(t, name)
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(apply), client.FieldOwner("kubectl")); err != nil {
		t.Fatalf("server-side apply: %v", err)
	}
	assertStatus("server-side apply")

	// A status written through the main resource is ignored.
	stale := getApplication(ctx, t, c, name)
	stale.Status.Sync.Status = v1alpha1.SyncStatusCodeOutOfSync
	if err := c.Update(ctx, stale); err != nil {
		t.Fatalf("update with status: %v", err)
	}
	assertStatus("update of the main resource with a status")
}

func testAppProject(ctx context.Context, t *testing.T, c client.Client) {
	proj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: default
  namespace: argocd
spec:
  description: Everything
  sourceRepos: ["*"]
  destinations:
    - server: https://kubernetes.default.svc
      namespace: "*"
  clusterResourceWhitelist:
    - group: "*"
      kind: "*"
      name: "*"
  namespaceResourceBlacklist:
    - group: ""
      kind: ResourceQuota
  roles:
    - name: ci
      policies: ["p, proj:default:ci, applications, sync, default/*, allow"]
`), &proj.Object); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, proj); err != nil {
		t.Fatalf("create appproject: %v", err)
	}
	got := &v1alpha1.AppProject{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(proj), got); err != nil {
		t.Fatalf("get appproject: %v", err)
	}
	if !slices.Equal(got.Spec.SourceRepos, []string{"*"}) || len(got.Spec.Destinations) != 1 ||
		got.Spec.Destinations[0].Namespace != "*" ||
		!slices.Equal(got.Spec.ClusterResourceWhitelist, []v1alpha1.ClusterResourceRestrictionItem{{Group: "*", Kind: "*", Name: "*"}}) ||
		!slices.Equal(got.Spec.NamespaceResourceBlacklist, []v1alpha1.GroupKind{{Kind: "ResourceQuota"}}) {
		t.Errorf("appproject spec %+v", got.Spec)
	}
	raw := &unstructured.Unstructured{}
	raw.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(v1alpha1.AppProjectKind))
	if err := c.Get(ctx, client.ObjectKeyFromObject(proj), raw); err != nil {
		t.Fatalf("get appproject unstructured: %v", err)
	}
	for _, path := range [][]string{{"spec", "roles"}, {"spec", "clusterResourceWhitelist"}} {
		if _, found, _ := unstructured.NestedFieldNoCopy(raw.Object, path...); !found {
			t.Errorf("%v pruned", path)
		}
	}
	whitelist, _, _ := unstructured.NestedSlice(raw.Object, "spec", "clusterResourceWhitelist")
	if len(whitelist) != 1 || whitelist[0].(map[string]any)["name"] != "*" {
		t.Errorf("clusterResourceWhitelist = %v, want its name kept", whitelist)
	}
}
