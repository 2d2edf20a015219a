package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

const deletionApproved = "argocd.argoproj.io/deletion-approved"

// approve sets the Application's argocd.argoproj.io/deletion-approved to at.
func approve(t *testing.T, app *v1alpha1.Application, at time.Time) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, deletionApproved, at.UTC().Format(time.RFC3339))
	if err := env.Client.Patch(t.Context(), app, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func confirmationCondition(a *v1alpha1.Application) *v1alpha1.ApplicationCondition {
	for i, c := range a.Status.Conditions {
		if c.Type == v1alpha1.ApplicationConditionDeletionConfirmationPending {
			return &a.Status.Conditions[i]
		}
	}
	return nil
}

// after returns a time at least a second after t and not before now: an
// approval must be newer than the request, to the second.
func after(t time.Time) time.Time {
	at := t.Add(time.Second)
	if now := time.Now(); now.After(at) {
		at = now
	}
	return at
}

// TestPruneConfirm: a ConfigMap marked Prune=confirm that left Git is kept,
// named in the DeletionConfirmationPending condition and reported as
// waiting, while another that left Git is pruned; an approval older than
// the request changes nothing; a newer one prunes it.
func TestPruneConfirm(t *testing.T) {
	ctx := t.Context()
	const ns = "confirm-prune"
	repo := newGitRepo(t)
	repo.write(map[string]string{
		"cms/stays.yaml":   configMap("stays", "1"),
		"cms/plain.yaml":   configMap("plain", "1"),
		"cms/guarded.yaml": configMapYAML("guarded", "    argocd.argoproj.io/sync-options: Prune=confirm"),
	})
	repo.commit("three")
	app := newApp("confirm-prune", ns, repo, "cms", &v1alpha1.SyncPolicyAutomated{Prune: true})
	create(t, app)
	waitApp(t, app, "Synced", func(a *v1alpha1.Application) bool { return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced })

	repo.git("rm", "-q", "cms/plain.yaml", "cms/guarded.yaml")
	head := repo.commit("drop two")
	const named = `"ConfigMap confirm-prune/guarded"`
	got := waitApp(t, app, "the guarded ConfigMap held, the other pruned", func(a *v1alpha1.Application) bool {
		st := a.Status.OperationState
		if st == nil || st.SyncResult == nil || st.SyncResult.Revision != head {
			return false
		}
		held := false
		for _, r := range st.SyncResult.Resources {
			held = held || (r.Name == "guarded" && r.Status == v1alpha1.ResultCodePruneSkipped && strings.Contains(r.Message, "waiting for deletion confirmation"))
		}
		listed := false
		for _, r := range a.Status.Resources {
			listed = listed || (r.Name == "guarded" && r.RequiresPruning && r.RequiresDeletionConfirmation)
		}
		c := confirmationCondition(a)
		return held && listed && c != nil && strings.Contains(c.Message, named)
	})
	if !absent(ctx, t, "v1", "ConfigMap", ns, "plain") {
		t.Errorf("the unguarded ConfigMap was not pruned: %s", describeApp(got))
	}
	if absent(ctx, t, "v1", "ConfigMap", ns, "guarded") {
		t.Fatalf("the ConfigMap marked Prune=confirm was pruned without approval: %s", describeApp(got))
	}
	cond := confirmationCondition(got)
	if strings.Contains(cond.Message, "plain") || strings.Contains(cond.Message, "stays") {
		t.Errorf("the condition names objects that do not wait: %s", cond.Message)
	}
	requested := cond.LastTransitionTime.Time

	// An approval older than the request does not count.
	approve(t, app, requested.Add(-time.Hour))
	time.Sleep(5 * time.Second) // the annotation wakes the controller; two poll intervals more
	got = getApp(ctx, t, app)
	if absent(ctx, t, "v1", "ConfigMap", ns, "guarded") {
		t.Fatalf("pruned after an approval older than the request: %s", describeApp(got))
	}
	if c := confirmationCondition(got); c == nil || !c.LastTransitionTime.Time.Equal(requested) {
		t.Errorf("the request moved or went: %s", describeApp(got))
	}

	// A newer one prunes it, and the condition goes.
	approve(t, app, after(requested))
	eventually(t, time.Minute, "the guarded ConfigMap pruned after approval", func(ctx context.Context) (bool, string) {
		a := getApp(ctx, t, app)
		gone := absent(ctx, t, "v1", "ConfigMap", ns, "guarded")
		return gone && confirmationCondition(a) == nil && a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced,
			fmt.Sprintf("guarded gone: %v; %s", gone, describeApp(a))
	})
	if absent(ctx, t, "v1", "ConfigMap", ns, "stays") {
		t.Error("the ConfigMap still in Git was deleted")
	}
}

// TestDeleteConfirm: cascading deletion deletes the Application's objects
// but waits for the one marked Delete=confirm, naming it in the condition;
// an approval given before the deletion does not count; one newer than the
// deletion lets it go, and the Application with it.
func TestDeleteConfirm(t *testing.T) {
	ctx := t.Context()
	const ns = "confirm-delete"
	repo := newGitRepo(t)
	repo.write(map[string]string{
		"cms/plain.yaml":   configMap("plain", "1"),
		"cms/guarded.yaml": configMapYAML("guarded", "    argocd.argoproj.io/sync-options: Delete=confirm"),
	})
	head := repo.commit("two")
	app := newApp("confirm-delete", ns, repo, "cms", &v1alpha1.SyncPolicyAutomated{Prune: true})
	app.Finalizers = []string{"resources-finalizer.argocd.argoproj.io"}
	create(t, app)
	waitApp(t, app, "Synced", syncedAt(head))

	approve(t, app, time.Now()) // before the deletion: approves nothing of it
	if err := env.Client.Delete(ctx, app); err != nil {
		t.Fatal(err)
	}
	got := waitApp(t, app, "deletion waiting for the guarded ConfigMap", func(a *v1alpha1.Application) bool {
		c := confirmationCondition(a)
		return c != nil && strings.Contains(c.Message, `"ConfigMap confirm-delete/guarded"`) && strings.Contains(c.Message, "deleted")
	})
	eventually(t, 30*time.Second, "the unguarded ConfigMap deleted", func(ctx context.Context) (bool, string) {
		return absent(ctx, t, "v1", "ConfigMap", ns, "plain"), describeApp(getApp(ctx, t, app))
	})
	time.Sleep(3 * time.Second)
	if absent(ctx, t, "v1", "ConfigMap", ns, "guarded") {
		t.Fatalf("the ConfigMap marked Delete=confirm was deleted without approval: %s", describeApp(got))
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), &v1alpha1.Application{}); err != nil {
		t.Fatalf("the application went before its guarded ConfigMap: %v", err)
	}

	approve(t, app, after(got.DeletionTimestamp.Time))
	eventually(t, time.Minute, "application and guarded ConfigMap deleted after approval", func(ctx context.Context) (bool, string) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), &v1alpha1.Application{})
		gone := absent(ctx, t, "v1", "ConfigMap", ns, "guarded")
		return err != nil && gone, fmt.Sprintf("application get: %v; guarded gone: %v", err, gone)
	})
}
