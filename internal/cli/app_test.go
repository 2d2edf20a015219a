package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/controller/controllertest"
	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/localcluster"
)

var env controllertest.Env

func TestMain(m *testing.M) { os.Exit(controllertest.Run(m, &env)) }

// ferry runs the CLI in-process as the non-admin user of the local cluster.
func ferry(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := NewRootCmd(IOStreams{In: strings.NewReader(""), Out: &out, Err: &out})
	if args[0] == "app" || args[0] == "promote" {
		args = append(args, "--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext)
	}
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// cleanupApp deletes the Application and what it deployed when the test
// ends, so tests can run again on the same cluster.
func cleanupApp(t *testing.T, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = deleteApp(ctx, env.Client, client.ObjectKey{Namespace: "argocd", Name: name}, true, time.Minute, io.Discard)
	})
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commitGreeting commits apps/production/myapp: a ConfigMap carrying
// greeting and a ServiceAccount that never changes; it returns the commit.
func commitGreeting(t *testing.T, dir, greeting string) string {
	t.Helper()
	app := filepath.Join(dir, "apps", "production", "myapp")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	cm := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: myapp-config\ndata:\n  GREETING: %q\n", greeting)
	files := map[string]string{
		"kustomization.yaml":  "resources:\n  - configmap.yaml\n  - serviceaccount.yaml\n",
		"configmap.yaml":      cm,
		"serviceaccount.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: myapp\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(app, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", greeting)
	return git(t, dir, "rev-parse", "HEAD")
}

func liveGreeting(t *testing.T) string {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: "production", Name: "myapp-config"}, cm); err != nil {
		return "<" + err.Error() + ">"
	}
	return cm.Data["GREETING"]
}

// TestExampleCommands runs three argocd CLI forms of the example workflow
// verbatim with ferry in place of argocd: history, rollback to id 3 after
// four syncs, and sync to a specific commit.
func TestExampleCommands(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	commits := []string{commitGreeting(t, dir, "one")}

	var app *v1alpha1.Application
	docs, err := examples.ApplicationDocuments()
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		a := &v1alpha1.Application{}
		if err := yaml.Unmarshal(doc, a); err != nil {
			t.Fatal(err)
		}
		if a.Name == "myapp-production" {
			app = a
		}
	}
	app.Spec.Source.RepoURL = "file://" + dir
	if err := env.Client.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	cleanupApp(t, app.Name)

	for i, greeting := range []string{"one", "two", "three", "four"} {
		if i > 0 {
			commits = append(commits, commitGreeting(t, dir, greeting))
		}
		out, err := ferry(t, "app", "sync", "myapp-production")
		if err != nil {
			t.Fatalf("ferry app sync (%s): %v\n%s", greeting, err, out)
		}
		if !strings.Contains(out, "Phase:") || !strings.Contains(out, "Succeeded") || liveGreeting(t) != greeting {
			t.Fatalf("after sync %d: greeting %q; output:\n%s", i+1, liveGreeting(t), out)
		}
	}

	out, err := ferry(t, "app", "history", "myapp-production")
	if err != nil {
		t.Fatalf("ferry app history: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("history:\n%s", out)
	}
	for i, line := range lines[1:] {
		if !strings.HasPrefix(line, fmt.Sprint(i+1)) || !strings.Contains(line, commits[i][:7]) {
			t.Errorf("history line %d = %q, want id %d and %s", i+1, line, i+1, commits[i][:7])
		}
	}

	out, err = ferry(t, "app", "history", "myapp-production", "-o", "wide")
	if err != nil || !strings.Contains(out, commits[1]+"  two") {
		t.Errorf("history -o wide lacks commit messages: %v\n%s", err, out)
	}

	out, err = ferry(t, "app", "rollback", "myapp-production", "3")
	if err != nil || liveGreeting(t) != "three" {
		t.Fatalf("ferry app rollback myapp-production 3: %v, greeting %q\n%s", err, liveGreeting(t), out)
	}

	out, err = ferry(t, "app", "sync", "myapp-production", "--revision", commits[1][:7])
	if err != nil || liveGreeting(t) != "two" || !strings.Contains(out, commits[1]) {
		t.Fatalf("ferry app sync --revision %s: %v, greeting %q\n%s", commits[1][:7], err, liveGreeting(t), out)
	}

	out, err = ferry(t, "app", "list")
	if err != nil || !strings.Contains(out, "argocd/myapp-production") || !strings.Contains(out, "Manual") {
		t.Errorf("ferry app list: %v\n%s", err, out)
	}
	out, err = ferry(t, "app", "get", "myapp-production", "--refresh")
	if err != nil || !strings.Contains(out, "ConfigMap") || !strings.Contains(out, "myapp-config") {
		t.Errorf("ferry app get: %v\n%s", err, out)
	}
}

