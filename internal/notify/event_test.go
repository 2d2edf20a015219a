package notify

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestEventFor(t *testing.T) {
	app := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "guestbook"},
		Spec: v1alpha1.ApplicationSpec{Source: &v1alpha1.ApplicationSource{RepoURL: "https://github.com/acme/guestbook.git"}},
		Status: v1alpha1.ApplicationStatus{Sync: v1alpha1.SyncStatus{Revision: "compared"},
			OperationState: &v1alpha1.OperationState{SyncResult: &v1alpha1.SyncOperationResult{Revision: "synced"}}}}
	tests := map[string]string{
		TriggerSyncFailed:        "synced",
		TriggerSyncSucceeded:     "synced",
		TriggerDeployed:          "compared",
		TriggerSyncStatusUnknown: "compared",
	}
	for trigger, want := range tests {
		ev, err := EventFor(app, &Drift{Objects: []string{"Deployment web/api"}, Managers: []string{"kubectl-edit"}, Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		ev = ev.For(trigger)
		name := ev.App["metadata"].(map[string]any)["name"]
		if ev.Revision != want || ev.Trigger != trigger || ev.RepoURL != app.Spec.Source.RepoURL || name != "guestbook" ||
			ev.Context["manager"] != "kubectl-edit" || ev.Context["objects"] != "Deployment web/api" {
			t.Errorf("%s: %+v, want revision %q", trigger, ev, want)
		}
	}
}
