package faults_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// gitRepo is a repository the test commits to, read over file://.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.git("config", "user.email", "test@example.com")
	r.git("config", "user.name", "Ferry Test")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files, commits everything and returns the new HEAD.
func (r *gitRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for path, content := range files {
		full := filepath.Join(r.dir, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func configMap(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  value: %q\n", name, value)
}

func newClient(t *testing.T, c *localcluster.Cluster) client.Client {
	t.Helper()
	cl, err := client.New(c.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// leading reports whether r holds the ferry-controller Lease, by its
// controller-runtime leader election metric.
func (r *replica) leading(ctx context.Context) bool {
	v, ok := r.metric(ctx, "leader_election_master_status", map[string]string{"name": "ferry-controller"})
	return ok && v == 1
}

// applies counts the PATCH requests r sent: server-side applies (and the
// status patches of a leader). A standby sends none.
func (r *replica) applies(ctx context.Context) float64 {
	v, _ := r.metric(ctx, "rest_client_requests_total", map[string]string{"method": "PATCH"})
	return v
}

// TestLeaderElection: two replicas with --leader-elect; one leads and
// syncs, the other sends no PATCH at all; the leader is killed (SIGKILL, no
// chance to release the Lease), the other takes the Lease and applies a
// commit pushed after the kill.
func TestLeaderElection(t *testing.T) {
	// Most of it is waiting out a Lease: run beside the other Lease tests.
	t.Parallel()
	c := localclustertest.Start(t, localcluster.Options{})
	cl := newClient(t, c)
	ctx := t.Context()
	repo := newGitRepo(t)
	first := repo.commit("one", map[string]string{"app/cm.yaml": configMap("cm", "one")})

	a := startReplica(t, c, "replica-a", "--allow-local-repositories", "--leader-elect")
	b := startReplica(t, c, "replica-b", "--allow-local-repositories", "--leader-elect")
	leader, standby := waitLeader(t, a, b)

	standbyBefore := standby.applies(ctx)
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: "ha", Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSpec{
			Project:     "default",
			Source:      &v1alpha1.ApplicationSource{RepoURL: "file://" + repo.dir, TargetRevision: "main", Path: "app"},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "ha"},
			SyncPolicy:  &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{}, SyncOptions: []string{"CreateNamespace=true"}},
		},
	}
	if err := cl.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	waitValue(t, cl, "ha", "cm", "one")
	waitSynced(t, cl, app, first)
	if n := standby.applies(ctx) - standbyBefore; n != 0 {
		t.Errorf("the standby %s sent %v PATCH requests while %s led and synced", standby.name, n, leader.name)
	}
	if n := leader.applies(ctx); n == 0 {
		t.Errorf("the leader %s sent no PATCH request, yet the Application synced: the metric proves nothing", leader.name)
	}
	if n, _ := standby.metric(ctx, "controller_runtime_reconcile_total", map[string]string{"controller": "application"}); n != 0 {
		t.Errorf("the standby %s reconciled %v Applications", standby.name, n)
	}

	killed := time.Now()
	leader.kill(syscall.SIGKILL)
	second := repo.commit("two", map[string]string{"app/cm.yaml": configMap("cm", "two")})
	localclustertest.Eventually(t, 2*time.Minute, standby.name+" leading", func(ctx context.Context) (bool, string) {
		return standby.leading(ctx), "not yet"
	})
	t.Logf("%s took over %.1fs after %s was killed (lease 15s, retry 1s)", standby.name, time.Since(killed).Seconds(), leader.name)
	waitValue(t, cl, "ha", "cm", "two")
	waitSynced(t, cl, app, second)
	t.Logf("commit pushed after the kill applied %.1fs after the kill", time.Since(killed).Seconds())
}

// waitLeader waits until both replicas serve metrics and one of them
// leads, and returns the leader first.
func waitLeader(t *testing.T, a, b *replica) (*replica, *replica) {
	t.Helper()
	var leader, standby *replica
	localclustertest.Eventually(t, 2*time.Minute, "one replica leading", func(ctx context.Context) (bool, string) {
		// Both serve metrics once their managers started, which is after
		// each installed the CRDs (its own PATCHes, before any election).
		_, upA := a.metric(ctx, "leader_election_master_status", nil)
		_, upB := b.metric(ctx, "leader_election_master_status", nil)
		if !upA || !upB {
			return false, fmt.Sprintf("metrics up: a %v, b %v", upA, upB)
		}
		la, lb := a.leading(ctx), b.leading(ctx)
		switch {
		case la && lb:
			t.Fatal("both replicas report leading")
		case la:
			leader, standby = a, b
		case lb:
			leader, standby = b, a
		}
		return leader != nil, fmt.Sprintf("a leading %v, b leading %v", la, lb)
	})
	return leader, standby
}

func waitValue(t *testing.T, cl client.Client, ns, name, want string) {
	t.Helper()
	localclustertest.Eventually(t, 2*time.Minute, fmt.Sprintf("ConfigMap %s/%s = %q", ns, name, want), func(ctx context.Context) (bool, string) {
		cm := &corev1.ConfigMap{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
			return false, err.Error()
		}
		return cm.Data["value"] == want, "value " + cm.Data["value"]
	})
}

func waitSynced(t *testing.T, cl client.Client, app *v1alpha1.Application, revision string) *v1alpha1.Application {
	t.Helper()
	got := &v1alpha1.Application{}
	localclustertest.Eventually(t, 2*time.Minute, "Application "+app.Name+" Synced at "+revision[:7], func(ctx context.Context) (bool, string) {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			return false, err.Error()
		}
		return got.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced && got.Status.Sync.Revision == revision,
			fmt.Sprintf("%s at %s", got.Status.Sync.Status, got.Status.Sync.Revision)
	})
	return got
}
