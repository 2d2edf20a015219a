package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// migrateHook is a PreSync Job with the default delete policy
// (BeforeHookCreation): a sync that ran it again would delete it and create
// a new one.
const migrateHook = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {argocd.argoproj.io/hook: PreSync}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: example/migrate:1}]
`

// TestControllerKilledMidSync: the controller is killed (SIGKILL) while a
// sync of three waves and a PreSync hook waits in wave 1, and a new
// process takes over. The sync is resumed, not restarted: the hook Job
// was created once for the operation (one UID seen by a watch from the
// start), nothing applied before the kill is deleted and made again,
// nothing is pruned, wave 2 is applied, and history holds one entry. The
// catalog's on-sync-running (oncePer the revision), told by the first
// process, is not told again when the second resumes the sync.
func TestControllerKilledMidSync(t *testing.T) {
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 1})
	cl := newClient(t, c)
	ctx := t.Context()
	repo := newGitRepo(t)
	files := wavedApp("one")
	files["app/migrate.yaml"] = migrateHook
	rev := repo.commit("waves and a hook", files)

	// Every Job named migrate ever created in the namespace.
	jobs := watchJobs(t, c, "killed")
	told := notificationsTo(t, cl, "on-sync-running", "on-sync-succeeded")
	first := startReplica(t, c, "first", "--allow-local-repositories", "--wave-timeout", "3m")
	app := createApp(t, cl, "killed", repo, "killed", &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{Prune: true}, SyncOptions: []string{"CreateNamespace=true"}})

	// Wait until the hook has run and the sync waits in wave 1, as status
	// shows it: the Deployment exists, b does not.
	var kept []client.Object
	localclustertest.Eventually(t, 2*time.Minute, "the sync waiting in wave 1 after its hook", func(ctx context.Context) (bool, string) {
		job := &batchv1.Job{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "killed", Name: "migrate"}, job); err != nil {
			return false, "hook: " + err.Error()
		}
		if job.Status.Succeeded == 0 {
			return false, "hook running"
		}
		d := &appsv1.Deployment{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "killed", Name: "web"}, d); err != nil {
			return false, err.Error()
		}
		a := &corev1.ConfigMap{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "killed", Name: "a"}, a); err != nil {
			return false, err.Error()
		}
		kept = []client.Object{d, a, job}
		return true, ""
	})
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "killed", Name: "b"}, &corev1.ConfigMap{}); err == nil {
		t.Fatal("wave 2 applied before wave 1 became available: the kill would not fall mid-sync")
	}
	running := &v1alpha1.Application{}
	if err := cl.Get(ctx, client.ObjectKeyFromObject(app), running); err != nil {
		t.Fatal(err)
	}
	if op := running.Status.OperationState; op == nil || op.Phase != v1alpha1.OperationRunning {
		t.Fatalf("operationState before the kill %+v, want Running", op)
	}
	first.kill(syscall.SIGKILL)
	killed := time.Now()
	second := startReplica(t, c, "second", "--allow-local-repositories", "--wave-timeout", "3m")

	got := waitSynced(t, cl, app, rev)
	localclustertest.Eventually(t, 2*time.Minute, "the operation finished", func(ctx context.Context) (bool, string) {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			return false, err.Error()
		}
		op := got.Status.OperationState
		return op != nil && op.Phase != v1alpha1.OperationRunning, fmt.Sprintf("%+v", op)
	})
	t.Logf("operation finished %.1fs after the kill", time.Since(killed).Seconds())

	if op := got.Status.OperationState; op.Phase != v1alpha1.OperationSucceeded || !op.StartedAt.Equal(&running.Status.OperationState.StartedAt) {
		t.Errorf("operation %+v, want Succeeded and started when the killed process started it (%s)", op, running.Status.OperationState.StartedAt)
	}
	localclustertest.Eventually(t, 30*time.Second, "on-sync-succeeded told", func(context.Context) (bool, string) {
		got := told()
		return got["on-sync-succeeded "+rev] == 1, fmt.Sprint(got)
	})
	if got := told(); got["on-sync-running "+rev] != 1 || len(got) != 2 {
		t.Errorf("notifications %v, want on-sync-running and on-sync-succeeded once each for %s", got, rev[:7])
	}
	if created := jobs(); len(created) != 1 {
		t.Errorf("hook Job created %d times (uids %v), want once for the operation", len(created), created)
	}
	notRemade(t, cl, kept...)
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "killed", Name: "b"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("wave 2 after the restart: %v", err)
	}
	job := &batchv1.Job{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "killed", Name: "migrate"}, job); err == nil && job.Annotations[fsync.OperationAnnotation] == "" {
		t.Errorf("hook Job carries no %s annotation", fsync.OperationAnnotation)
	}
	if len(got.Status.History) != 1 || got.Status.History[0].Revision != rev {
		t.Errorf("history %+v, want one entry for %s", got.Status.History, rev[:7])
	}
	for _, res := range got.Status.OperationState.SyncResult.Resources {
		if res.Status == v1alpha1.ResultCodePruned {
			t.Errorf("%s/%s pruned", res.Kind, res.Name)
		}
	}
	first.noPanic(t)
	second.noPanic(t)
}

// watchJobs watches Jobs named migrate in ns from now on, and returns a
// function listing the UIDs of those created so far.
func watchJobs(t *testing.T, c *localcluster.Cluster, ns string) func() []types.UID {
	t.Helper()
	wc, err := client.NewWithWatch(c.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(t.Context(), &batchv1.JobList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	var mu sync.Mutex
	var uids []types.UID
	seen := map[types.UID]bool{}
	go func() {
		for ev := range w.ResultChan() {
			job, ok := ev.Object.(*batchv1.Job)
			if !ok || ev.Type != watch.Added || job.Name != "migrate" {
				continue
			}
			mu.Lock()
			if !seen[job.UID] {
				seen[job.UID] = true
				uids = append(uids, job.UID)
			}
			mu.Unlock()
		}
	}()
	return func() []types.UID {
		mu.Lock()
		defer mu.Unlock()
		return append([]types.UID(nil), uids...)
	}
}

// notificationsTo configures Argo CD Notifications with a webhook to a
// local receiver subscribed to the (built-in) triggers, and returns the
// count of notifications received by "trigger revision".
func notificationsTo(t *testing.T, cl client.Client, triggers ...string) func() map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Trigger, Revision string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got[body.Trigger+" "+body.Revision]++
	}))
	t.Cleanup(srv.Close)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "argocd-notifications-cm"}, Data: map[string]string{
		"service.webhook.receiver": "url: " + srv.URL,
		"subscriptions":            "- recipients: [receiver]\n  triggers: [" + strings.Join(triggers, ", ") + "]",
	}}
	_ = cl.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}) // or the controller made it
	if err := cl.Create(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(got)
	}
}
