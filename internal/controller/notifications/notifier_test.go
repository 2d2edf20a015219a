package notifications

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/controller/application"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

func status(sync v1alpha1.SyncStatusCode, health v1alpha1.HealthStatusCode, rev string) v1alpha1.ApplicationStatus {
	return v1alpha1.ApplicationStatus{Sync: v1alpha1.SyncStatus{Status: sync, Revision: rev}, Health: v1alpha1.HealthStatus{Status: health}}
}

func withOperation(s v1alpha1.ApplicationStatus, phase v1alpha1.OperationPhase, started int64, finished bool) v1alpha1.ApplicationStatus {
	st := &v1alpha1.OperationState{Phase: phase, StartedAt: metav1.Unix(started, 0), Message: "boom",
		Operation: v1alpha1.Operation{Sync: &v1alpha1.SyncOperation{}}, SyncResult: &v1alpha1.SyncOperationResult{Revision: s.Sync.Revision}}
	if finished {
		t := metav1.Unix(started+1, 0)
		st.FinishedAt = &t
	}
	s.OperationState = st
	return s
}

func TestTriggers(t *testing.T) {
	const (
		synced, outOf            = v1alpha1.SyncStatusCodeSynced, v1alpha1.SyncStatusCodeOutOfSync
		healthy, degraded, progr = v1alpha1.HealthStatusHealthy, v1alpha1.HealthStatusDegraded, v1alpha1.HealthStatusProgressing
		unknown                  = v1alpha1.SyncStatusCodeUnknown
	)
	tests := []struct {
		name          string
		before, after v1alpha1.ApplicationStatus
		drift         []application.Drift
		want          []string
	}{
		{"nothing changed", status(synced, healthy, "r1"), status(synced, healthy, "r1"), nil, nil},
		{"new app goes out of sync", v1alpha1.ApplicationStatus{}, status(outOf, "", "r1"), nil, []string{"on-out-of-sync r1"}},
		{"a sync succeeds and the app is healthy", status(outOf, progr, "r1"), withOperation(status(synced, healthy, "r1"), v1alpha1.OperationSucceeded, 10, true), nil,
			[]string{"on-sync-succeeded r1", "on-deployed r1"}},
		{"a running operation fires nothing", status(outOf, healthy, "r1"), withOperation(status(outOf, healthy, "r1"), v1alpha1.OperationRunning, 10, false), nil, nil},
		{"the same finished operation again fires nothing", withOperation(status(synced, progr, "r1"), v1alpha1.OperationFailed, 10, true),
			withOperation(status(synced, progr, "r1"), v1alpha1.OperationFailed, 10, true), nil, nil},
		{"a failed sync", status(outOf, healthy, "r2"), withOperation(status(outOf, healthy, "r2"), v1alpha1.OperationFailed, 20, true), nil, []string{"on-sync-failed r2"}},
		{"healthy later, at the same revision", status(synced, progr, "r1"), status(synced, healthy, "r1"), nil, []string{"on-deployed r1"}},
		{"degraded", status(synced, healthy, "r1"), status(synced, degraded, "r1"), nil, []string{"on-health-degraded r1"}},
		{"drift", status(synced, healthy, "r1"), status(outOf, healthy, "r1"),
			[]application.Drift{{Key: fsync.Key{Kind: "ConfigMap", Namespace: "ns", Name: "a"}, Manager: "kubectl-edit", ResourceVersion: "7"}},
			[]string{"on-out-of-sync r1", "on-drift-detected r1|ConfigMap ns/a@7"}},
		{"a new app that cannot be compared", v1alpha1.ApplicationStatus{}, status(unknown, "", ""), nil, []string{"on-sync-status-unknown "}},
		{"comparison fails", status(synced, healthy, "r1"), status(unknown, healthy, "r1"), nil, []string{"on-sync-status-unknown r1"}},
		{"still unknown", status(unknown, healthy, "r1"), status(unknown, healthy, "r1"), nil, nil},
		{"known again", status(unknown, healthy, "r1"), status(synced, healthy, "r1"), nil, []string{"on-deployed r1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range Triggers(tt.before, tt.after, tt.drift) {
				got = append(got, f.Trigger+" "+f.Key)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("fired %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnknownMessage(t *testing.T) {
	s := status(v1alpha1.SyncStatusCodeUnknown, "", "r1")
	if got := unknownMessage(s); got != "sync status is Unknown" {
		t.Errorf("without conditions: %q", got)
	}
	s.Conditions = []v1alpha1.ApplicationCondition{
		{Type: v1alpha1.ApplicationConditionComparisonError, Message: "resolve main: not found"},
		{Type: "SharedResourceWarning", Message: "ignored"},
		{Type: v1alpha1.ApplicationConditionInvalidSpecError, Message: "no destination"},
	}
	if got, want := unknownMessage(s), "sync status is Unknown: resolve main: not found; no destination"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
