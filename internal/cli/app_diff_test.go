package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
)

// TestAppDiffAgreesWithTheController: after a commit that changes one object
// and removes another, `ferry app diff` lists exactly the resources the
// controller's status reports out of sync at that revision, the removed one
// as requiring pruning (and what prune would do with it).
func TestAppDiffAgreesWithTheController(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	commitGreeting(t, dir, "before")
	out, err := ferry(t, "app", "create", "agree", "--repo", "file://"+dir, "--path", "apps/production/myapp",
		"--revision", "main", "--dest-namespace", "agree", "--sync-option", "CreateNamespace=true")
	if err != nil {
		t.Fatalf("ferry app create: %v\n%s", err, out)
	}
	cleanupApp(t, "agree")
	if out, err := ferry(t, "app", "sync", "agree"); err != nil {
		t.Fatalf("ferry app sync: %v\n%s", err, out)
	}

	app := filepath.Join(dir, "apps", "production", "myapp")
	if err := os.WriteFile(filepath.Join(app, "kustomization.yaml"), []byte("resources:\n  - configmap.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "configmap.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: myapp-config\ndata:\n  GREETING: \"after\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-qm", "change the greeting, drop the ServiceAccount")
	head := git(t, dir, "rev-parse", "HEAD")
	if out, err := ferry(t, "app", "get", "agree", "--refresh"); err != nil {
		t.Fatalf("refresh: %v\n%s", err, out)
	}

	got := waitOutOfSyncAt(t, "agree", head)
	var fromStatus []string
	for _, r := range got.Status.Resources {
		if r.Status != v1alpha1.SyncStatusCodeSynced || r.RequiresPruning {
			fromStatus = append(fromStatus, appstate.ResourceKey(r).String())
		}
	}

	out, err = ferry(t, "app", "diff", "agree")
	if ExitCode(err) != 1 {
		t.Fatalf("diff: exit %d (%v), want 1:\n%s", ExitCode(err), err, out)
	}
	var fromDiff []string
	for _, m := range regexp.MustCompile(`(?m)^===== (.+?)(?: \(.*\))? ======$`).FindAllStringSubmatch(out, -1) {
		fromDiff = append(fromDiff, m[1])
	}
	slices.Sort(fromStatus)
	slices.Sort(fromDiff)
	if !slices.Equal(fromStatus, fromDiff) || len(fromDiff) != 2 {
		t.Errorf("diff lists %q, the controller's status %q: want the same two resources\n%s", fromDiff, fromStatus, out)
	}
	for _, want := range []string{"ServiceAccount agree/myapp (requires pruning: a sync with prune deletes it)",
		"-  GREETING: before", "+  GREETING: after", "-kind: ServiceAccount"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff output lacks %q:\n%s", want, out)
		}
	}
}

// waitOutOfSyncAt waits until the controller reports Application name (in
// argocd) OutOfSync at revision.
func waitOutOfSyncAt(t *testing.T, name, revision string) *v1alpha1.Application {
	t.Helper()
	app := &v1alpha1.Application{}
	deadline := time.Now().Add(time.Minute)
	for {
		if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: "argocd", Name: name}, app); err != nil {
			t.Fatal(err)
		}
		if app.Status.Sync.Revision == revision && app.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync {
			return app
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not OutOfSync at %s: %+v", name, revision, app.Status.Sync)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
