package application_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/gittest"
)

// serveHTTP serves a bare copy of repo over Git's smart HTTP protocol,
// requiring basic auth with user and password.
func serveHTTP(t *testing.T, repo *gitRepo, user, password string) string {
	t.Helper()
	root := t.TempDir()
	gittest.BareClone(t, repo.dir, root, "gitops-repo.git")
	srv, _ := gittest.HTTPServer(t, root, user, password)
	return srv.URL + "/gitops-repo.git"
}

// TestRepositorySecretCredentials: an https repository behind basic auth is
// refused without credentials, then read with Argo CD's repository Secret;
// the password appears nowhere in the Application.
func TestRepositorySecretCredentials(t *testing.T) {
	ctx := t.Context()
	const password = "hunter2-ferry-token"
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "private")})
	head := repo.commit("private")
	url := serveHTTP(t, repo, "deploy", password)

	app := newApp("private", "private", repo, "cms", &v1alpha1.SyncPolicyAutomated{})
	app.Spec.Source.RepoURL = url
	create(t, app)
	waitApp(t, app, "ComparisonError without credentials", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionComparisonError, "authentication")
	})

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "private-repo", Namespace: "argocd",
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: map[string]string{"type": "git", "url": url, "username": "deploy", "password": password},
	}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), secret) })
	refresh(ctx, t, app, "normal")
	got := waitApp(t, app, "Synced with the repository Secret", syncedAt(head))
	if strings.Contains(describeApp(got), password) {
		t.Error("the password appears in the Application's status")
	}
	if strings.Contains(env.Logs.String(), password) {
		t.Error("the password appears in the controller log")
	}
}
