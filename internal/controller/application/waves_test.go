package application_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/examples"
)

var (
	namespaceGVK  = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	configMapGVK  = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	jobGVK        = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
	deploymentGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
)

// timeline records what happens to objects, from watches started before a
// sync: "added Kind name", "deleted Kind name", "complete Job name" (the
// Job's Complete condition), "available Deployment name" (every replica
// available). Each label is kept once, with the resourceVersion it first
// appeared at: the API server's etcd revision, one sequence for the whole
// cluster, so events of different watches can be ordered.
type timeline struct {
	mu     sync.Mutex
	first  map[string]int64
	labels []string
}

func watchTimeline(t *testing.T, namespace string, gvks ...schema.GroupVersionKind) *timeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tl := &timeline{first: map[string]int64{}}
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, gvk := range gvks {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		var opts []client.ListOption
		if gvk != namespaceGVK {
			opts = append(opts, client.InNamespace(namespace))
		}
		w, err := env.Client.Watch(ctx, list, opts...)
		if err != nil {
			t.Fatalf("watch %s: %v", gvk.Kind, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Stop()
			for ev := range w.ResultChan() {
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok || (gvk == namespaceGVK && u.GetName() != namespace) {
					continue
				}
				tl.observe(ev.Type, u)
			}
		}()
	}
	return tl
}

func (tl *timeline) observe(typ watch.EventType, u *unstructured.Unstructured) {
	rv, _ := strconv.ParseInt(u.GetResourceVersion(), 10, 64)
	what := u.GetKind() + " " + u.GetName()
	switch typ {
	case watch.Added:
		tl.add("added "+what, rv)
	case watch.Deleted:
		tl.add("deleted "+what, rv)
	}
	if typ == watch.Deleted {
		return
	}
	switch u.GetKind() {
	case "Job":
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "Complete" && m["status"] == "True" {
				tl.add("complete "+what, rv)
			}
		}
	case "Deployment":
		want, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		got, _, _ := unstructured.NestedInt64(u.Object, "status", "availableReplicas")
		if want > 0 && got == want {
			tl.add("available "+what, rv)
		}
	}
}

func (tl *timeline) add(label string, rv int64) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if _, ok := tl.first[label]; !ok {
		tl.first[label] = rv
		tl.labels = append(tl.labels, label)
	}
}

// ordered reports whether every label happened, in the order given; the
// string shows the whole timeline.
func (tl *timeline) ordered(labels ...string) (bool, string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	all := slices.Clone(tl.labels)
	slices.SortFunc(all, func(a, b string) int { return int(tl.first[a] - tl.first[b]) })
	desc := fmt.Sprintf("timeline %q", all)
	prev := int64(-1)
	for _, l := range labels {
		rv, ok := tl.first[l]
		if !ok || rv <= prev {
			return false, desc
		}
		prev = rv
	}
	return true, desc
}

func (tl *timeline) has(label string) bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	_, ok := tl.first[label]
	return ok
}

// waitOrdered waits until the labels happened in order, and fails if they
// happened out of it.
func waitOrdered(t *testing.T, tl *timeline, labels ...string) {
	t.Helper()
	eventually(t, 90*time.Second, "events in order "+strings.Join(labels, " < "), func(context.Context) (bool, string) {
		ok, desc := tl.ordered(labels...)
		if !ok && slices.IndexFunc(labels, func(l string) bool { return !tl.has(l) }) < 0 {
			t.Fatalf("every event happened, out of order: want %s; %s", strings.Join(labels, " < "), desc)
		}
		return ok, desc
	})
}

func operationFinished(a *v1alpha1.Application) bool {
	return a.Operation == nil && a.Status.OperationState != nil && a.Status.OperationState.FinishedAt != nil
}

// result finds the operation's result for one object in one phase.
func result(a *v1alpha1.Application, phase v1alpha1.SyncPhase, kind, name string) *v1alpha1.ResourceResult {
	if a.Status.OperationState == nil || a.Status.OperationState.SyncResult == nil {
		return nil
	}
	for i, r := range a.Status.OperationState.SyncResult.Resources {
		if r.SyncPhase == phase && r.Kind == kind && strings.HasPrefix(r.Name, name) {
			return &a.Status.OperationState.SyncResult.Resources[i]
		}
	}
	return nil
}