func TestRollbackRefusedWhenAutoSyncIsOn(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	commitGreeting(t, dir, "auto")
	app := &v1alpha1.Application{}
	app.Namespace, app.Name = "argocd", "auto"
	app.Spec = v1alpha1.ApplicationSpec{
		Project:     "default",
		Source:      &v1alpha1.ApplicationSource{RepoURL: "file://" + dir, TargetRevision: "main", Path: "apps/production/myapp"},
		Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "auto"},
		SyncPolicy:  &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{}, SyncOptions: []string{"CreateNamespace=true"}},
	}
	if err := env.Client.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	cleanupApp(t, app.Name)
	out, err := ferry(t, "app", "wait", "auto", "--sync", "--timeout", "1m")
	if err != nil {
		t.Fatalf("ferry app wait: %v\n%s", err, out)
	}
	out, err = ferry(t, "app", "rollback", "auto")
	if err == nil || !strings.Contains(err.Error(), "auto-sync is enabled") || !strings.Contains(err.Error(), "--disable-auto-sync") {
		t.Errorf("rollback of an automated app: err = %v\n%s", err, out)
	}
}

func TestAppDiffExitCodesAndLocal(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	commitGreeting(t, dir, "same")
	out, err := ferry(t, "app", "create", "differ", "--repo", "file://"+dir, "--path", "apps/production/myapp",
		"--revision", "main", "--dest-namespace", "differ", "--sync-policy", "automated", "--sync-option", "CreateNamespace=true")
	if err != nil {
		t.Fatalf("ferry app create: %v\n%s", err, out)
	}
	cleanupApp(t, "differ")
	if out, err := ferry(t, "app", "wait", "differ", "--timeout", "1m"); err != nil {
		t.Fatalf("ferry app wait: %v\n%s", err, out)
	}
	out, err = ferry(t, "app", "diff", "differ")
	if err != nil {
		t.Fatalf("diff of a synced app: exit %d (want 0), %v\n%s", ExitCode(err), err, out)
	}

	// A pull request's working tree, previewed against the cluster.
	cm := filepath.Join(dir, "apps", "production", "myapp", "configmap.yaml")
	if err := os.WriteFile(cm, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: myapp-config\ndata:\n  GREETING: \"changed\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = ferry(t, "app", "diff", "differ", "--local", dir)
	if ExitCode(err) != 1 || !strings.Contains(out, `-  GREETING: same`) || !strings.Contains(out, `+  GREETING: changed`) {
		t.Errorf("diff --local: exit %d (%v), want 1 with the change:\n%s", ExitCode(err), err, out)
	}
	if _, err := ferry(t, "app", "diff", "no-such-app"); ExitCode(err) != 2 {
		t.Errorf("diff of a missing app: exit %d, want 2", ExitCode(err))
	}
}

func TestAppDeleteCascadeAndKeep(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	commitGreeting(t, dir, "x")
	for _, tc := range []struct {
		name    string
		cascade string
		kept    bool
	}{{"cascade", "--cascade=true", false}, {"keep", "--cascade=false", true}} {
		out, err := ferry(t, "app", "create", tc.name, "--repo", "file://"+dir, "--path", "apps/production/myapp",
			"--revision", "main", "--dest-namespace", tc.name, "--sync-policy", "automated", "--sync-option", "CreateNamespace=true")
		if err != nil {
			t.Fatalf("create %s: %v\n%s", tc.name, err, out)
		}
		if out, err := ferry(t, "app", "wait", tc.name, "--sync", "--timeout", "1m"); err != nil {
			t.Fatalf("wait %s: %v\n%s", tc.name, err, out)
		}
		if out, err := ferry(t, "app", "delete", tc.name, tc.cascade); err != nil {
			t.Fatalf("delete %s: %v\n%s", tc.name, err, out)
		}
		cm := &corev1.ConfigMap{}
		err = env.Client.Get(t.Context(), client.ObjectKey{Namespace: tc.name, Name: "myapp-config"}, cm)
		if kept := err == nil; kept != tc.kept {
			t.Errorf("%s: ConfigMap kept = %v, want %v (%v)", tc.name, kept, tc.kept, err)
		}
	}
}

func TestCompletionListsApplications(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	commitGreeting(t, dir, "c")
	if out, err := ferry(t, "app", "create", "complete-me", "--repo", "file://"+dir, "--path", "apps/production/myapp", "--dest-namespace", "complete-me"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	cleanupApp(t, "complete-me")
	// The word being completed must come last, so the kubeconfig comes
	// from the environment here.
	t.Setenv("KUBECONFIG", env.Cluster.KubeconfigPath())
	var buf bytes.Buffer
	cmd := NewRootCmd(IOStreams{In: strings.NewReader(""), Out: &buf, Err: &buf})
	cmd.SetArgs([]string{"__complete", "app", "get", "complete-"})
	err := cmd.ExecuteContext(t.Context())
	out := buf.String()
	if err != nil || !strings.Contains(out, "complete-me") {
		t.Errorf("completion of app names: %v\n%s", err, out)
	}
}

func TestAppGetTree(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	app := filepath.Join(dir, "web")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	deploy := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "web:1"}]
`
	if err := os.WriteFile(filepath.Join(app, "deployment.yaml"), []byte(deploy), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "web")
	if out, err := ferry(t, "app", "create", "tree", "--repo", "file://"+dir, "--path", "web", "--revision", "main",
		"--dest-namespace", "tree", "--sync-policy", "automated", "--sync-option", "CreateNamespace=true"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	cleanupApp(t, "tree")
	if out, err := ferry(t, "app", "wait", "tree", "--timeout", "2m"); err != nil {
		t.Fatalf("wait: %v\n%s", err, out)
	}
	out, err := ferry(t, "app", "get", "tree", "-o", "tree")
	if err != nil || !strings.Contains(out, "Deployment/web Synced Healthy") || !strings.Contains(out, "ReplicaSet/web-") || strings.Count(out, "Pod/web-") != 2 {
		t.Errorf("tree: %v\n%s", err, out)
	}
}

// TestSyncReportsProgressWhileRunning: a requested sync of many objects
// shows results in status while it still runs, and `ferry app sync` prints
// a line per resource.
func TestSyncReportsProgressWhileRunning(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d\ndata:\n  v: %q\n---\n", i, fmt.Sprint(i))
	}
	if err := os.MkdirAll(filepath.Join(dir, "many"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "many", "cms.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "many")
	if out, err := ferry(t, "app", "create", "many", "--repo", "file://"+dir, "--path", "many", "--revision", "main",
		"--dest-namespace", "many", "--sync-option", "CreateNamespace=true"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	cleanupApp(t, "many")
	if out, err := ferry(t, "app", "wait", "many", "--operation", "--timeout", "1m"); err != nil {
		t.Fatalf("wait: %v\n%s", err, out)
	}

	w, err := env.Client.Watch(t.Context(), &v1alpha1.ApplicationList{}, client.InNamespace("argocd"))
	if err != nil {
		t.Fatal(err)
	}
	partial := make(chan int, 1)
	go func() {
		most := 0
		defer func() { partial <- most }()
		for ev := range w.ResultChan() {
			app, ok := ev.Object.(*v1alpha1.Application)
			if !ok || app.Name != "many" {
				continue
			}
			if st := app.Status.OperationState; st != nil && st.Phase == v1alpha1.OperationRunning && st.SyncResult != nil {
				most = max(most, len(st.SyncResult.Resources))
			}
		}
	}()
	out, err := ferry(t, "app", "sync", "many")
	w.Stop()
	if err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	n := <-partial
	t.Logf("running sync reported %d of 300 results before finishing; %d progress lines printed", n, strings.Count(out, "  Sync wave "))
	if n == 0 || n >= 300 {
		t.Errorf("the running sync reported %d of 300 results before it finished; want some, not all", n)
	}
	if strings.Count(out, "  Sync wave ") == 0 {
		t.Errorf("ferry app sync printed no progress line while the sync ran:\n%.2000s", out)
	}
	if !strings.Contains(out, "Syncing many...") || strings.Count(out, "ConfigMap") < 300 {
		t.Errorf("sync output lacks the per-resource results:\n%.2000s", out)
	}
}
