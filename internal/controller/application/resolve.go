package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/chartrepo"
	"github.com/ferrycd/ferry/internal/redact"
	gitsource "github.com/ferrycd/ferry/internal/source"
)

// resolveSource resolves what one source follows: a Git branch, tag or
// commit to a commit, a chart's version or range to a version. A non-zero
// since (the time a refresh was asked for) asks for Git's refs, or a Helm
// repository's index, from a listing started after since, rather than from
// the last listing when it is younger than the poll interval.
func (r *Reconciler) resolveSource(ctx context.Context, src v1alpha1.ApplicationSource, revision string, since time.Time) (string, error) {
	var rev string
	var err error
	if appstate.IsChart(src) {
		if r.opts.Charts == nil {
			return "", appstate.Stall(appstate.ReasonInvalidSpec, fmt.Errorf("chart %s: this controller reads no Helm repositories", src.Chart))
		}
		rev, err = r.opts.Charts.ResolveSince(ctx, src.RepoURL, src.Chart, revision, since)
	} else {
		rev, err = r.sources.ResolveSince(ctx, src.RepoURL, revision, since)
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
func (r *Reconciler) resolveAll(ctx context.Context, app *v1alpha1.Application, revisions []string, since time.Time) (string, error) {
	srcs := appstate.Sources(app)
	out := make([]string, len(srcs))
	for i, s := range srcs {
		rev, err := r.resolveSource(ctx, s, revisions[i], since)
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

// nowIf is the since of resolveAll for a call that must see the remote as it
// is now (force), and the zero time (the poll interval's listing) otherwise.
func nowIf(force bool) time.Time {
	if force {
		return time.Now()
	}
	return time.Time{}
}
