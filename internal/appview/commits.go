package appview

import (
	"context"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/source"
)

// Commit is what a history entry deployed, as its repository tells it.
type Commit struct {
	// Message is the commit's full message; for a chart,
	// "chart NAME VERSION".
	Message string
	// Author is "Name <email>", as git prints it.
	Author string
	// Date is the author time.
	Date time.Time
	// Error says why the commit could not be read (Message is empty then).
	Error string
}

// Commits reads the commit of each entry of the Application's history from
// its repository, keyed by the entry's revision, with the credentials of
// Argo CD's repository Secrets in home (which the caller's RBAC must let
// them read). An entry of several sources has none: its revisions list
// each. A commit that cannot be read has Error set; the error returned is
// only for what prevents reading any.
func Commits(ctx context.Context, c client.Client, app *v1alpha1.Application, home string) (map[string]Commit, error) {
	dir, err := os.MkdirTemp("", "ferry-history-")
	if err != nil {
		return nil, fmt.Errorf("read the commits of %s: %w", app.Name, err)
	}
	defer os.RemoveAll(dir)
	ctx = source.WithProject(ctx, app.Spec.Project)
	secrets := source.RepositorySecrets{Reader: c, Namespace: home}
	// The caller reads with their own rights (the CLI on its user's
	// machine): local repositories are theirs to read.
	cache, err := source.NewCache(source.Options{Dir: dir, Credentials: secrets.Credentials, Scoped: secrets.Scoped, AllowLocal: true})
	if err != nil {
		return nil, fmt.Errorf("read the commits of %s: %w", app.Name, err)
	}
	commits := map[string]Commit{}
	for _, h := range app.Status.History {
		switch {
		case h.Source.Chart != "":
			commits[h.Revision] = Commit{Message: "chart " + h.Source.Chart + " " + h.Revision}
		case len(h.Revisions) > 0:
			// several sources: the revisions list each
		default:
			commits[h.Revision] = commitOf(ctx, cache, app, h)
		}
	}
	return commits, nil
}

// commitOf reads the commit of a one-source history entry.
func commitOf(ctx context.Context, cache *source.Cache, app *v1alpha1.Application, h v1alpha1.RevisionHistory) Commit {
	repo := h.Source.RepoURL
	if repo == "" && app.Spec.Source != nil {
		repo = app.Spec.Source.RepoURL
	}
	if _, err := cache.Resolve(ctx, repo, h.Revision, false); err != nil {
		return Commit{Error: err.Error()}
	}
	info, err := cache.CommitInfo(ctx, repo, h.Revision)
	if err != nil {
		return Commit{Error: err.Error()}
	}
	return Commit{Message: info.Message, Author: info.Author, Date: info.Time}
}
