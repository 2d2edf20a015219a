package cli

import (
	"maps"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/localcluster"
)

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
}

// TestClusterAddRefusesNameOfAnotherServer checks that add refuses a name
// another server's Secret uses (its server written with a trailing slash),
// before the target cluster is touched.
func TestClusterAddRefusesNameOfAnotherServer(t *testing.T) {
	createClusterSecret(t, "cluster-name-taken", map[string]string{"name": "taken", "server": "https://other.example/", "config": "{}"})
	out, err := ferryCluster(t, "add", localcluster.AdminContext, "--name", "taken")
	want := `cluster name "taken" is already used by https://other.example (Secret argocd/cluster-name-taken); pass another --name`
	if err == nil || err.Error() != want {
		t.Errorf("cluster add with a name in use: err = %v, want %q", err, want)
	}
	if out != "" {
		t.Errorf("cluster add refused for a name clash still touched the target cluster:\n%s", out)
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
