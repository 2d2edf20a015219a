package application_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// myappFiles lays out apps/<env>/myapp as the example repository does: a
// Kustomize directory with a Deployment (no strategy), a Service (no
// clusterIP) and a ConfigMap whose greeting the tests change.
func myappFiles(env, greeting string) map[string]string {
	dir := "apps/" + env + "/myapp/"
	return map[string]string{
		dir + "kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
  - configmap.yaml
`,
		dir + "deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: myapp
spec:
  replicas: 2
  selector:
    matchLabels:
      app: myapp
  template:
    metadata:
      labels:
        app: myapp
    spec:
      containers:
        - name: myapp
          image: registry.example.com/myapp:1.2.3
          ports:
            - containerPort: 8080
`,
		dir + "service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: myapp
spec:
  selector:
    app: myapp
  ports:
    - port: 80
      targetPort: 8080
`,
		dir + "configmap.yaml": fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: myapp-config
data:
  DATABASE_HOST: postgres.database.svc
  GREETING: %q
`, greeting),
	}
}

func greeting(ctx context.Context, t *testing.T, ns string) string {
	t.Helper()
	cm := live(ctx, t, "v1", "ConfigMap", ns, "myapp-config")
	if cm == nil {
		return "<missing>"
	}
	data, _, _ := unstructuredString(cm.Object, "data", "GREETING")
	return data
}

// TestExampleStagingFollowsGit runs the example staging Application verbatim:
// automated with prune, selfHeal and CreateNamespace, on the staging branch.
func TestExampleStagingFollowsGit(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(myappFiles("staging", "hello"))
	repo.commit("initial")
	repo.git("checkout", "-q", "-b", "staging")
	repo.write(myappFiles("staging", "hello staging"))
	first := repo.commit("staging: greet")

	app := exampleApplication(t, "myapp-staging", repo)
	if err := env.Client.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteCascading(t, app) })

	got := waitApp(t, app, "Synced and Healthy at the first commit", func(a *v1alpha1.Application) bool {
		return syncedAt(first)(a) && healthy(a)
	})
	if g := greeting(ctx, t, "staging"); g != "hello staging" {
		t.Errorf("greeting = %q, want %q", g, "hello staging")
	}
	if len(got.Status.Resources) != 3 || len(got.Status.History) != 1 || got.Status.History[0].Revision != first {
		t.Errorf("status after first sync: %s; history %+v", describeApp(got), got.Status.History)
	}
	if got.Status.SourceType != v1alpha1.ApplicationSourceTypeKustomize {
		t.Errorf("sourceType = %q, want Kustomize", got.Status.SourceType)
	}

	// Defaulted fields (Service clusterIP, Deployment strategy) are no drift:
	// a commit that changes nothing of the path makes a full comparison
	// (every object dry-run against its live one), which finds it Synced
	// at the new commit without a sync. A hard refresh then finds it so too.
	unchanged := repo.commit("staging: nothing of the path")
	refresh(ctx, t, app, "normal")
	waitApp(t, app, "Synced at a commit that changed nothing", syncedAt(unchanged))
	refresh(ctx, t, app, "hard")
	waitApp(t, app, "compared again after a hard refresh", func(a *v1alpha1.Application) bool {
		return a.Annotations["argocd.argoproj.io/refresh"] == ""
	})
	if a := getApp(ctx, t, app); a.Status.Sync.Status != v1alpha1.SyncStatusCodeSynced || len(a.Status.History) != 1 {
		t.Errorf("after a commit and a hard refresh with nothing changed: %s, %d history entries", describeApp(a), len(a.Status.History))
	}

	// A commit is applied.
	repo.write(myappFiles("staging", "hello again"))
	second := repo.commit("staging: greet again")
	waitApp(t, app, "Synced at the second commit", syncedAt(second))
	if g := greeting(ctx, t, "staging"); g != "hello again" {
		t.Errorf("greeting after commit = %q", g)
	}

	// git revert brings the previous state back.
	repo.git("revert", "--no-edit", "HEAD")
	reverted := repo.git("rev-parse", "HEAD")
	waitApp(t, app, "Synced at the revert", syncedAt(reverted))
	if g := greeting(ctx, t, "staging"); g != "hello staging" {
		t.Errorf("greeting after revert = %q", g)
	}

	// A removed file is pruned (automated.prune is on).
	repo.git("rm", "-q", "apps/staging/myapp/service.yaml")
	repo.write(map[string]string{"apps/staging/myapp/kustomization.yaml": "resources:\n  - deployment.yaml\n  - configmap.yaml\n"})
	removed := repo.commit("staging: drop the service")
	waitApp(t, app, "Synced after removing the Service", syncedAt(removed))
	if svc := live(ctx, t, "v1", "Service", "staging", "myapp"); svc != nil {
		t.Errorf("Service not pruned")
	}
	a := getApp(ctx, t, app)
	if n := len(a.Status.History); n != 4 {
		t.Errorf("history has %d entries, want 4: %+v", n, a.Status.History)
	}
}

func refresh(ctx context.Context, t *testing.T, app *v1alpha1.Application, mode string) {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(fmt.Sprintf(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":%q}}}`, mode)))
	if err := env.Client.Patch(ctx, &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}}, patch); err != nil {
		t.Fatal(err)
	}
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	cur := any(obj)
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur, ok = m[f]
		if !ok {
			return "", false, nil
		}
	}
	s, ok := cur.(string)
	return s, ok, nil
}
