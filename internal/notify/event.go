package notify

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// Drift is what one comparison found changed outside Git: on-drift-detected
// fires on it (as ferry.drift in `when:` expressions).
type Drift struct {
	// Objects are the changed objects ("Deployment web/api").
	Objects []string
	// Managers are the field managers that wrote them last.
	Managers []string
	// Key names the revision and the objects' resourceVersions: one per
	// change.
	Key string
}

// CommitMetadata is what repo.GetCommitMetadata returns, as in Argo CD.
type CommitMetadata struct {
	Message string
	Author  string
	Date    time.Time
	Tags    []string
}

// CommitLookup reads a commit of the Application's repository.
type CommitLookup func(repoURL, sha string) (CommitMetadata, error)

// Event is an Application as triggers and templates see it; For sets the
// trigger it is told for.
type Event struct {
	// App is the Application as JSON-decoded map ({{.app.metadata.name}},
	// `app.status.health.status` in `when:`).
	App map[string]any
	// RepoURL is the Application's (first) source repository.
	RepoURL string
	// Drift is this reconcile's drift; nil when none.
	Drift *Drift
	// Commits serves repo.GetCommitMetadata; nil: it fails.
	Commits CommitLookup

	// Trigger is the trigger told (set by For).
	Trigger string
	// Revision is what the trigger is about: the operation's revision for
	// sync triggers, else the compared one.
	Revision string
	// Message is a one-line summary of a built-in trigger's state (a sync's
	// message, what is Degraded, why the status is Unknown, who drifted).
	Message string
	// Context holds extra template values ({{.context.manager}} for drift).
	Context map[string]string

	app                 *v1alpha1.Application
	labels, annotations map[string]string
}

// firstRevision is revision, or for several sources the first source's (as
// Argo CD's templates read it).
func firstRevision(revision string, revisions []string) string {
	if revision == "" && len(revisions) > 0 {
		return revisions[0]
	}
	return revision
}

// EventFor builds the event of app; drift is this reconcile's (nil none).
func EventFor(app *v1alpha1.Application, drift *Drift) (Event, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(app)
	if err != nil {
		return Event{}, fmt.Errorf("application %s/%s: %w", app.Namespace, app.Name, err)
	}
	ev := Event{App: obj, Drift: drift, app: app, labels: app.Labels, annotations: app.Annotations, Context: map[string]string{}}
	if app.Spec.Source != nil {
		ev.RepoURL = app.Spec.Source.RepoURL
	} else if len(app.Spec.Sources) > 0 {
		ev.RepoURL = app.Spec.Sources[0].RepoURL // Argo CD's repo.* functions read the first
	}
	if drift != nil {
		ev.Context["manager"] = strings.Join(drift.Managers, ", ")
		ev.Context["objects"] = strings.Join(drift.Objects, ", ")
	}
	return ev, nil
}

// Labels are the Application's labels.
func (ev Event) Labels() map[string]string { return ev.labels }

// Annotations are the Application's annotations.
func (ev Event) Annotations() map[string]string { return ev.annotations }

// For is ev told for trigger: its revision and summary.
func (ev Event) For(trigger string) Event {
	ev.Trigger = trigger
	app := ev.app
	if app == nil {
		return ev
	}
	ev.Revision = firstRevision(app.Status.Sync.Revision, app.Status.Sync.Revisions)
	st := app.Status.OperationState
	if (trigger == TriggerSyncFailed || trigger == TriggerSyncSucceeded || trigger == TriggerSyncRunning) && st != nil && st.SyncResult != nil {
		ev.Revision = firstRevision(st.SyncResult.Revision, st.SyncResult.Revisions)
	}
	ev.Message = summary(trigger, app, ev.Revision, ev.Drift)
	return ev
}

// summary is the built-in triggers' one-line message.
func summary(trigger string, app *v1alpha1.Application, rev string, drift *Drift) string {
	switch trigger {
	case TriggerSyncFailed:
		if st := app.Status.OperationState; st != nil {
			return st.Message
		}
	case TriggerSyncSucceeded:
		return "synced to " + short(rev)
	case TriggerDeployed:
		return "deployed " + short(rev) + ": Synced and Healthy"
	case TriggerHealthDegraded:
		return degradedMessage(app.Status)
	case TriggerOutOfSync:
		return "out of sync with " + short(rev)
	case TriggerSyncStatusUnknown:
		return unknownMessage(app.Status)
	case TriggerDriftDetected:
		if drift != nil {
			by := strings.Join(drift.Managers, ", ")
			if by == "" {
				by = "an unknown manager"
			}
			return fmt.Sprintf("changed outside Git by %s: %s", by, strings.Join(drift.Objects, ", "))
		}
	}
	return ""
}

// degradedMessage says what is Degraded: the Application's health message,
// else the first Degraded resource and its reason.
func degradedMessage(s v1alpha1.ApplicationStatus) string {
	if s.Health.Message != "" {
		return s.Health.Message
	}
	for _, r := range s.Resources {
		if r.Health != nil && r.Health.Status == v1alpha1.HealthStatusDegraded {
			k := r.Kind + " " + r.Name
			if r.Namespace != "" {
				k = r.Kind + " " + r.Namespace + "/" + r.Name
			}
			return strings.TrimSpace("health is Degraded: " + k + " " + r.Health.Message)
		}
	}
	return "health is Degraded"
}

// unknownMessage says why the sync status is Unknown: the conditions that
// prevent a comparison.
func unknownMessage(s v1alpha1.ApplicationStatus) string {
	var why []string
	for _, c := range s.Conditions {
		if c.Type == v1alpha1.ApplicationConditionInvalidSpecError || c.Type == v1alpha1.ApplicationConditionComparisonError {
			why = append(why, c.Message)
		}
	}
	if len(why) == 0 {
		return "sync status is Unknown"
	}
	return "sync status is Unknown: " + strings.Join(why, "; ")
}
