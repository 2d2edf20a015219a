package application

import (
	"context"
	"errors"
	"time"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/project"
	gitsource "github.com/ferrycd/ferry/internal/source"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Desired renders app as its reconcile would, for the web UI's diffs: the
// same project rules (namespace, source repositories, destination), the
// revisions its sources follow now, the destination's capabilities and the
// shared render cache. Nothing is written or applied; scope is the
// caller's view of which kinds are namespaced.
func (r *Reconciler) Desired(ctx context.Context, app *v1alpha1.Application, instance string, scope fsync.ScopeFunc) (*appstate.Desired, error) {
	ctx = gitsource.WithProject(ctx, project.NameOf(app))
	if msg := validate(app); msg != "" {
		return nil, errors.New(msg)
	}
	p, err := r.projectOf(ctx, app)
	if err != nil {
		return nil, err
	}
	ctx = appstate.WithPermittedRepositories(ctx, func(repoURL string) bool { return project.SourcePermitted(p, repoURL) })
	dst, err := r.target(ctx, app)
	if err != nil {
		return nil, err
	}
	if err := checkDestination(p, app, dst); err != nil {
		return nil, err
	}
	revision, err := r.resolveAll(ctx, app, appstate.TargetRevisions(app, nil), time.Time{})
	if err != nil {
		return nil, err
	}
	return r.renders.Desired(ctx, app, instance, revision, scope, dst.capabilities)
}
