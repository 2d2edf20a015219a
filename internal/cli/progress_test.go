package cli

import (
	"slices"
	"testing"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestProgressLinesPrintEachResultOnce(t *testing.T) {
	app := &v1alpha1.Application{Status: v1alpha1.ApplicationStatus{
		OperationState: &v1alpha1.OperationState{Phase: v1alpha1.OperationRunning, SyncResult: &v1alpha1.SyncOperationResult{
			Resources: []v1alpha1.ResourceResult{{Kind: "ConfigMap", Namespace: "ns", Name: "cfg", Status: v1alpha1.ResultCodeSynced, Message: "created", SyncPhase: v1alpha1.SyncPhaseSync}},
		}},
	}}
	printed := map[string]bool{}
	if got, want := progressLines(app, printed), []string{"  Sync wave 0  ConfigMap ns/cfg: Synced (created)"}; !slices.Equal(got, want) {
		t.Errorf("first poll: %q, want %q", got, want)
	}
	app.Status.OperationState.SyncResult.Resources = append(app.Status.OperationState.SyncResult.Resources,
		v1alpha1.ResourceResult{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: "web", Status: v1alpha1.ResultCodeSynced, Message: "configured", SyncPhase: v1alpha1.SyncPhaseSync, SyncWave: 2})
	if got, want := progressLines(app, printed), []string{"  Sync wave 2  Deployment ns/web: Synced (configured)"}; !slices.Equal(got, want) {
		t.Errorf("second poll: %q, want only the new result %q", got, want)
	}
	// A hook's state changes: a new line; the same state again: none.
	app.Status.OperationState.SyncResult.Resources = append(app.Status.OperationState.SyncResult.Resources,
		v1alpha1.ResourceResult{Group: "batch", Kind: "Job", Namespace: "ns", Name: "migrate", HookType: v1alpha1.HookTypePreSync,
			HookPhase: v1alpha1.OperationRunning, Message: "job running", SyncPhase: v1alpha1.SyncPhasePreSync, SyncWave: 1})
	if got, want := progressLines(app, printed), []string{"  PreSync wave 1  PreSync hook Job ns/migrate: Running (job running)"}; !slices.Equal(got, want) {
		t.Errorf("third poll: %q, want %q", got, want)
	}
	hook := &app.Status.OperationState.SyncResult.Resources[2]
	hook.HookPhase, hook.Message = v1alpha1.OperationSucceeded, "job completed"
	if got, want := progressLines(app, printed), []string{"  PreSync wave 1  PreSync hook Job ns/migrate: Succeeded (job completed)"}; !slices.Equal(got, want) {
		t.Errorf("fourth poll: %q, want %q", got, want)
	}
	if got := progressLines(app, printed); len(got) != 0 {
		t.Errorf("fifth poll: %q, want nothing new", got)
	}
}
