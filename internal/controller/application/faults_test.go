package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/gittest"
)

// protectedLabel marks the ConfigMaps the admission policy of
// denyProtectedDeletes will not let anyone delete.
const protectedLabel = "ferry.test/protected"

// denyProtectedDeletes installs a ValidatingAdmissionPolicy and its binding
// that deny DELETE of ConfigMaps labelled protectedLabel in namespace ns,
// and waits until the API server enforces them (policies are compiled and
// bound asynchronously): a scratch ConfigMap's DELETE is denied. It returns
// the function that removes the binding (idempotent), which the test's
// cleanup calls too.
func denyProtectedDeletes(ctx context.Context, t *testing.T, name, ns string) (unbind func()) {
	t.Helper()
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: selector,
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Delete},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("!has(oldObject.metadata.labels) || !(%q in oldObject.metadata.labels)", protectedLabel),
				Message:    "ConfigMaps labelled " + protectedLabel + " may not be deleted",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-binding"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources:    &admissionregistrationv1.MatchResources{NamespaceSelector: selector},
		},
	}
	for _, obj := range []client.Object{policy, binding} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}
	unbind = func() {
		if err := env.Client.Delete(context.Background(), binding); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete the policy binding: %v", err)
		}
	}
	scratch := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "scratch-protected", Namespace: ns, Labels: map[string]string{protectedLabel: "true"}}}
	t.Cleanup(func() {
		unbind()
		_ = env.Client.Delete(context.Background(), policy)
		// An update is not denied: unlabel the scratch object, then delete
		// it, however long the API server takes to drop the binding.
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":null}}`))
		if err := env.Client.Patch(context.Background(), scratch, patch); err == nil {
			_ = env.Client.Delete(context.Background(), scratch)
		}
	})
	eventually(t, 60*time.Second, "the policy denies deleting a protected ConfigMap", func(ctx context.Context) (bool, string) {
		if err := env.Client.Create(ctx, scratch.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
			return false, err.Error()
		}
		err := env.Client.Delete(ctx, scratch.DeepCopy())
		if err == nil {
			return false, "deleted: the policy is not enforced yet"
		}
		return strings.Contains(err.Error(), name), err.Error()
	})
	return unbind
}

