package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// remoteCluster is another local control plane, registered with Ferry by an
// Argo CD cluster Secret holding its client certificate.
type remoteCluster struct {
	*localcluster.Cluster
	client client.Client
}

func startRemote(ctx context.Context, t *testing.T, name string, labels map[string]string) *remoteCluster {
	t.Helper()
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeAPI})
	cfg := c.AdminConfig()
	cl, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	register(ctx, t, name, cfg, labels)
	return &remoteCluster{Cluster: c, client: cl}
}

func register(ctx context.Context, t *testing.T, name string, cfg *rest.Config, labels map[string]string) {
	t.Helper()
	data, secretLabels, err := cluster.ToSecretData(cluster.Cluster{Name: name, Server: cfg.Host, Labels: labels,
		Config: cluster.Config{TLSClientConfig: cluster.TLSClientConfig{CAData: cfg.CAData, CertData: cfg.CertData, KeyData: cfg.KeyData}}})
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cluster-" + name, Namespace: "argocd", Labels: secretLabels}, Data: data}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), s) })
}

func (rc *remoteCluster) value(ctx context.Context, ns, name string) (string, bool) {
	cm := &corev1.ConfigMap{}
	if err := rc.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		return "", false
	}
	return cm.Data["value"], true
}

// TestRemoteClusters: Applications sync to registered clusters (by server
// and by name) and self-heal there; stopping one cluster's API server makes
// its Application report the connection error within seconds while the
// other keeps syncing.
func TestRemoteClusters(t *testing.T) {
	ctx := t.Context()
	east := startRemote(ctx, t, "remote-east", map[string]string{"environment": "production", "region": "us-east"})
	west := startRemote(ctx, t, "remote-west", map[string]string{"environment": "production", "region": "eu-west"})

	repo := newGitRepo(t)
	repo.write(map[string]string{"east/a.yaml": configMap("a", "east-1"), "west/a.yaml": configMap("a", "west-1")})
	first := repo.commit("one")
	toEast := newApp("to-east", "regional", repo, "east", &v1alpha1.SyncPolicyAutomated{SelfHeal: true})
	toEast.Spec.Destination.Server = east.Server()
	toWest := newApp("to-west", "regional", repo, "west", &v1alpha1.SyncPolicyAutomated{SelfHeal: true})
	toWest.Spec.Destination.Server, toWest.Spec.Destination.Name = "", "remote-west"
	create(t, toEast)
	create(t, toWest)
	start := time.Now()
	phase := func(what string) { t.Logf("%5.1fs %s", time.Since(start).Seconds(), what) }
	waitApp(t, toEast, "Synced on prod-us-east", syncedAt(first))
	phase("east synced")
	waitApp(t, toWest, "Synced on prod-eu-west", syncedAt(first))
	if v, ok := east.value(ctx, "regional", "a"); !ok || v != "east-1" {
		t.Errorf("prod-us-east ConfigMap regional/a = %q (exists %v), want east-1", v, ok)
	}
	if v, ok := west.value(ctx, "regional", "a"); !ok || v != "west-1" {
		t.Errorf("prod-eu-west ConfigMap regional/a = %q (exists %v), want west-1", v, ok)
	}
	if live(ctx, t, "v1", "ConfigMap", "regional", "a") != nil {
		t.Error("the ConfigMap was applied to the cluster Ferry runs in too")
	}

	phase("both synced")
	// A hand edit on the remote cluster is reverted (its watch woke Ferry).
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "regional", Name: "a"}}
	if err := east.client.Patch(ctx, cm, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"value":"hand"}}`)),
		client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "self-heal on prod-us-east", func(ctx context.Context) (bool, string) {
		v, _ := east.value(ctx, "regional", "a")
		return v == "east-1", "value " + v
	})

	// prod-eu-west's API server goes down: its Application says so;
	// prod-us-east goes on.
	phase("self-healed")
	if err := west.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	phase("west stopped")
	waitApp(t, toWest, "the connection error", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionComparisonError, "unreachable")
	})
	eventually(t, 20*time.Second, "per-cluster connection metrics", func(ctx context.Context) (bool, string) {
		families := scrape(ctx, t)
		up, _ := value(families, "ferry_cluster_connection_status", map[string]string{"server": east.Server()})
		down, found := value(families, "ferry_cluster_connection_status", map[string]string{"server": west.Server()})
		return up == 1 && found && down == 0, fmt.Sprintf("east %v, west %v (found %v)", up, down, found)
	})
	repo.write(map[string]string{"east/a.yaml": configMap("a", "east-2"), "west/a.yaml": configMap("a", "west-2")})
	second := repo.commit("two")
	waitApp(t, toEast, "Synced on prod-us-east at the second commit", syncedAt(second))
	eventually(t, 30*time.Second, "prod-us-east has the second commit", func(ctx context.Context) (bool, string) {
		v, _ := east.value(ctx, "regional", "a")
		return v == "east-2", fmt.Sprintf("value %q", v)
	})
	got := getApp(ctx, t, toWest)
	for _, c := range got.Status.Conditions {
		if strings.Contains(c.Message, string(east.AdminConfig().KeyData)) {
			t.Error("a client key appears in a condition")
		}
	}

	// It comes back: the Application recovers, without a controller
	// restart, and syncs what was committed meanwhile.
	phase("east synced the second commit")
	if err := west.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	phase("west started")
	eventually(t, 2*time.Minute, "to-west recovered and Synced at the second commit", func(ctx context.Context) (bool, string) {
		a := &v1alpha1.Application{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(toWest), a); err != nil {
			return false, err.Error()
		}
		return syncedAt(second)(a) && !hasCondition(a, v1alpha1.ApplicationConditionComparisonError, ""), describeApp(a)
	})
	phase("west recovered")
	if v, _ := west.value(ctx, "regional", "a"); v != "west-2" {
		t.Errorf("prod-eu-west ConfigMap regional/a = %q after recovery, want west-2", v)
	}
}
