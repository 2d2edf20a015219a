package notify

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// EventFor builds what templates see when trigger fires for app: the
// Application as JSON, its repository, and the revision the trigger is
// about (the operation's for the sync triggers, else the compared one).
func EventFor(app *v1alpha1.Application, trigger, message string, context map[string]string) (Event, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(app)
	if err != nil {
		return Event{}, fmt.Errorf("application %s/%s: %w", app.Namespace, app.Name, err)
	}
	repo := ""
	if app.Spec.Source != nil {
		repo = app.Spec.Source.RepoURL
	}
	rev := app.Status.Sync.Revision
	if st := app.Status.OperationState; (trigger == TriggerSyncFailed || trigger == TriggerSyncSucceeded) && st != nil && st.SyncResult != nil {
		rev = st.SyncResult.Revision
	}
	return Event{Trigger: trigger, App: obj, Revision: rev, RepoURL: repo, Message: message, Context: context}, nil
}
