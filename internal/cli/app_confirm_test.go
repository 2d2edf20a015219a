package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
)

func TestApprovalTime(t *testing.T) {
	ctx := context.Background()
	req := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name           string
		now, requested time.Time
		want           time.Time
		fails          bool
	}{
		{name: "nothing requested: now, to the second", now: req.Add(1500 * time.Millisecond), want: req.Add(time.Second)},
		{name: "a second after the request: now", now: req.Add(time.Second), requested: req, want: req.Add(time.Second)},
		{name: "in the request's second: the next one", now: req.Add(999 * time.Millisecond), requested: req.Add(time.Millisecond), want: req.Add(time.Second)},
		{name: "request in another zone", now: req.Add(time.Minute).In(time.FixedZone("x", 7200)), requested: req, want: req.Add(time.Minute)},
		{name: "request far ahead of this clock", now: req, requested: req.Add(time.Minute), fails: true},
	} {
		got, err := approvalTime(ctx, tt.now, tt.requested)
		if (err != nil) != tt.fails || !got.Equal(tt.want) || (err == nil && got.Location() != time.UTC) {
			t.Errorf("%s: approvalTime = %v, %v; want %v (fails %v)", tt.name, got, err, tt.want, tt.fails)
		}
	}
}

// TestAppConfirmDeletion: an automated Application holds the prune of a
// ConfigMap marked Prune=confirm; `ferry app confirm-deletion` prints it
// and approves, and the controller prunes it.
func TestAppConfirmDeletion(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	cms := filepath.Join(dir, "cms")
	if err := os.MkdirAll(cms, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"a.yaml":       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"guarded.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guarded\n  annotations:\n    argocd.argoproj.io/sync-options: Prune=confirm\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(cms, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "two")
	if out, err := ferry(t, "app", "create", "confirmer", "--repo", "file://"+dir, "--path", "cms", "--revision", "main",
		"--dest-namespace", "confirmer", "--sync-policy", "automated", "--auto-prune", "--sync-option", "CreateNamespace=true"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	cleanupApp(t, "confirmer")
	if out, err := ferry(t, "app", "wait", "confirmer", "--sync", "--timeout", "1m"); err != nil {
		t.Fatalf("wait: %v\n%s", err, out)
	}

	out, err := ferry(t, "app", "confirm-deletion", "confirmer")
	if err != nil || !strings.Contains(out, "No object was waiting") {
		t.Errorf("confirm-deletion with nothing waiting: %v\n%s", err, out)
	}

	git(t, dir, "rm", "-q", "cms/guarded.yaml")
	git(t, dir, "commit", "-q", "-m", "drop guarded")
	key := client.ObjectKey{Namespace: "argocd", Name: "confirmer"}
	pollUntil(t, "the prune held for confirmation", func(ctx context.Context) bool {
		app := &v1alpha1.Application{}
		return env.Client.Get(ctx, key, app) == nil && appstate.PendingConfirmation(app) != nil
	})
	guarded := client.ObjectKey{Namespace: "confirmer", Name: "guarded"}
	if err := env.Client.Get(t.Context(), guarded, &corev1.ConfigMap{}); err != nil {
		t.Fatalf("the ConfigMap marked Prune=confirm: %v", err)
	}

	out, err = ferry(t, "app", "confirm-deletion", "confirmer")
	if err != nil || !strings.Contains(out, "ConfigMap confirmer/guarded") || !strings.Contains(out, "pruned by the next sync") {
		t.Fatalf("confirm-deletion: %v\n%s", err, out)
	}
	pollUntil(t, "the ConfigMap pruned after approval", func(ctx context.Context) bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, guarded, &corev1.ConfigMap{}))
	})

	if _, err := ferry(t, "app", "confirm-deletion", "no-such-app"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("confirm-deletion of a missing app: err = %v", err)
	}
}

// pollUntil polls cond for up to a minute.
func pollUntil(t *testing.T, what string, cond func(context.Context) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond(t.Context()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
