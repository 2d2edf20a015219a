package application_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

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
