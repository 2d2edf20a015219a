package faults_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// wavedApp is three waves: a ConfigMap, a Deployment that takes
// minReadySeconds to become available (so the sync waits in wave 1), and a
// ConfigMap that needs wave 1 healthy.
func wavedApp(value string) map[string]string {
	return map[string]string{
		"app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations: {argocd.argoproj.io/sync-wave: \"0\"}\ndata: {value: " + value + "}\n",
		"app/web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {argocd.argoproj.io/sync-wave: "1"}
spec:
  replicas: 1
  minReadySeconds: 15
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: example/web:1}]
`,
		"app/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations: {argocd.argoproj.io/sync-wave: \"2\"}\ndata: {value: " + value + "}\n",
	}
}

// TestAPIServerOutageMidSync: kube-apiserver stops for 20 s while a sync
// waits in wave 1, and starts again on the same etcd. The sync is retried
// and ends Synced; nothing applied before the outage is deleted and made
// again (same UIDs); history holds one entry for the revision.
func TestAPIServerOutageMidSync(t *testing.T) {
	// Most of it is waiting out the outage and the cluster's recovery: run
	// beside the Lease tests.
	t.Parallel()
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 1})
	cl := newClient(t, c)
	ctx := t.Context()
	repo := newGitRepo(t)
	rev := repo.commit("waves", wavedApp("one"))
	r := startReplica(t, c, "controller", "--allow-local-repositories", "--wave-timeout", "3m")

	app := createApp(t, cl, "outage", repo, "outage", &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{Prune: true}, SyncOptions: []string{"CreateNamespace=true"}})

	// Wait until the sync waits in wave 1: the Deployment exists, b does not.
	var kept []client.Object
	localclustertest.Eventually(t, 2*time.Minute, "the sync waiting in wave 1", func(ctx context.Context) (bool, string) {
		d := &appsv1.Deployment{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "outage", Name: "web"}, d); err != nil {
			return false, err.Error()
		}
		a := &corev1.ConfigMap{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "outage", Name: "a"}, a); err != nil {
			return false, err.Error()
		}
		kept = []client.Object{d, a}
		return true, ""
	})
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "outage", Name: "b"}, &corev1.ConfigMap{}); err == nil {
		t.Fatal("wave 2 applied before wave 1 became available: the outage would not fall mid-sync")
	}
	stopped := time.Now()
	if err := c.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Second)
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("API server down %.1fs", back.Sub(stopped).Seconds())

	got := waitSynced(t, cl, app, rev)
	t.Logf("Synced %.1fs after the outage began, %.1fs after the API server returned", time.Since(stopped).Seconds(), time.Since(back).Seconds())
	logRecovery(t, cl, back)
	notRemade(t, cl, kept...)
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "outage", Name: "b"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("wave 2 after the outage: %v", err)
	}
	n := 0
	for _, h := range got.Status.History {
		if h.Revision == rev {
			n++
		}
	}
	if n != 1 {
		t.Errorf("history holds %d entries for %s, want 1: %+v", n, rev[:7], got.Status.History)
	}
	if op := got.Status.OperationState; op == nil || op.Phase != v1alpha1.OperationSucceeded {
		t.Errorf("last operation %+v, want Succeeded", op)
	}
	r.noPanic(t)
}

// logRecovery logs when the wave-1 Deployment's Pod became Ready and the
// Deployment Available, relative to the API server's return. Measured: the
// Pod was Ready before the outage and minReadySeconds ran out during it,
// yet kube-controller-manager marked the Deployment Available only ~56 s
// after the API server returned (not investigated further; its
// informers' and workqueue's backoff are the likely cause); Ferry started the new sync ~2 s after the return
// and reported Synced ~1.3 s after Available. The time to Synced is the
// cluster's, not the controller's.
func logRecovery(t *testing.T, cl client.Client, back time.Time) {
	t.Helper()
	ctx := t.Context()
	d := &appsv1.Deployment{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "outage", Name: "web"}, d); err == nil {
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable {
				t.Logf("web Available=%s since %+.1fs", c.Status, c.LastTransitionTime.Sub(back).Seconds())
			}
		}
	}
	pods := &corev1.PodList{}
	if err := cl.List(ctx, pods, client.InNamespace("outage")); err == nil {
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady {
					t.Logf("pod %s Ready=%s since %+.1fs", p.Name, c.Status, c.LastTransitionTime.Sub(back).Seconds())
				}
			}
		}
	}
}
