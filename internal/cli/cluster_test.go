package cli

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/localcluster"
)

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

// TestClusterSecretName checks Argo CD's URIToSecretName vectors.
func TestClusterSecretName(t *testing.T) {
	for server, want := range map[string]string{
		"http://foo":                             "cluster-foo-752281925",
		"http://[fe80::1ff:fe23:4567:890a]:8000": "cluster-fe80--1ff-fe23-4567-890a-664858999",
		"http://[FE80::1FF:FE23:4567:890A]:8000": "cluster-fe80--1ff-fe23-4567-890a-682802007",
	} {
		got, err := clusterSecretName(server)
		if err != nil || got != want {
			t.Errorf("clusterSecretName(%q) = %q, %v; want %q", server, got, err, want)
		}
	}
	if _, err := clusterSecretName("not a url"); err == nil {
		t.Error("clusterSecretName accepted a non-URL")
	}
}

// TestClusterAddBadInput checks errors that name the flag or context at
// fault, before anything is created.
func TestClusterAddBadInput(t *testing.T) {
	_, err := ferryCluster(t, "add", "no-such-context")
	if err == nil || !strings.Contains(err.Error(), `context "no-such-context" not found`) || !strings.Contains(err.Error(), localcluster.AdminContext) {
		t.Errorf("unknown context: err = %v", err)
	}
	_, err = ferryCluster(t, "add", localcluster.AdminContext, "--label", "novalue")
	if err == nil || !strings.Contains(err.Error(), `--label "novalue"`) {
		t.Errorf("bad --label: err = %v", err)
	}
	_, err = ferryCluster(t, "add", localcluster.AdminContext, "--name", cluster.InClusterName)
	if err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("--name in-cluster: err = %v", err)
	}
	_, err = ferryCluster(t, "get", "no-such-cluster")
	if err == nil || !strings.Contains(err.Error(), `cluster "no-such-cluster" not found`) {
		t.Errorf("get of an unknown cluster: err = %v", err)
	}
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

// checkClusterSecret reads the cluster Secret through cluster.FromSecret
// and checks its name, server and labels.
func checkClusterSecret(t *testing.T, secretName string, labels map[string]string) cluster.Cluster {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: "argocd", Name: secretName}, s); err != nil {
		t.Fatalf("get cluster Secret: %v", err)
	}
	cl, err := cluster.FromSecret(s.Name, s.Labels, s.Annotations, s.Data, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cl.Name != "prod-us-east" || cl.Server != env.Cluster.Server() || !maps.Equal(cl.Labels, labels) {
		t.Errorf("cluster Secret holds %v with labels %v, want prod-us-east (%s) with %v", cl, cl.Labels, env.Cluster.Server(), labels)
	}
	if cl.Config.BearerToken == "" || len(cl.Config.TLSClientConfig.CAData) == 0 {
		t.Errorf("cluster Secret config = %v, want a bearer token and a CA", cl.Config)
	}
	return cl
}

// checkServiceAccountAccess lists namespaces with the Secret's credentials
// and checks they are the ServiceAccount's.
func checkServiceAccountAccess(t *testing.T, cl cluster.Cluster) {
	t.Helper()
	cfg, err := cl.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Errorf("list namespaces with the cluster Secret's credentials: %v", err)
	}
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:kube-system:ferry-manager"; got != want {
		t.Errorf("the cluster Secret authenticates as %q, want %q", got, want)
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

// checkClusterList checks the table and JSON of `cluster list`: prod-us-east
// and the implicit in-cluster entry are reachable, and app targets the
// former.
func checkClusterList(t *testing.T, run func(...string) (string, error), server, app string) {
	t.Helper()
	out, err := run("list")
	if err != nil {
		t.Fatalf("cluster list: %v\n%s", err, out)
	}
	lines := strings.Split(out, "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "NAME SERVER VERSION STATUS APPS MESSAGE" {
		t.Errorf("cluster list header = %q", lines[0])
	}
	rows := map[string][]string{}
	for _, line := range lines[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	if f := rows["prod-us-east"]; len(f) < 5 || f[1] != server || f[3] != statusSuccessful || f[4] != "1" {
		t.Errorf("cluster list row of prod-us-east = %q, want %s Successful with 1 app:\n%s", f, server, out)
	}
	if f := rows[cluster.InClusterName]; len(f) < 4 || f[1] != cluster.InClusterServer || f[3] != statusSuccessful {
		t.Errorf("cluster list row of in-cluster = %q, want Successful:\n%s", f, out)
	}
	out, err = run("list", "-o", "json")
	var entries []clusterEntry
	if err != nil || json.Unmarshal([]byte(out), &entries) != nil {
		t.Fatalf("cluster list -o json: %v\n%s", err, out)
	}
	for _, e := range entries {
		if e.Name == "prod-us-east" && (len(e.Applications) != 1 || e.Applications[0] != app) {
			t.Errorf("cluster list -o json: prod-us-east's applications = %v, want [%s]", e.Applications, app)
		}
	}
}
