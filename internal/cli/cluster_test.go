package cli

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/localcluster"
)

// This file holds what the cluster command tests share and the lifecycle
// test that runs every verb in turn; each verb's own tests are in
// cluster_add_test.go, cluster_list_test.go and cluster_rm_test.go.

// ferryCluster runs `ferry cluster ARGS` with the local cluster's user
// context as the Ferry side.
func ferryCluster(t *testing.T, args ...string) (string, error) {
	t.Helper()
	args = append([]string{"cluster"}, args...)
	return ferry(t, append(args, "--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext)...)
}

// clusterObjects are what `ferry cluster add` creates with its defaults,
// plus the cluster Secret secretName.
func clusterObjects(secretName string) []client.Object {
	meta := func(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
	return []client.Object{
		&corev1.Secret{ObjectMeta: meta("argocd", secretName)},
		&corev1.Secret{ObjectMeta: meta("kube-system", "ferry-manager-long-lived-token")},
		&rbacv1.ClusterRoleBinding{ObjectMeta: meta("", clusterRoleBinding)},
		&rbacv1.ClusterRole{ObjectMeta: meta("", clusterRoleName)},
		&corev1.ServiceAccount{ObjectMeta: meta("kube-system", "ferry-manager")},
	}
}

// deleteClusterObjects deletes clusterObjects, ignoring those already gone.
func deleteClusterObjects(t *testing.T, ctx context.Context, secretName string) {
	t.Helper()
	for _, obj := range clusterObjects(secretName) {
		if err := env.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("clean up %T %s: %v", obj, obj.GetName(), err)
		}
	}
}

// createClusterSecret creates a cluster Secret in argocd with data, deleted
// when the test ends, as someone might write one by hand.
func createClusterSecret(t *testing.T, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: name, Labels: map[string]string{cluster.SecretTypeLabel: "cluster"}},
		StringData: data,
	}
	if err := env.Client.Create(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := env.Client.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("clean up Secret %s: %v", name, err)
		}
	})
}

// TestClusterLifecycle registers the local cluster through its admin
// context (Ferry's side is the user context of the same cluster), then
// lists, gets and removes it.
func TestClusterLifecycle(t *testing.T) {
	server := env.Cluster.Server()
	secretName, err := clusterSecretName(server)
	if err != nil {
		t.Fatal(err)
	}
	deleteClusterObjects(t, t.Context(), secretName)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		deleteClusterObjects(t, ctx, secretName)
	})
	var outputs strings.Builder
	run := func(args ...string) (string, error) {
		out, err := ferryCluster(t, args...)
		outputs.WriteString(out)
		if err != nil {
			outputs.WriteString(err.Error())
		}
		return out, err
	}

	add := []string{"add", localcluster.AdminContext, "--name", "prod-us-east", "--label", "environment=production", "--label", "region=us-east"}
	out, err := run(add...)
	if err != nil {
		t.Fatalf("cluster add: %v\n%s", err, out)
	}
	for _, line := range []string{
		"ServiceAccount kube-system/ferry-manager created",
		"ClusterRole ferry-manager-role created",
		"ClusterRoleBinding ferry-manager-role-binding created",
		"Secret kube-system/ferry-manager-long-lived-token created",
		"Secret argocd/" + secretName + " created",
		"Cluster '" + server + "' added as prod-us-east",
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("cluster add output lacks %q:\n%s", line, out)
		}
	}
	cl := checkClusterSecret(t, secretName, map[string]string{"environment": "production", "region": "us-east"})
	checkServiceAccountAccess(t, cl)

	out, err = run(add...)
	if err != nil || strings.Contains(out, "created") || !strings.Contains(out, "Secret argocd/"+secretName+" unchanged") {
		t.Errorf("second cluster add: %v, want every object unchanged:\n%s", err, out)
	}
	staging := []string{"add", localcluster.AdminContext, "--name", "prod-us-east", "--label", "environment=staging", "--label", "region=us-east"}
	out, err = run(staging...)
	if err == nil || !strings.Contains(err.Error(), "cluster "+server+" already registered as prod-us-east") || !strings.Contains(err.Error(), "--upsert") {
		t.Errorf("cluster add with other labels, without --upsert: err = %v", err)
	}
	if out != "" {
		t.Errorf("cluster add refused for want of --upsert still touched the target cluster:\n%s", out)
	}
	checkClusterSecret(t, secretName, map[string]string{"environment": "production", "region": "us-east"})
	out, err = run(append(staging, "--upsert")...)
	if err != nil || !strings.Contains(out, "Secret argocd/"+secretName+" replaced") {
		t.Fatalf("cluster add --upsert: %v\n%s", err, out)
	}
	checkClusterSecret(t, secretName, map[string]string{"environment": "staging", "region": "us-east"})

	app := createTargetingApp(t, "cluster-lifecycle", "prod-us-east")
	checkClusterList(t, run, server, "argocd/"+app)

	out, err = run("get", "prod-us-east")
	if err != nil || !strings.Contains(out, "environment=staging,region=us-east") || !strings.Contains(out, "bearer token, CA") || !strings.Contains(out, "Successful") {
		t.Errorf("cluster get: %v\n%s", err, out)
	}

	_, err = run("rm", "prod-us-east")
	if err == nil || !strings.Contains(err.Error(), "1 Applications target "+server+": argocd/"+app) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("cluster rm while an Application targets it: err = %v", err)
	}
	checkClusterSecret(t, secretName, map[string]string{"environment": "staging", "region": "us-east"})
	out, err = run("rm", "prod-us-east", "--force")
	if err != nil || !strings.Contains(out, "Cluster '"+server+"' removed\n") || !strings.Contains(out, "left in place") {
		t.Errorf("cluster rm --force: %v\n%s", err, out)
	}
	err = env.Client.Get(t.Context(), client.ObjectKey{Namespace: "argocd", Name: secretName}, &corev1.Secret{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("cluster Secret after rm --force: err = %v, want NotFound", err)
	}
	if strings.Contains(outputs.String(), cl.Config.BearerToken) {
		t.Error("a cluster command printed the ServiceAccount token")
	}
}

// createTargetingApp creates a manual Application whose destination is the
// cluster named dest; its repository does not exist, so it never deploys.
func createTargetingApp(t *testing.T, name, dest string) string {
	t.Helper()
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: name},
		Spec: v1alpha1.ApplicationSpec{
			Project:     "default",
			Source:      &v1alpha1.ApplicationSource{RepoURL: "file:///nonexistent/repo", Path: ".", TargetRevision: "main"},
			Destination: v1alpha1.ApplicationDestination{Name: dest, Namespace: name},
		},
	}
	if err := env.Client.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = deleteApp(ctx, env.Client, client.ObjectKeyFromObject(app), false, time.Minute, io.Discard)
	})
	return name
}
