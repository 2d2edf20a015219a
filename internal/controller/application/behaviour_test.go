package application_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// newApp returns an Application of the given name syncing path of repo's
// main branch into namespace ns (created by the sync).
func newApp(name, ns string, repo *gitRepo, path string, automated *v1alpha1.SyncPolicyAutomated) *v1alpha1.Application {
	return &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSpec{
			Project:     "default",
			Source:      &v1alpha1.ApplicationSource{RepoURL: repo.url(), TargetRevision: "main", Path: path},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: ns},
			SyncPolicy:  &v1alpha1.SyncPolicy{Automated: automated, SyncOptions: []string{"CreateNamespace=true"}},
		},
	}
}

func create(t *testing.T, app *v1alpha1.Application) {
	t.Helper()
	if err := env.Client.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteCascading(t, app) })
}

// deleteCascading deletes an Application and, through Argo CD's resources
// finalizer, what it deployed, so a test leaves the cluster as it found it.
func deleteCascading(t *testing.T, app client.Object) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":["resources-finalizer.argocd.argoproj.io"]}}`))
	if err := env.Client.Patch(ctx, app, patch); err != nil {
		return // already gone
	}
	_ = env.Client.Delete(ctx, app)
	for ctx.Err() == nil {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), &v1alpha1.Application{}); err != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("application %s not deleted within a minute", app.GetName())
}

func configMap(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  value: %q\n", name, value)
}

func hasCondition(a *v1alpha1.Application, t v1alpha1.ApplicationConditionType, substr string) bool {
	for _, c := range a.Status.Conditions {
		if c.Type == t && strings.Contains(c.Message, substr) {
			return true
		}
	}
	return false
}

func TestExampleProductionWaitsForOperation(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(myappFiles("production", "hello production"))
	head := repo.commit("production")
	app := exampleApplication(t, "myapp-production", repo)
	create(t, app)

	waitApp(t, app, "OutOfSync at main, awaiting a manual sync", func(a *v1alpha1.Application) bool {
		return a.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync && a.Status.Sync.Revision == head && len(a.Status.Resources) == 3
	})
	if cm := live(ctx, t, "v1", "ConfigMap", "production", "myapp-config"); cm != nil {
		t.Fatal("manual-sync application applied objects without an operation")
	}

	// An operation, as `argocd app sync` writes it.
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(`{"operation":{"initiatedBy":{"username":"tester"},"sync":{"revision":"main","syncOptions":["CreateNamespace=true"]}}}`))
	if err := env.Client.Patch(ctx, app, patch); err != nil {
		t.Fatal(err)
	}
	got := waitApp(t, app, "Synced after the operation", func(a *v1alpha1.Application) bool {
		return syncedAt(head)(a) && a.Operation == nil && a.Status.OperationState != nil && a.Status.OperationState.Phase == v1alpha1.OperationSucceeded
	})
	if got.Status.OperationState.Operation.InitiatedBy.Username != "tester" || len(got.Status.History) != 1 {
		t.Errorf("operation state %+v, history %+v", got.Status.OperationState, got.Status.History)
	}
	if g := greeting(ctx, t, "production"); g != "hello production" {
		t.Errorf("greeting = %q", g)
	}
}

