package appview

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
)

// SyncRequest is a sync a person asks for, as `ferry app sync`'s flags
// say it.
type SyncRequest struct {
	// App is the Application to sync; its sources decide which revision
	// fields fit. Nil: only the checks that need no Application.
	App *v1alpha1.Application
	// Revision replaces the target revision of an Application with one
	// source; Revisions those of one with several, by position, or at
	// Positions (1-based, one per revision).
	Revision  string
	Revisions []string
	Positions []int64
	Prune     bool
	DryRun    bool
	// Resources limits the sync to these objects (ParseResources).
	Resources []v1alpha1.SyncOperationResource
	// Username is who initiated it.
	Username string
}

// SyncOperation is the operation r asks for. It refuses revision fields
// that do not fit the Application rather than sync to something else than
// asked: Revision names the one source of an Application, Revisions (at
// Positions) those of one with several.
func SyncOperation(r SyncRequest) (v1alpha1.Operation, error) {
	if len(r.Positions) > 0 && len(r.Positions) != len(r.Revisions) {
		return v1alpha1.Operation{}, fmt.Errorf("--source-positions: %d given for %d --revisions; give one position per revision", len(r.Positions), len(r.Revisions))
	}
	if r.Revision != "" && len(r.Revisions) > 0 {
		return v1alpha1.Operation{}, errors.New("--revision is for an Application with one source, --revisions for one with several: give one of them")
	}
	if r.App != nil {
		if err := r.checkRevisions(); err != nil {
			return v1alpha1.Operation{}, err
		}
	}
	return v1alpha1.Operation{
		Sync: &v1alpha1.SyncOperation{Revision: r.Revision, Revisions: r.Revisions, SourcePositions: r.Positions,
			Prune: r.Prune, DryRun: r.DryRun, Resources: r.Resources},
		InitiatedBy: v1alpha1.OperationInitiator{Username: r.Username},
	}, nil
}

// checkRevisions refuses revision fields that do not fit r.App's sources.
func (r SyncRequest) checkRevisions() error {
	if r.Revision == "" && len(r.Revisions) == 0 {
		return nil
	}
	n := len(appstate.Sources(r.App))
	multi := appstate.MultiSource(r.App)
	switch {
	case multi && r.Revision != "":
		return fmt.Errorf("it has %d sources: give --revisions (and --source-positions), not --revision", n)
	case !multi && len(r.Revisions) > 0:
		return errors.New("it has one source: give --revision, not --revisions")
	case len(r.Positions) == 0 && len(r.Revisions) > n:
		return fmt.Errorf("%d --revisions for %d sources", len(r.Revisions), n)
	}
	for _, p := range r.Positions {
		if p < 1 || int(p) > n {
			return fmt.Errorf("--source-positions %d: it has sources 1 to %d", p, n)
		}
	}
	return nil
}

// ParseResources reads resource selections GROUP:KIND:NAME or
// GROUP:KIND:NAMESPACE/NAME (the group empty for the core group).
func ParseResources(specs []string) ([]v1alpha1.SyncOperationResource, error) {
	out := make([]v1alpha1.SyncOperationResource, 0, len(specs))
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
			return nil, fmt.Errorf("--resource %q: want GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME", spec)
		}
		r := v1alpha1.SyncOperationResource{Group: parts[0], Kind: parts[1], Name: parts[2]}
		if ns, name, ok := strings.Cut(parts[2], "/"); ok {
			r.Namespace, r.Name = ns, name
		}
		out = append(out, r)
	}
	return out, nil
}

// PreviousEntry asks RollbackOperation for the history entry before the
// latest (as Argo CD's -1 does: entry ids start at 0 in histories Argo CD
// wrote, so 0 is a real entry).
const PreviousEntry int64 = -1

// RollbackOperation is the sync to the revisions of app's history entry id
// (PreviousEntry, or any negative id: the one before the latest). It
// refuses an Application with automated sync, which would sync back at
// once (disable it first: DisableAutoSync), and an entry deployed from
// other sources than the spec's now.
func RollbackOperation(app *v1alpha1.Application, id int64, username string, prune bool) (v1alpha1.Operation, error) {
	if app.Spec.SyncPolicy != nil && app.Spec.SyncPolicy.Automated != nil {
		return v1alpha1.Operation{}, errors.New("rollback cannot be initiated when auto-sync is enabled: it would sync back to the target revision at once; pass --disable-auto-sync to turn auto-sync off and roll back")
	}
	entry, err := historyEntry(app, id)
	if err != nil {
		return v1alpha1.Operation{}, err
	}
	if err := sameSources(app, entry); err != nil {
		return v1alpha1.Operation{}, err
	}
	return v1alpha1.Operation{
		Sync:        &v1alpha1.SyncOperation{Revision: entry.Revision, Revisions: entry.Revisions, Prune: prune},
		InitiatedBy: v1alpha1.OperationInitiator{Username: username},
	}, nil
}

// historyEntry finds the entry of id, or (id < 0) the one before the
// latest.
func historyEntry(app *v1alpha1.Application, id int64) (v1alpha1.RevisionHistory, error) {
	h := app.Status.History
	if id < 0 {
		if len(h) < 2 {
			return v1alpha1.RevisionHistory{}, fmt.Errorf("application %s has no previous deployment to roll back to", app.Name)
		}
		return h[len(h)-2], nil
	}
	for _, e := range h {
		if e.ID == id {
			return e, nil
		}
	}
	return v1alpha1.RevisionHistory{}, fmt.Errorf("application %s has no history entry %d (see `ferry app history %s`)", app.Name, id, app.Name)
}

// sameSources refuses a rollback to an entry deployed from other sources
// than the spec's (added, removed, reordered, or another repository or
// chart): its revisions, by position, would go to the wrong sources.
func sameSources(app *v1alpha1.Application, h v1alpha1.RevisionHistory) error {
	then := h.Sources
	if len(h.Revisions) == 0 {
		then = v1alpha1.ApplicationSources{h.Source}
	}
	now := appstate.Sources(app)
	same := len(then) == len(now)
	for i := 0; same && i < len(now); i++ {
		same = then[i].RepoURL == now[i].RepoURL && then[i].Chart == now[i].Chart && then[i].Path == now[i].Path
	}
	if !same {
		return fmt.Errorf("history entry %d was deployed from other sources than spec.source(s) has now: roll back by editing the spec, or sync with --revision(s)", h.ID)
	}
	return nil
}
