package faults_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// TestShardingByLeases: three replica processes share 300 Applications over
// three registered clusters (the local API server under three addresses,
// one of them the in-cluster one, whose Applications are assigned one by
// one). Every Application is synced by exactly one replica, as each
// replica's metrics say; one replica is killed (SIGKILL: its Lease is not
// released) and the others take its Applications, and a commit pushed
// after the kill reaches every Application.
func TestShardingByLeases(t *testing.T) {
	// Most of it is waiting out a Lease: run beside the other Lease tests.
	t.Parallel()
	if testing.Short() {
		t.Skip("starts three controllers and 300 Applications")
	}
	c := localclustertest.Start(t, localcluster.Options{})
	cl := newClient(t, c)
	ctx := t.Context()
	repo := newGitRepo(t)
	first := repo.commit("one", map[string]string{"app/cm.yaml": configMap("cm", "one")})

	// Git is polled every 10 minutes: after the first sync, only a webhook
	// brings a new commit within the test.
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret", Namespace: "argocd"},
		StringData: map[string]string{"webhook.github.secret": "gh-shards"}}
	createAll(ctx, t, cl, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}, secret)
	replicas := make([]*replica, 3)
	hooks := make([]string, 3)
	for i := range replicas {
		name := fmt.Sprintf("replica-%d", i)
		port := freePort(t)
		hooks[i] = fmt.Sprintf("http://127.0.0.1:%d/api/webhook", port)
		replicas[i] = startReplica(t, c, name, "--allow-local-repositories", "--sharding", "leases", "--shard-identity", name,
			"--poll-interval", "10m", "--webhook-bind-address", fmt.Sprintf("127.0.0.1:%d", port))
	}
	localclustertest.Eventually(t, 2*time.Minute, "three shard members seen by every replica", func(ctx context.Context) (bool, string) {
		var seen []string
		for _, r := range replicas {
			n, _ := r.metric(ctx, "ferry_shard_members", nil)
			seen = append(seen, fmt.Sprint(n))
		}
		return !slices.ContainsFunc(seen, func(s string) bool { return s != "3" }), strings.Join(seen, " ")
	})

	servers := registerClusters(t, cl, c)
	apps := make([]*v1alpha1.Application, 300)
	start := time.Now()
	for i := range apps {
		apps[i] = &v1alpha1.Application{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%03d", i), Namespace: "argocd"},
			Spec: v1alpha1.ApplicationSpec{
				Project:     "default",
				Source:      &v1alpha1.ApplicationSource{RepoURL: "file://" + repo.dir, TargetRevision: "main", Path: "app"},
				Destination: v1alpha1.ApplicationDestination{Server: servers[i%len(servers)], Namespace: fmt.Sprintf("shard-%03d", i)},
				SyncPolicy:  &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{}, SyncOptions: []string{"CreateNamespace=true"}},
			},
		}
		if err := cl.Create(ctx, apps[i]); err != nil {
			t.Fatal(err)
		}
	}
	waitAllSynced(t, cl, first, len(apps))
	t.Logf("300 Applications created and synced by 3 replicas in %.1fs", time.Since(start).Seconds())

	// Each Application was synced by one replica alone, and the replicas'
	// own counts of what they own add up.
	syncedBy := map[string][]string{}
	owned := 0.0
	for _, r := range replicas {
		for _, app := range seriesLabel(t, r, "ferry_app_sync_total", "name") {
			syncedBy[app] = append(syncedBy[app], r.name)
		}
		n, _ := r.metric(ctx, "ferry_shard_applications", nil)
		t.Logf("%s owns %v Applications", r.name, n)
		owned += n
	}
	for _, app := range apps {
		if got := syncedBy[app.Name]; len(got) != 1 {
			t.Errorf("Application %s synced by %v, want exactly one replica", app.Name, got)
		}
	}
	if owned != float64(len(apps)) {
		t.Errorf("the replicas own %v Applications in all, want %d", owned, len(apps))
	}

	// The replica owning the most goes, without releasing its Lease.
	victim := replicas[0]
	for _, r := range replicas[1:] {
		if a, b := r.ownedCount(ctx), victim.ownedCount(ctx); a > b {
			victim = r
		}
	}
	lost := victim.ownedCount(ctx)
	killed := time.Now()
	victim.kill(syscall.SIGKILL)
	var survivors []*replica
	var survivorHook string
	for i, r := range replicas {
		if r != victim {
			survivors = append(survivors, r)
			survivorHook = hooks[i]
		}
	}
	localclustertest.Eventually(t, 2*time.Minute, "the survivors owning every Application", func(ctx context.Context) (bool, string) {
		total := 0.0
		for _, r := range survivors {
			total += r.ownedCount(ctx)
		}
		return total == float64(len(apps)), fmt.Sprintf("%v owned", total)
	})
	t.Logf("%s (%v Applications) killed; the others owned all %d after %.1fs (lease 15s, renewal 2s)", victim.name, lost, len(apps), time.Since(killed).Seconds())
	gained := 0.0
	for _, r := range survivors {
		n, _ := r.metric(ctx, "ferry_shard_reassignments_total", map[string]string{"direction": "gained"})
		gained += n
	}
	if gained != lost {
		t.Errorf("the survivors count %v Applications gained, the killed replica owned %v", gained, lost)
	}

	// A commit, announced by a webhook to one replica: it refreshes its own
	// Applications and marks the other's, which refreshes them.
	second := repo.commit("two", map[string]string{"app/cm.yaml": configMap("cm", "two")})
	pushed := time.Now()
	githubPush(t, survivorHook, "gh-shards", "file://"+repo.dir)
	waitAllSynced(t, cl, second, len(apps))
	t.Logf("the commit pushed after the kill reached all %d Applications %.1fs after one replica got the webhook", len(apps), time.Since(pushed).Seconds())
	for i := 0; i < len(apps); i += 37 {
		waitValue(t, cl, apps[i].Spec.Destination.Namespace, "cm", "two")
	}

	// A graceful stop (SIGTERM, as Kubernetes stops a pod): the replica
	// cancels its reconciles and releases its Lease, so the last replica
	// takes everything at its next renewal instead of after 15 s.
	stopped, last := survivors[0], survivors[1]
	stoppedAt := time.Now()
	stopped.kill(syscall.SIGTERM)
	localclustertest.Eventually(t, time.Minute, last.name+" owning every Application", func(ctx context.Context) (bool, string) {
		n := last.ownedCount(ctx)
		return n == float64(len(apps)), fmt.Sprintf("%v owned", n)
	})
	t.Logf("%s stopped gracefully; %s owned all %d %.1fs after the SIGTERM", stopped.name, last.name, len(apps), time.Since(stoppedAt).Seconds())
	if b, err := os.ReadFile(stopped.log); err != nil || !strings.Contains(string(b), "shard lease released") {
		t.Errorf("%s did not release its shard Lease at SIGTERM", stopped.name)
	}
	for _, r := range replicas {
		r.noPanic(t)
	}
}