// TestExampleSyncWaves syncs the example sync-wave manifests verbatim and
// records the order the cluster sees: the Namespace, then the ConfigMap,
// then the migration Job runs to completion, then the Deployment; the Job is
// deleted after it succeeded (HookSucceeded) and, being a hook, is neither
// in the inventory nor a reason to be OutOfSync.
func TestExampleSyncWaves(t *testing.T) {
	repo := newGitRepo(t)
	repo.write(map[string]string{"waves/manifests.yaml": string(examples.SyncWaves())})
	head := repo.commit("sync waves")
	tl := watchTimeline(t, "myapp", namespaceGVK, configMapGVK, jobGVK, deploymentGVK)
	app := newApp("example-waves", "myapp", repo, "waves", &v1alpha1.SyncPolicyAutomated{Prune: true})
	app.Spec.SyncPolicy.SyncOptions = nil // the manifests create their namespace
	create(t, app)

	waitOrdered(t, tl, "added Namespace myapp", "added ConfigMap myapp-config", "complete Job db-migrate",
		"added Deployment myapp", "available Deployment myapp")
	waitOrdered(t, tl, "complete Job db-migrate", "deleted Job db-migrate")
	got := waitApp(t, app, "Synced and Healthy", func(a *v1alpha1.Application) bool { return syncedAt(head)(a) && healthy(a) })
	for _, r := range got.Status.Resources {
		if r.Kind == "Job" {
			t.Errorf("the hook Job is in the inventory: %+v", r)
		}
	}
	hook := result(got, v1alpha1.SyncPhasePreSync, "Job", "db-migrate")
	if hook == nil || hook.HookType != v1alpha1.HookTypePreSync || hook.HookPhase != v1alpha1.OperationSucceeded || hook.SyncWave != 1 {
		t.Errorf("db-migrate result = %+v, want a PreSync hook in wave 1 that Succeeded", hook)
	}
	if cm := result(got, v1alpha1.SyncPhasePreSync, "ConfigMap", "myapp-config"); cm == nil || cm.Status != v1alpha1.ResultCodeSynced {
		t.Errorf("myapp-config result = %+v, want Synced in PreSync (applied before the hook that follows it)", cm)
	}
}

// job is a Job hook; kwok runs its pod to completion.
func job(name, annotations string) string { return jobYAML(name, annotations, "", "") }

// failingJob is a Job that cannot be scheduled and fails when its deadline
// passes: the Job controller marks it Failed with reason DeadlineExceeded.
func failingJob(name, annotations string) string {
	return jobYAML(name, annotations, "  activeDeadlineSeconds: 2\n  backoffLimit: 0\n",
		"      nodeSelector: {ferry.test/no-such-node: \"true\"}\n")
}

func jobYAML(name, annotations, spec, podSpec string) string {
	return `apiVersion: batch/v1
kind: Job
metadata:
  name: ` + name + `
  annotations:
` + annotations + `
spec:
` + spec + `  template:
    spec:
` + podSpec + `      containers:
        - name: run
          image: example/job:1
      restartPolicy: Never
`
}

func configMapYAML(name, annotations string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  annotations:\n" + annotations + "\ndata: {k: v}\n"
}

