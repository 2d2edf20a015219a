package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/chartrepo"
	"github.com/ferrycd/ferry/internal/redact"
	gitsource "github.com/ferrycd/ferry/internal/source"
)

// resolveSource resolves what one source follows: a Git branch, tag or
// commit to a commit, a chart's version or range to a version. force asks
// the remote now rather than from the last listing (Git's refs, a Helm
// repository's index) when it is older than the poll interval.
func (r *Reconciler) resolveSource(ctx context.Context, src v1alpha1.ApplicationSource, revision string, force bool) (string, error) {
	var rev string
	var err error
	if appstate.IsChart(src) {
		if r.opts.Charts == nil {
			return "", appstate.Stall(appstate.ReasonInvalidSpec, fmt.Errorf("chart %s: this controller reads no Helm repositories", src.Chart))
		}
		rev, err = r.opts.Charts.Resolve(ctx, src.RepoURL, src.Chart, revision, force)
	} else {
		rev, err = r.sources.Resolve(ctx, src.RepoURL, revision, force)
	}
	if err != nil {
		what := redact.URL(src.RepoURL)
		if appstate.IsChart(src) {
			what = "chart " + src.Chart + " in " + what
		}
		if errors.Is(err, gitsource.ErrRefused) || errors.Is(err, chartrepo.ErrRefused) {
			return "", appstate.Stall(appstate.ReasonInvalidSpec, fmt.Errorf("resolve %s: %w", what, err))
		}
		return "", fmt.Errorf("resolve %s at %q: %w", what, revision, err)
	}
	return rev, nil
}

// resolveAll resolves the revisions of the Application's sources, by
// position, into one key (appstate.JoinRevisions).
func (r *Reconciler) resolveAll(ctx context.Context, app *v1alpha1.Application, revisions []string, force bool) (string, error) {
	srcs := appstate.Sources(app)
	out := make([]string, len(srcs))
	for i, s := range srcs {
		rev, err := r.resolveSource(ctx, s, revisions[i], force)
		if err != nil {
			if len(srcs) > 1 {
				err = fmt.Errorf("source %d: %w", i+1, err)
			}
			return "", err
		}
		out[i] = rev
	}
	return appstate.JoinRevisions(out), nil
}