// TestPruneDeniedByAdmissionPolicy: an admission policy denies deleting two
// of four ConfigMaps a commit removes from Git. As in Argo CD, the other two
// are pruned all the same; the sync fails with the denial (naming the
// policy), the two survivors are failed prunes in the sync result and stay
// in status.resources, requiring pruning; the sync is retried; once the
// policy is unbound, a retry prunes them and the Application ends Synced.
func TestPruneDeniedByAdmissionPolicy(t *testing.T) {
	ctx := t.Context()
	const ns, policy = "fault-prune", "ferry-test-protect"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	unbind := denyProtectedDeletes(ctx, t, policy, ns)

	protected := func(name string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  labels: {%s: \"true\"}\ndata: {value: x}\n", name, protectedLabel)
	}
	// In prune order (by name within a wave), the protected objects come
	// first: a prune that stops at its first failure deletes nothing.
	repo := newGitRepo(t)
	repo.write(map[string]string{
		"cms/anchor.yaml":      configMap("anchor", "stays"), // so the last commit is no empty render
		"cms/a-guarded-1.yaml": protected("a-guarded-1"), "cms/a-guarded-2.yaml": protected("a-guarded-2"),
		"cms/b-plain-1.yaml": configMap("b-plain-1", "x"), "cms/b-plain-2.yaml": configMap("b-plain-2", "x"),
	})
	first := repo.commit("five")
	app := newApp("fault-prune", ns, repo, "cms", &v1alpha1.SyncPolicyAutomated{Prune: true})
	factor := int64(1)
	app.Spec.SyncPolicy.Retry = &v1alpha1.RetryStrategy{Limit: 100, Backoff: &v1alpha1.Backoff{Duration: "2s", Factor: &factor, MaxDuration: "2s"}}
	create(t, app)
	// Cleanups run last first: the binding goes before the Application's
	// cascading deletion, which must delete the protected objects too.
	t.Cleanup(unbind)
	waitApp(t, app, "Synced", syncedAt(first))

	repo.git("rm", "-q", "cms/a-guarded-1.yaml", "cms/a-guarded-2.yaml", "cms/b-plain-1.yaml", "cms/b-plain-2.yaml")
	head := repo.commit("drop four")
	guarded := []string{"a-guarded-1", "a-guarded-2"}
	got := waitApp(t, app, "a failed sync with two failed prunes, retried", func(a *v1alpha1.Application) bool {
		st := a.Status.OperationState
		if st == nil || st.Phase != v1alpha1.OperationFailed || st.SyncResult == nil || st.SyncResult.Revision != head || st.RetryCount < 1 {
			return false
		}
		for _, name := range guarded {
			if r := syncResultOf(st, "ConfigMap", name); r == nil || r.Status != v1alpha1.ResultCodeSyncFailed {
				return false
			}
		}
		return true
	})
	st := got.Status.OperationState
	t.Logf("retry %d: %s", st.RetryCount, st.Message)
	for _, name := range guarded {
		r := syncResultOf(st, "ConfigMap", name)
		if !strings.Contains(r.Message, policy) {
			t.Errorf("the failed prune of %s does not name the policy: %q", name, r.Message)
		}
		if !strings.Contains(st.Message, name) || !strings.Contains(st.Message, policy) {
			t.Errorf("the operation's message does not name %s and the policy: %q", name, st.Message)
		}
		if live(ctx, t, "v1", "ConfigMap", ns, name) == nil {
			t.Errorf("%s deleted despite the policy", name)
		}
	}
	// A retry's result has nothing left to prune but the protected ones;
	// the plain ones were pruned by the first attempt.
	for _, name := range []string{"b-plain-1", "b-plain-2"} {
		if live(ctx, t, "v1", "ConfigMap", ns, name) != nil {
			t.Errorf("%s not pruned: a denied prune stopped the others; %s", name, describeApp(got))
		}
	}
	got = waitApp(t, app, "the protected objects in status.resources, requiring pruning", func(a *v1alpha1.Application) bool {
		names := map[string]bool{}
		for _, r := range a.Status.Resources {
			names[r.Name] = r.RequiresPruning
		}
		return len(names) == 3 && names["a-guarded-1"] && names["a-guarded-2"] && !names["anchor"] &&
			a.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync && hasCondition(a, v1alpha1.ApplicationConditionSyncError, policy)
	})
	retries := got.Status.OperationState.RetryCount

	// Without the binding, the next retry prunes them.
	unbind()
	got = waitApp(t, app, "Synced once the policy is unbound", func(a *v1alpha1.Application) bool {
		st := a.Status.OperationState
		return syncedAt(head)(a) && len(a.Status.Resources) == 1 && len(a.Status.Conditions) == 0 &&
			st != nil && st.Phase == v1alpha1.OperationSucceeded && st.SyncResult.Revision == head
	})
	if got.Status.OperationState.RetryCount <= retries {
		t.Errorf("the successful sync is retry %d, want a retry after %d: %s", got.Status.OperationState.RetryCount, retries, describeApp(got))
	}
	for _, name := range guarded {
		if live(ctx, t, "v1", "ConfigMap", ns, name) != nil {
			t.Errorf("%s not pruned after the policy was unbound", name)
		}
	}
	if n := len(got.Status.History); n != 2 || got.Status.History[1].Revision != head {
		t.Errorf("history %+v: want the first sync and the one of %s", got.Status.History, head)
	}
	t.Logf("failed attempts before the binding was removed: %d; final %s", retries+1, describeApp(got))
}

// syncResultOf is the operation's result for one object of the Sync phase.
func syncResultOf(st *v1alpha1.OperationState, kind, name string) *v1alpha1.ResourceResult {
	if st == nil || st.SyncResult == nil {
		return nil
	}
	for i, r := range st.SyncResult.Resources {
		if r.Kind == kind && r.Name == name && r.HookType == "" {
			return &st.SyncResult.Resources[i]
		}
	}
	return nil
}