func deploymentYAML(name, annotations, podSpecExtra string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
  annotations:
` + annotations + `
spec:
  replicas: 1
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
` + podSpecExtra + `
      containers:
        - name: app
          image: example/app:1
`
}

// TestFailedPreSyncHook: a PreSync Job that fails stops the sync before any
// Sync-phase object is applied, runs the SyncFail hook, is deleted (its
// policy is HookFailed), and the Application shows the failure with the
// hook's name and reason.
func TestFailedPreSyncHook(t *testing.T) {
	const ns = "presync-fail"
	repo := newGitRepo(t)
	repo.write(map[string]string{
		"app/migrate.yaml":    failingJob("migrate", "    argocd.argoproj.io/hook: PreSync\n    argocd.argoproj.io/hook-delete-policy: HookFailed"),
		"app/config.yaml":     configMapYAML("app-config", `    argocd.argoproj.io/sync-wave: "0"`),
		"app/deployment.yaml": deploymentYAML("web", `    argocd.argoproj.io/sync-wave: "1"`, ""),
		"app/on-failure.yaml": job("on-failure", "    argocd.argoproj.io/hook: SyncFail"),
	})
	repo.commit("a failing migration")
	app := newApp("presync-fail", ns, repo, "app", nil)
	app.Operation = &v1alpha1.Operation{Sync: &v1alpha1.SyncOperation{}, InitiatedBy: v1alpha1.OperationInitiator{Username: "test"}}
	create(t, app)

	got := waitApp(t, app, "operation finished", operationFinished)
	st := got.Status.OperationState
	if st.Phase != v1alpha1.OperationFailed || !strings.Contains(st.Message, "PreSync hook batch/Job "+ns+"/migrate failed") ||
		!strings.Contains(st.Message, "DeadlineExceeded") {
		t.Errorf("operation %s: %q, want Failed naming the hook Job %s/migrate and its reason DeadlineExceeded", st.Phase, st.Message, ns)
	}
	ctx := t.Context()
	if live(ctx, t, "v1", "ConfigMap", ns, "app-config") != nil || live(ctx, t, "apps/v1", "Deployment", ns, "web") != nil {
		t.Error("a Sync-phase object was applied after the PreSync hook failed")
	}
	if r := result(got, v1alpha1.SyncPhasePreSync, "Job", "migrate"); r == nil || r.HookPhase != v1alpha1.OperationFailed || !strings.Contains(r.Message, "DeadlineExceeded") {
		t.Errorf("migrate result = %+v, want Failed with the reason", r)
	}
	if r := result(got, v1alpha1.SyncPhaseSyncFail, "Job", "on-failure"); r == nil || r.HookPhase != v1alpha1.OperationSucceeded {
		t.Errorf("on-failure result = %+v, want the SyncFail hook run to success", r)
	}
	if live(ctx, t, "batch/v1", "Job", ns, "on-failure") == nil {
		t.Error("the SyncFail hook Job does not exist")
	}
	if live(ctx, t, "batch/v1", "Job", ns, "migrate") != nil {
		t.Error("the failed hook Job still exists; its delete policy is HookFailed")
	}
}

// TestPostSyncAfterHealthy: a PostSync hook is created only after every
// Sync-phase object is healthy.
func TestPostSyncAfterHealthy(t *testing.T) {
	const ns = "postsync"
	repo := newGitRepo(t)
	repo.write(map[string]string{
		"app/deployment.yaml": deploymentYAML("web", `    argocd.argoproj.io/sync-wave: "0"`, ""),
		"app/late.yaml":       deploymentYAML("late", `    argocd.argoproj.io/sync-wave: "3"`, ""),
		"app/smoke.yaml":      job("smoke", "    argocd.argoproj.io/hook: PostSync"),
	})
	head := repo.commit("with a smoke test")
	tl := watchTimeline(t, ns, jobGVK, deploymentGVK)
	app := newApp("postsync", ns, repo, "app", &v1alpha1.SyncPolicyAutomated{})
	create(t, app)

	waitOrdered(t, tl, "available Deployment web", "added Deployment late", "available Deployment late", "added Job smoke", "complete Job smoke")
	got := waitApp(t, app, "Synced", syncedAt(head))
	if r := result(got, v1alpha1.SyncPhasePostSync, "Job", "smoke"); r == nil || r.HookPhase != v1alpha1.OperationSucceeded {
		t.Errorf("smoke result = %+v, want the PostSync hook Succeeded", r)
	}
	if live(t.Context(), t, "batch/v1", "Job", ns, "smoke") == nil {
		t.Error("the PostSync Job (default policy BeforeHookCreation) was deleted; it should stay until the next sync")
	}
}

// TestPruneOrder: prunes run after the Sync phase, highest wave first; an
// object marked PruneLast is pruned after the PostSync hooks; one marked
// Prune=false is left in place (and reported as requiring pruning).
func TestPruneOrder(t *testing.T) {
	const ns = "prune-order"
	repo := newGitRepo(t)
	files := map[string]string{
		"app/keep.yaml": configMapYAML("keep", `    argocd.argoproj.io/sync-wave: "0"`),
		"app/w0.yaml":   configMapYAML("w0", `    argocd.argoproj.io/sync-wave: "0"`),
		"app/w1.yaml":   configMapYAML("w1", `    argocd.argoproj.io/sync-wave: "1"`),
		"app/w2.yaml":   configMapYAML("w2", `    argocd.argoproj.io/sync-wave: "2"`),
		"app/last.yaml": configMapYAML("last", `    argocd.argoproj.io/sync-wave: "5"`+"\n"+`    argocd.argoproj.io/sync-options: PruneLast=true`),
		"app/stay.yaml": configMapYAML("stay", `    argocd.argoproj.io/sync-options: Prune=false`),
	}
	repo.write(files)
	first := repo.commit("five config maps")
	app := newApp("prune-order", ns, repo, "app", &v1alpha1.SyncPolicyAutomated{Prune: true})
	create(t, app)
	waitApp(t, app, "Synced at the first commit", syncedAt(first))

	tl := watchTimeline(t, ns, configMapGVK, jobGVK)
	repo.git("rm", "-q", "app/w0.yaml", "app/w1.yaml", "app/w2.yaml", "app/last.yaml", "app/stay.yaml")
	repo.write(map[string]string{"app/notify.yaml": job("notify", "    argocd.argoproj.io/hook: PostSync")})
	second := repo.commit("only keep, and a PostSync hook")
	waitOrdered(t, tl, "deleted ConfigMap w2", "deleted ConfigMap w1", "deleted ConfigMap w0", "added Job notify",
		"complete Job notify", "deleted ConfigMap last")
	got := waitApp(t, app, "synced to the second commit, stay left for pruning", func(a *v1alpha1.Application) bool {
		st := a.Status.OperationState
		return st != nil && st.Phase == v1alpha1.OperationSucceeded && st.SyncResult.Revision == second &&
			slices.ContainsFunc(a.Status.Resources, func(r v1alpha1.ResourceStatus) bool { return r.Name == "stay" && r.RequiresPruning })
	})
	if tl.has("deleted ConfigMap keep") || tl.has("deleted ConfigMap stay") {
		t.Errorf("keep or stay (Prune=false) was pruned; %s", describeApp(got))
	}
}

// TestInterruptedWave: a terminate request stops a sync waiting on a wave
// that cannot become healthy; the next wave is never applied. A new
// revision interrupts an automated sync stuck the same way, and the sync of
// the new revision starts from the plan again and completes.
func TestInterruptedWave(t *testing.T) {
	const ns = "interrupted"
	ctx := t.Context()
	repo := newGitRepo(t)
	stuck := map[string]string{
		"app/web.yaml":   deploymentYAML("web", `    argocd.argoproj.io/sync-wave: "0"`, `      nodeSelector: {ferry.test/no-such-node: "true"}`),
		"app/after.yaml": configMapYAML("after", `    argocd.argoproj.io/sync-wave: "1"`),
	}
	repo.write(stuck)
	repo.commit("a rollout that cannot finish")
	app := newApp("interrupted", ns, repo, "app", nil)
	app.Operation = &v1alpha1.Operation{Sync: &v1alpha1.SyncOperation{}, InitiatedBy: v1alpha1.OperationInitiator{Username: "test"}}
	create(t, app)
	waitApp(t, app, "waiting on wave 0", func(a *v1alpha1.Application) bool {
		r := result(a, v1alpha1.SyncPhaseSync, "Deployment", "web")
		return a.Status.OperationState != nil && a.Status.OperationState.Phase == v1alpha1.OperationRunning && r != nil && r.HookPhase == v1alpha1.OperationRunning
	})
	terminate := client.RawPatch("application/merge-patch+json", []byte(`{"status":{"operationState":{"phase":"Terminating"}}}`))
	if err := env.Client.Status().Patch(ctx, app, terminate); err != nil {
		t.Fatal(err)
	}
	got := waitApp(t, app, "operation finished", operationFinished)
	if st := got.Status.OperationState; st.Phase != v1alpha1.OperationFailed || !strings.Contains(st.Message, "terminated by request") {
		t.Errorf("operation %s: %q, want Failed, terminated by request", st.Phase, st.Message)
	}
	if r := result(got, v1alpha1.SyncPhaseSync, "Deployment", "web"); r == nil || r.Status != v1alpha1.ResultCodeSynced {
		t.Errorf("web result = %+v: the applied wave must stay reported", r)
	}
	if live(ctx, t, "v1", "ConfigMap", ns, "after") != nil {
		t.Error("wave 1 was applied after the sync was terminated")
	}

	// Automated: stuck again, then a fixed revision supersedes it.
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"syncPolicy":{"automated":{}}}}`))
	if err := env.Client.Patch(ctx, app, patch); err != nil {
		t.Fatal(err)
	}
	waitApp(t, app, "an automated sync waiting on wave 0", func(a *v1alpha1.Application) bool {
		st := a.Status.OperationState
		return st != nil && st.Operation.InitiatedBy.Automated && st.Phase == v1alpha1.OperationRunning
	})
	repo.write(map[string]string{"app/web.yaml": deploymentYAML("web", `    argocd.argoproj.io/sync-wave: "0"`, "")})
	fixed := repo.commit("schedulable again")
	got = waitApp(t, app, "Synced at the fix", func(a *v1alpha1.Application) bool { return syncedAt(fixed)(a) && healthy(a) })
	if live(ctx, t, "v1", "ConfigMap", ns, "after") == nil {
		t.Error("wave 1 missing after the new revision synced")
	}
	if !strings.Contains(env.Logs.String(), "superseded by "+fixed[:7]) {
		t.Errorf("the stuck automated sync was not interrupted by the new revision %s", fixed[:7])
	}
}