func TestSelfHealRevertsDriftAndWithoutItReports(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(myappFiles("heal", "hi"))
	head := repo.commit("heal")
	healing := newApp("heal-on", "heal-on", repo, "apps/heal/myapp", &v1alpha1.SyncPolicyAutomated{SelfHeal: true})
	reporting := newApp("heal-off", "heal-off", repo, "apps/heal/myapp", &v1alpha1.SyncPolicyAutomated{})
	create(t, healing)
	create(t, reporting)
	waitApp(t, healing, "Synced", syncedAt(head))
	waitApp(t, reporting, "Synced", syncedAt(head))

	for _, ns := range []string{"heal-on", "heal-off"} {
		// Scale and relabel by hand, as kubectl does.
		scale := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":5},"metadata":{"labels":{"hand":"made"}}}`))
		d := &unstructured.Unstructured{}
		d.SetAPIVersion("apps/v1")
		d.SetKind("Deployment")
		d.SetNamespace(ns)
		d.SetName("myapp")
		if err := env.Client.Patch(ctx, d, scale, client.FieldOwner("kubectl")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 60e9, "self-heal reverts replicas", func(ctx context.Context) (bool, string) {
		d := live(ctx, t, "apps/v1", "Deployment", "heal-on", "myapp")
		replicas, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
		return replicas == 2, fmt.Sprintf("replicas=%d labels=%v", replicas, d.GetLabels())
	})
	waitApp(t, healing, "Synced again after self-heal", syncedAt(head))
	eventually(t, 30e9, "a DriftDetected event for heal-on", func(ctx context.Context) (bool, string) {
		events := &corev1.EventList{}
		if err := env.Client.List(ctx, events, client.InNamespace("argocd")); err != nil {
			return false, err.Error()
		}
		for _, e := range events.Items {
			if e.Reason == "DriftDetected" && e.InvolvedObject.Name == "heal-on" && strings.Contains(e.Message, "Deployment heal-on/myapp") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, none DriftDetected for heal-on", len(events.Items))
	})
	got := waitApp(t, reporting, "OutOfSync without selfHeal", func(a *v1alpha1.Application) bool {
		return a.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync
	})
	if d := live(ctx, t, "apps/v1", "Deployment", "heal-off", "myapp"); d.GetLabels()["hand"] != "made" {
		t.Errorf("drift reverted without selfHeal: labels %v; %s", d.GetLabels(), describeApp(got))
	}
}

func TestRemovedFileNotPrunedWithoutPrune(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1"), "cms/b.yaml": configMap("b", "1")})
	repo.commit("two")
	app := newApp("noprune", "noprune", repo, "cms", &v1alpha1.SyncPolicyAutomated{Prune: false})
	create(t, app)
	waitApp(t, app, "Synced", func(a *v1alpha1.Application) bool { return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced })

	repo.git("rm", "-q", "cms/b.yaml")
	head := repo.commit("drop b")
	got := waitApp(t, app, "b requires pruning", func(a *v1alpha1.Application) bool {
		for _, r := range a.Status.Resources {
			if r.Name == "b" && r.RequiresPruning {
				return a.Status.Sync.Revision == head && a.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync
			}
		}
		return false
	})
	if live(ctx, t, "v1", "ConfigMap", "noprune", "b") == nil {
		t.Errorf("b pruned without prune: %s", describeApp(got))
	}
}

func TestBrokenYAMLAppliesNothingAndNamesTheFile(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1"), "cms/b.yaml": configMap("b", "1")})
	repo.commit("good")
	app := newApp("broken", "broken", repo, "cms", &v1alpha1.SyncPolicyAutomated{Prune: true})
	create(t, app)
	waitApp(t, app, "Synced", func(a *v1alpha1.Application) bool { return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced })

	// One file changes, another file breaks, a third is removed: none of it
	// may reach the cluster.
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "2"), "cms/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b\ndata: [\n"})
	repo.commit("broken")
	got := waitApp(t, app, "ComparisonError naming cms/b.yaml", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionComparisonError, "cms/b.yaml")
	})
	a := live(ctx, t, "v1", "ConfigMap", "broken", "a")
	if v, _, _ := unstructured.NestedString(a.Object, "data", "value"); v != "1" {
		t.Errorf("a was applied from a broken render: value %q", v)
	}
	if live(ctx, t, "v1", "ConfigMap", "broken", "b") == nil {
		t.Errorf("b was pruned after a broken render: %s", describeApp(got))
	}
}

func TestEmptyRenderPrunesNothing(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1")})
	repo.commit("one")
	app := newApp("empty", "empty", repo, "cms", &v1alpha1.SyncPolicyAutomated{Prune: true})
	create(t, app)
	waitApp(t, app, "Synced", func(a *v1alpha1.Application) bool { return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced })

	repo.git("rm", "-q", "cms/a.yaml")
	repo.write(map[string]string{"cms/README.md": "nothing to deploy\n"})
	head := repo.commit("empty")
	got := waitApp(t, app, "refused to prune everything", func(a *v1alpha1.Application) bool {
		return a.Status.Sync.Revision == head && a.Status.OperationState != nil &&
			a.Status.OperationState.Phase == v1alpha1.OperationFailed && strings.Contains(a.Status.OperationState.Message, "allowEmpty")
	})
	if live(ctx, t, "v1", "ConfigMap", "empty", "a") == nil {
		t.Errorf("an empty render pruned a: %s", describeApp(got))
	}
}