// TestForcePushedBranch: the branch an automated Application follows, served
// over smart HTTP, is force-pushed to an unrelated commit, so the deployed
// one is on no branch any more. The Application syncs the new commit; its
// history keeps the old entry; nothing panics and no condition stays.
// `ferry app history` shows both entries, and `ferry app rollback` to the
// vanished commit works while the controller's cache holds it, as Argo CD's
// repo-server checks out a commit its clone holds; a commit the cache never
// held fails, naming the revision. Each operation's state is its own: the
// rollback is not marked automated like the sync before it, and a sync that
// failed before applying anything lists no results of the one before.
func TestForcePushedBranch(t *testing.T) {
	ctx := t.Context()
	const ns, name = "fault-rewritten", "fault-rewritten"
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/cm.yaml": configMap("rewritten", "A")})
	a := repo.commit("A")
	root := t.TempDir()
	bare := &gitRepo{t: t, dir: gittest.BareClone(t, repo.dir, root, "rewritten.git")}
	srv, requests := gittest.HTTPServer(t, root, "", "")
	repo.git("remote", "add", "origin", bare.dir)

	app := newApp(name, ns, repo, "cms", &v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true})
	app.Spec.Source.RepoURL = srv.URL + "/rewritten.git"
	create(t, app)
	waitApp(t, app, "Synced at A", func(a2 *v1alpha1.Application) bool {
		return syncedAt(a)(a2) && len(a2.Status.History) == 1
	})
	if requests.Load() == 0 {
		t.Fatal("the controller did not read the repository over HTTP")
	}

	// Main is rewritten to a commit sharing no history with A.
	logFrom := len(env.Logs.String())
	repo.git("checkout", "-q", "--orphan", "rewrite")
	repo.write(map[string]string{"cms/cm.yaml": configMap("rewritten", "B")})
	b := repo.commit("B, unrelated to A")
	repo.git("push", "-q", "--force", "origin", "HEAD:main")
	pushed := time.Now()
	if refs := bare.git("for-each-ref", "--contains", a); refs != "" {
		t.Fatalf("A is still on a ref of the served repository: %s", refs)
	}

	got := waitApp(t, app, "Synced at B, with no condition", func(a2 *v1alpha1.Application) bool {
		st := a2.Status.OperationState
		return syncedAt(b)(a2) && healthy(a2) && len(a2.Status.Conditions) == 0 && st != nil && st.Phase == v1alpha1.OperationSucceeded
	})
	t.Logf("Synced at B %.1f s after the force push", time.Since(pushed).Seconds())
	if v := cmValue(ctx, t, ns, "rewritten"); v != "B" {
		t.Errorf("the ConfigMap has %q, want B's value", v)
	}
	h := got.Status.History
	if len(h) != 2 || h[0].ID != 1 || h[0].Revision != a || h[1].ID != 2 || h[1].Revision != b {
		t.Errorf("history %+v: want 1 at A (%s), 2 at B (%s)", h, a, b)
	}
	if logs := env.Logs.String()[logFrom:]; strings.Contains(logs, "panic") {
		t.Errorf("the controller log shows a panic after the force push:\n%s", logs)
	}

	out, err := ferryCLI(t, "app", "history", name)
	if err != nil {
		t.Fatalf("ferry app history: %v\n%s", err, out)
	}
	for _, want := range []string{"main (" + a[:7] + ")", "main (" + b[:7] + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("ferry app history does not show %q:\n%s", want, out)
		}
	}
	// -o wide reads each commit's message from a fresh clone, which has no
	// A: that entry says so, the command does not fail.
	out, err = ferryCLI(t, "app", "history", name, "-o", "wide")
	if err != nil {
		t.Fatalf("ferry app history -o wide: %v\n%s", err, out)
	}
	var lineA string
	for line := range strings.Lines(out) {
		if strings.Contains(line, a) {
			lineA = line
		}
	}
	if !strings.Contains(lineA, "revision not found") || !strings.Contains(out, "B, unrelated to A") {
		t.Errorf("ferry app history -o wide: want A's entry to say its revision is not found, B's its message:\n%s", out)
	}

	// Rollback to entry 1. The controller's cache still holds A (a fetch
	// with prune drops refs, never objects), so A is synced again, as
	// Argo CD's repo-server checks out a commit its clone holds.
	if out, err := ferryCLI(t, "app", "rollback", name, "1"); err == nil || !strings.Contains(err.Error(), "auto-sync") {
		t.Errorf("rollback of an automated Application without --disable-auto-sync: %v\n%s", err, out)
	}
	out, err = ferryCLI(t, "app", "rollback", name, "1", "--disable-auto-sync", "--timeout", "90s")
	if err != nil {
		t.Fatalf("ferry app rollback to A: %v\n%s", err, out)
	}
	got = getApp(ctx, t, app)
	if st := got.Status.OperationState; st.SyncResult == nil || st.SyncResult.Revision != a {
		t.Errorf("the rollback synced %+v, want A (%s)", st.SyncResult, a)
	}
	// The operation state is the rollback's alone: nothing of the automated
	// sync before it survives in the fields the rollback leaves empty.
	if by := got.Status.OperationState.Operation.InitiatedBy; by.Automated || by.Username == "" {
		t.Errorf("the rollback's operation was initiated by %+v, want a user, not automated", by)
	}
	if v := cmValue(ctx, t, ns, "rewritten"); v != "A" {
		t.Errorf("after the rollback the ConfigMap has %q, want A's value", v)
	}
	if h := got.Status.History; len(h) != 3 || h[2].ID != 3 || h[2].Revision != a {
		t.Errorf("history after the rollback %+v: want entry 3 at A", h)
	}

	// A commit the server never had (and so neither has the cache): the
	// sync fails, naming the revision.
	repo.write(map[string]string{"cms/cm.yaml": configMap("rewritten", "C")})
	c := repo.commit("C, never pushed")
	out, err = ferryCLI(t, "app", "sync", name, "--revision", c, "--timeout", "90s")
	if err == nil || !strings.Contains(out, c) || !strings.Contains(out, "revision not found") {
		t.Errorf("sync to a commit the repository lacks: %v\n%s", err, out)
	}
	if v := cmValue(ctx, t, ns, "rewritten"); v != "A" {
		t.Errorf("after the failed sync the ConfigMap has %q, want A's value", v)
	}
	// It applied nothing, so its result lists nothing: not the rollback's
	// results under the new message.
	if st := getApp(ctx, t, app).Status.OperationState; st.Phase != v1alpha1.OperationFailed || st.SyncResult == nil || len(st.SyncResult.Resources) != 0 {
		t.Errorf("the failed sync's state %s, results %+v: want Failed with no resource results", st.Phase, st.SyncResult)
	}

	// A sync of main ends it: Synced at B again, no condition left.
	if out, err := ferryCLI(t, "app", "sync", name, "--timeout", "90s"); err != nil {
		t.Fatalf("ferry app sync: %v\n%s", err, out)
	}
	got = waitApp(t, app, "Synced at B after the sync of main, with no condition", func(a2 *v1alpha1.Application) bool {
		return syncedAt(b)(a2) && len(a2.Status.Conditions) == 0
	})
	if v := cmValue(ctx, t, ns, "rewritten"); v != "B" {
		t.Errorf("after the sync of main the ConfigMap has %q, want B's value", v)
	}
	if logs := env.Logs.String()[logFrom:]; strings.Contains(logs, "panic") {
		t.Errorf("the controller log shows a panic:\n%s", logs)
	}
}

// cmValue is the data.value of a ConfigMap; "" when it does not exist.
func cmValue(ctx context.Context, t *testing.T, ns, name string) string {
	t.Helper()
	cm := live(ctx, t, "v1", "ConfigMap", ns, name)
	if cm == nil {
		return ""
	}
	v, _, _ := unstructured.NestedString(cm.Object, "data", "value")
	return v
}
