package application_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// TestRejectedCommitFailsTheSync is the newcomer's fault: a commit the API
// server rejects (replicas: -1 on an existing Deployment) under automated
// sync must be a failed sync attempt — operationState Failed with the
// server's message naming the object and field, retried per
// syncPolicy.retry, on-sync-failed sent once for the revision — not only a
// ComparisonError with nothing in the sync record.
func TestRejectedCommitFailsTheSync(t *testing.T) {
	ctx := t.Context()
	in := &inbox{}
	srv := httptest.NewServer(in)
	t.Cleanup(srv.Close)
	configureNotifications(ctx, t, srv.URL)

	repo := newGitRepo(t)
	good := deploymentYAML("myapp", `    team: a`, "")
	repo.write(map[string]string{"app/deployment.yaml": good})
	first := repo.commit("myapp")
	app := newApp("rejected", "rejected", repo, "app", &v1alpha1.SyncPolicyAutomated{Prune: true})
	factor := int64(1)
	app.Spec.SyncPolicy.Retry = &v1alpha1.RetryStrategy{Limit: 2, Backoff: &v1alpha1.Backoff{Duration: "1s", Factor: &factor, MaxDuration: "1s"}}
	app.Annotations = map[string]string{"notifications.argoproj.io/subscribe.on-sync-failed.ops": ""}
	create(t, app)
	waitApp(t, app, "synced at the first commit", syncedAt(first))

	repo.write(map[string]string{"app/deployment.yaml": strings.Replace(good, "replicas: 1", "replicas: -1", 1)})
	second := repo.commit("replicas: -1")
	got := waitApp(t, app, "a failed sync of the rejected commit, retries spent", func(a *v1alpha1.Application) bool {
		st := a.Status.OperationState
		return st != nil && st.Phase == v1alpha1.OperationFailed && st.SyncResult != nil && st.SyncResult.Revision == second &&
			st.RetryCount == 2 && st.FinishedAt != nil
	})
	st := got.Status.OperationState
	for _, want := range []string{"myapp", "spec.replicas"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("operation message %q does not name %q", st.Message, want)
		}
	}
	if !st.Operation.InitiatedBy.Automated {
		t.Errorf("the failed sync was not the automated one: %+v", st.Operation.InitiatedBy)
	}
	if got.Status.Sync.Status != v1alpha1.SyncStatusCodeOutOfSync || got.Status.Sync.Revision != second {
		t.Errorf("sync status %+v: want OutOfSync at the rejected commit", got.Status.Sync)
	}
	for _, c := range got.Status.Conditions {
		if c.Type == v1alpha1.ApplicationConditionComparisonError {
			t.Errorf("a rejected object is reported as a comparison error: %q", c.Message)
		}
	}
	if n := len(got.Status.History); n != 1 || got.Status.History[0].Revision != first {
		t.Errorf("history %+v: want only the first commit", got.Status.History)
	}

	// Retries are spent; one notification for the revision, whatever the
	// number of attempts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, _ := in.count("rejected", "on-sync-failed"); n >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a late duplicate would arrive by now
	n, last := in.count("rejected", "on-sync-failed")
	if n != 1 || last.Revision != second || !strings.Contains(last.Message, "replicas") {
		t.Errorf("on-sync-failed: %d notifications (last %+v), want one for %s naming replicas; %s", n, last, second, in.describe("rejected"))
	}
}