// registerClusters registers the local API server as three clusters: the
// in-cluster address, and its own address under two host names. It
// returns their servers.
func registerClusters(t *testing.T, cl client.Client, c *localcluster.Cluster) []string {
	t.Helper()
	cfg := c.AdminConfig()
	u, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	servers := []string{cluster.InClusterServer, "https://127.0.0.1:" + u.Port(), "https://localhost:" + u.Port()}
	for i, server := range servers[1:] {
		data, labels, err := cluster.ToSecretData(cluster.Cluster{Name: fmt.Sprintf("cluster-%d", i+1), Server: server,
			Config: cluster.Config{TLSClientConfig: cluster.TLSClientConfig{CAData: cfg.CAData, CertData: cfg.CertData, KeyData: cfg.KeyData}}})
		if err != nil {
			t.Fatal(err)
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cluster-%d", i+1), Namespace: "argocd", Labels: labels}, Data: data}
		if err := cl.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	return servers
}

// waitAllSynced waits until n Applications are Synced at revision.
func waitAllSynced(t *testing.T, cl client.Client, revision string, n int) {
	t.Helper()
	localclustertest.Eventually(t, 5*time.Minute, fmt.Sprintf("%d Applications Synced at %s", n, revision[:7]), func(ctx context.Context) (bool, string) {
		list := &v1alpha1.ApplicationList{}
		if err := cl.List(ctx, list, client.InNamespace("argocd")); err != nil {
			return false, err.Error()
		}
		synced, example := 0, ""
		for _, a := range list.Items {
			if a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced && a.Status.Sync.Revision == revision {
				synced++
			} else if example == "" {
				example = fmt.Sprintf("; %s is %s at %.7s", a.Name, a.Status.Sync.Status, a.Status.Sync.Revision)
			}
		}
		return synced == n, fmt.Sprintf("%d of %d%s", synced, n, example)
	})
}

// ownedCount is how many Applications r says it owns.
func (r *replica) ownedCount(ctx context.Context) float64 {
	n, _ := r.metric(ctx, "ferry_shard_applications", nil)
	return n
}

// seriesLabel returns the value of label in each sample of family that r
// exports with a value above zero.
func seriesLabel(t *testing.T, r *replica, family, label string) []string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.metrics, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s metrics: %v", r.name, err)
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, family+"{")
		if !ok || strings.HasSuffix(line, " 0") {
			continue
		}
		for _, kv := range strings.Split(rest[:strings.Index(rest, "}")], ",") {
			if v, ok := strings.CutPrefix(kv, label+`="`); ok {
				out = append(out, strings.TrimSuffix(v, `"`))
			}
		}
	}
	return out
}

// githubPush sends a GitHub push event for main of cloneURL, signed with
// secret, and checks it was accepted.
func githubPush(t *testing.T, url, secret, cloneURL string) {
	t.Helper()
	body := []byte(`{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567","repository":{"clone_url":"` + cloneURL + `"}}`)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprint(time.Now().UnixNano()))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %s %s", resp.Status, out)
	}
	t.Logf("webhook to one replica: %s", bytes.TrimSpace(out))
}
