package appset

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/redact"
	"github.com/ferrycd/ferry/internal/source"
)

// Clusters is the registry the clusters generator sees: every cluster Secret of reg, and the
// local cluster (in-cluster, no labels) unless a Secret registers its server, sorted by name.
// A Secret that does not parse stops generation with an *InvalidClusterSecretError: generating
// without it would delete its cluster's Applications while the Secret is being fixed.
func Clusters(ctx context.Context, reg cluster.Registry) ([]Cluster, error) {
	entries, err := reg.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Cluster, 0, len(entries)+1)
	local := false
	for _, e := range entries {
		if e.Err != nil {
			return nil, &InvalidClusterSecretError{Secret: client.ObjectKeyFromObject(e.Secret).String(), Err: e.Err}
		}
		local = local || e.Server() == cluster.NormalizeServer(cluster.InClusterServer)
		out = append(out, Cluster{Name: e.Cluster.Name, Server: e.Cluster.Server, Labels: e.Cluster.Labels, Annotations: e.Cluster.Annotations})
	}
	if !local {
		out = append(out, Cluster{Name: cluster.InClusterName, Server: cluster.InClusterServer})
	}
	slices.SortFunc(out, func(a, b Cluster) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Server, b.Server))
	})
	return out, nil
}

// InvalidClusterSecretError is a cluster Secret that does not parse. It is no error of the
// ApplicationSet, and retrying will not fix it: the Secret must change.
type InvalidClusterSecretError struct {
	// Secret is the Secret's namespace/name.
	Secret string
	// Err is cluster.FromSecret's error: it names the Secret and the data key at fault, and
	// never quotes a value.
	Err error
}

func (e *InvalidClusterSecretError) Error() string { return e.Err.Error() }

func (e *InvalidClusterSecretError) Unwrap() error { return e.Err }

// GitRepo reads repositories for the git generator through Ferry's Git cache: the revision is
// resolved like an Application's, and the files come from the same in-memory snapshots.
type GitRepo struct {
	Sources *source.Cache
}

func (g GitRepo) snapshot(ctx context.Context, repoURL, revision string) (fs.FS, error) {
	rev, err := g.Sources.Resolve(ctx, repoURL, revision, false)
	if err != nil {
		return nil, fmt.Errorf("resolve %s at %q: %w", redact.URL(repoURL), revision, err)
	}
	return g.Sources.Snapshot(ctx, repoURL, rev)
}

// Dirs lists the repository's directories, skipping hidden ones (.git, .github, ...).
func (g GitRepo) Dirs(ctx context.Context, repoURL, revision string) ([]string, error) {
	fsys, err := g.snapshot(ctx, repoURL, revision)
	if err != nil {
		return nil, err
	}
	var dirs []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." {
			if strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			dirs = append(dirs, p)
		}
		return nil
	})
	return dirs, err
}

// Files returns the files matching glob.
func (g GitRepo) Files(ctx context.Context, repoURL, revision, glob string) (map[string][]byte, error) {
	fsys, err := g.snapshot(ctx, repoURL, revision)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ok, _ := path.Match(glob, p); ok {
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			out[p] = data
		}
		return nil
	})
	return out, err
}