func TestObjectOwnedByAnotherAppIsUntouched(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(map[string]string{"first/cm.yaml": configMap("shared", "first"), "second/cm.yaml": configMap("shared", "second")})
	head := repo.commit("two owners")
	first := newApp("owner-first", "shared", repo, "first", &v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true})
	create(t, first)
	waitApp(t, first, "Synced", syncedAt(head))

	second := newApp("owner-second", "shared", repo, "second", &v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true})
	create(t, second)
	waitApp(t, second, "SharedResourceWarning", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionSharedResourceWarning, "owner-first")
	})
	cm := live(ctx, t, "v1", "ConfigMap", "shared", "shared")
	if v, _, _ := unstructured.NestedString(cm.Object, "data", "value"); v != "first" {
		t.Errorf("second application overwrote the first's object: value %q", v)
	}
	// Deleting the second application's source prunes nothing of the first's.
	repo.git("rm", "-q", "second/cm.yaml")
	repo.write(map[string]string{"second/other.yaml": configMap("other", "x")})
	head = repo.commit("second moves on")
	waitApp(t, second, "Synced at the new revision", syncedAt(head))
	if live(ctx, t, "v1", "ConfigMap", "shared", "shared") == nil {
		t.Error("second application pruned the first's object")
	}
}

func TestSymlinkOutOfTheRepositoryIsRefused(t *testing.T) {
	repo := newGitRepo(t)
	secret := filepath.Join(t.TempDir(), "outside.yaml")
	if err := os.WriteFile(secret, []byte(configMap("leak", "outside")), 0o644); err != nil {
		t.Fatal(err)
	}
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1")})
	if err := os.Symlink(secret, filepath.Join(repo.dir, "cms", "b.yaml")); err != nil {
		t.Fatal(err)
	}
	repo.commit("escape")
	app := newApp("symlink", "symlink", repo, "cms", &v1alpha1.SyncPolicyAutomated{Prune: true})
	create(t, app)
	waitApp(t, app, "ComparisonError naming the link", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionComparisonError, "cms/b.yaml")
	})
	if live(t.Context(), t, "v1", "ConfigMap", "symlink", "leak") != nil || live(t.Context(), t, "v1", "ConfigMap", "symlink", "a") != nil {
		t.Error("objects applied from a repository with an escaping symlink")
	}
}

func TestSecretValuesNeverLeak(t *testing.T) {
	ctx := t.Context()
	const value = "s3cr3t-Ferry-value"
	repo := newGitRepo(t)
	repo.write(map[string]string{"app/secret.yaml": fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: %s\n", value)})
	head := repo.commit("secret")
	app := newApp("secret", "secret", repo, "app", &v1alpha1.SyncPolicyAutomated{SelfHeal: true})
	create(t, app)
	waitApp(t, app, "Synced", syncedAt(head))
	// Drift on the Secret, reverted by self-heal.
	s := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "secret", Name: "creds"}, s); err != nil {
		t.Fatal(err)
	}
	s.Data["password"] = []byte("changed-by-hand")
	if err := env.Client.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60e9, "self-heal restores the secret", func(ctx context.Context) (bool, string) {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "secret", Name: "creds"}, s); err != nil {
			return false, err.Error()
		}
		return string(s.Data["password"]) == value, "password changed"
	})
	got := getApp(ctx, t, app)
	statusYAML, _ := yaml.Marshal(got)
	events := &corev1.EventList{}
	if err := env.Client.List(ctx, events, client.InNamespace("argocd")); err != nil {
		t.Fatal(err)
	}
	eventsYAML, _ := yaml.Marshal(events)
	for what, text := range map[string]string{"status": string(statusYAML), "events": string(eventsYAML), "controller log": env.Logs.String()} {
		for _, v := range []string{value, "changed-by-hand"} {
			if strings.Contains(text, v) {
				t.Errorf("%s contains the secret value %q", what, v)
			}
		}
	}
}

func TestUnknownDestinationAndUnsupportedFieldsAreReported(t *testing.T) {
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1")})
	repo.commit("one")
	app := newApp("elsewhere", "elsewhere", repo, "cms", &v1alpha1.SyncPolicyAutomated{})
	app.Spec.Destination.Server = "https://prod-us-east.example.com"
	create(t, app)
	waitApp(t, app, "cluster not registered", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionInvalidSpecError, "cluster not registered")
	})

	helm := &unstructured.Unstructured{}
	data := fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: with-plugin, namespace: argocd}
spec:
  project: default
  source: {repoURL: %q, targetRevision: main, path: cms, plugin: {name: cmp}}
  destination: {server: "https://kubernetes.default.svc", namespace: with-plugin}
`, repo.url())
	if err := yaml.Unmarshal([]byte(data), &helm.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(t.Context(), helm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteCascading(t, helm) })
	waitApp(t, &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "with-plugin"}}, "UnsupportedField spec.source.plugin",
		func(a *v1alpha1.Application) bool {
			return hasCondition(a, v1alpha1.ApplicationConditionUnsupportedField, "spec.source.plugin")
		})
}
