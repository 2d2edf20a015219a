package cli

import (
	"slices"
	"testing"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestProgressLinesPrintEachResultOnce(t *testing.T) {
	app := &v1alpha1.Application{Status: v1alpha1.ApplicationStatus{
		Resources: []v1alpha1.ResourceStatus{{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: "web", SyncWave: 2}},
		OperationState: &v1alpha1.OperationState{Phase: v1alpha1.OperationRunning, SyncResult: &v1alpha1.SyncOperationResult{
			Resources: []v1alpha1.ResourceResult{{Kind: "ConfigMap", Namespace: "ns", Name: "cfg", Status: v1alpha1.ResultCodeSynced, Message: "created", SyncPhase: v1alpha1.SyncPhaseSync}},
		}},
	}}
	printed := map[string]bool{}
	if got, want := progressLines(app, printed), []string{"  Sync wave 0  ConfigMap ns/cfg: Synced (created)"}; !slices.Equal(got, want) {
		t.Errorf("first poll: %q, want %q", got, want)
	}
	app.Status.OperationState.SyncResult.Resources = append(app.Status.OperationState.SyncResult.Resources,
		v1alpha1.ResourceResult{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: "web", Status: v1alpha1.ResultCodeSynced, Message: "configured", SyncPhase: v1alpha1.SyncPhaseSync})
	if got, want := progressLines(app, printed), []string{"  Sync wave 2  Deployment ns/web: Synced (configured)"}; !slices.Equal(got, want) {
		t.Errorf("second poll: %q, want only the new result %q", got, want)
	}
}
