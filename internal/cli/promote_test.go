package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// TestPromoteStagingToMain: a change on staging, previewed with --dry-run for
// the Application that follows main, then promoted; the production
// Application then shows OutOfSync for exactly that change.
func TestPromoteStagingToMain(t *testing.T) {
	work := t.TempDir()
	git(t, work, "init", "-q", "-b", "main")
	commitGreeting(t, work, "one")
	git(t, work, "checkout", "-q", "-b", "staging")
	commitGreeting(t, work, "two")
	bare := filepath.Join(t.TempDir(), "gitops-repo.git")
	git(t, work, "clone", "-q", "--bare", work, bare)

	out, err := ferry(t, "app", "create", "promo-prod", "--repo", "file://"+bare, "--path", "apps/production/myapp",
		"--revision", "main", "--dest-namespace", "promo", "--sync-option", "CreateNamespace=true")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	cleanupApp(t, "promo-prod")
	if out, err := ferry(t, "app", "sync", "promo-prod"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	mainBefore := git(t, bare, "rev-parse", "main")

	out, err = ferry(t, "promote", "--from", "staging", "--to", "main", "--repo", bare, "--dry-run")
	if err != nil {
		t.Fatalf("promote --dry-run: %v\n%s", err, out)
	}
	for _, want := range []string{"Application argocd/promo-prod", "-  GREETING: one", "+  GREETING: two", "apps/production/myapp/configmap.yaml"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	if got := git(t, bare, "rev-parse", "main"); got != mainBefore {
		t.Fatalf("--dry-run pushed: main %s → %s", mainBefore, got)
	}

	out, err = ferry(t, "promote", "--from", "staging", "--to", "main", "--repo", bare)
	if err != nil || !strings.Contains(out, "Pushed main") {
		t.Fatalf("promote: %v\n%s", err, out)
	}
	head := git(t, bare, "rev-parse", "main")
	app := waitOutOfSyncAt(t, "promo-prod", head)
	var outOfSync []string
	for _, r := range app.Status.Resources {
		if r.Status != v1alpha1.SyncStatusCodeSynced {
			outOfSync = append(outOfSync, r.Kind+"/"+r.Name)
		}
	}
	if len(app.Status.Resources) != 2 || len(outOfSync) != 1 || outOfSync[0] != "ConfigMap/myapp-config" {
		t.Errorf("out of sync after the promotion: %v, want exactly ConfigMap/myapp-config", outOfSync)
	}
}

// TestPromoteDryRunInsideInitRepoOffline is the newcomer's path: `ferry
// init`, a change on staging, then `ferry promote --from staging --to main
// --dry-run` from inside the repository, with no kubeconfig anywhere. The
// default --repo . must name the repository (not the temporary clone), and
// the preview must come from the Applications the repository declares.
func TestPromoteDryRunInsideInitRepoOffline(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", filepath.Join(home, "no-such-kubeconfig"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	dir := filepath.Join(t.TempDir(), "gitops-repo")
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := NewRootCmd(IOStreams{In: strings.NewReader(""), Out: &out, Err: &out})
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(t.Context())
		return out.String(), err
	}
	if out, err := run("init", dir); err != nil {
		t.Fatalf("ferry init: %v\n%s", err, out)
	}
	git(t, dir, "checkout", "-q", "staging")
	deployment := filepath.Join(dir, "apps", "production", "frontend", "deployment.yaml")
	data, err := os.ReadFile(deployment)
	if err != nil {
		t.Fatal(err)
	}
	bumped := strings.Replace(string(data), "frontend:1.0.0", "frontend:1.1.0", 1)
	if bumped == string(data) {
		t.Fatalf("the scaffold's frontend image changed; update this test:\n%s", data)
	}
	if err := os.WriteFile(deployment, []byte(bumped), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "commit", "-qam", "frontend 1.1.0")
	mainBefore := git(t, dir, "rev-parse", "main")

	t.Chdir(dir)
	out, err := run("promote", "--from", "staging", "--to", "main", "--dry-run")
	if err != nil {
		t.Fatalf("promote --dry-run inside the init repository, offline: %v\n%s", err, out)
	}
	for _, want := range []string{"No cluster configured", "Application argocd/frontend-production:",
		"-      - image: registry.example.com/frontend:1.0.0", "+      - image: registry.example.com/frontend:1.1.0",
		"Application argocd/backend-production:\n  no rendered object changes"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "staging:") || strings.Contains(out, "frontend-staging") {
		t.Errorf("an Application following staging was previewed:\n%s", out)
	}
	if got := git(t, dir, "rev-parse", "main"); got != mainBefore {
		t.Errorf("--dry-run moved main: %s → %s", mainBefore, got)
	}
}
