package appset

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ferrycd/ferry/internal/cluster"
)

func clusterSecret(t *testing.T, name string, c cluster.Cluster) *corev1.Secret {
	t.Helper()
	data, labels, err := cluster.ToSecretData(c)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "argocd", Labels: labels}, Data: data}
}

// TestRegistryClusters: the registry's clusters sorted by name, with the local cluster added unless a
// Secret registers its server; a Secret that does not parse stops generation.
func TestRegistryClusters(t *testing.T) {
	b := clusterSecret(t, "b", cluster.Cluster{Name: "b", Server: "https://b.example.com/", Labels: map[string]string{"env": "prod"},
		Config: cluster.Config{BearerToken: "t"}})
	a := clusterSecret(t, "a", cluster.Cluster{Name: "a", Server: "https://a.example.com", Config: cluster.Config{BearerToken: "t"}})
	other := clusterSecret(t, "elsewhere", cluster.Cluster{Name: "x", Server: "https://x.example.com", Config: cluster.Config{BearerToken: "t"}})
	other.Namespace = "other"
	reg := func(objs ...*corev1.Secret) cluster.Registry {
		c := fake.NewClientBuilder()
		for _, o := range objs {
			c = c.WithObjects(o)
		}
		return cluster.Registry{Reader: c.Build(), Namespace: "argocd", Options: cluster.Options{AllowExec: true}}
	}

	got, err := Clusters(t.Context(), reg(b, a, other))
	if err != nil {
		t.Fatal(err)
	}
	wantYAML(t, got, `
- {Name: a, Server: "https://a.example.com", Labels: null, Annotations: null}
- {Name: b, Server: "https://b.example.com", Labels: {env: prod}, Annotations: null}
- {Name: in-cluster, Server: "https://kubernetes.default.svc", Labels: null, Annotations: null}
`)

	local := clusterSecret(t, "local", cluster.Cluster{Server: cluster.InClusterServer + "/", Labels: map[string]string{"env": "home"}})
	got, err = Clusters(t.Context(), reg(local))
	if err != nil {
		t.Fatal(err)
	}
	wantYAML(t, got, `[{Name: in-cluster, Server: "https://kubernetes.default.svc", Labels: {env: home}, Annotations: null}]`)

	bad := a.DeepCopy()
	bad.Name = "bad"
	bad.Data["server"] = []byte("not a url")
	_, err = Clusters(t.Context(), reg(b, bad))
	var invalid *InvalidClusterSecretError
	if !errors.As(err, &invalid) || invalid.Secret != "argocd/bad" {
		t.Fatalf("error %v (%T), want an *InvalidClusterSecretError for argocd/bad", err, err)
	}
	wantError(t, err, `"bad"`, `"server"`)
}
