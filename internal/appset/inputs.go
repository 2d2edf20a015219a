package appset

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/source"
)

// Clusters is the registry the clusters generator sees: every cluster Secret of home, and the
// local cluster (in-cluster, no labels) unless a Secret names it, sorted by name. A Secret that
// does not parse is an error: generating without it would delete its cluster's Applications.
func Clusters(ctx context.Context, c client.Reader, home string) ([]Cluster, error) {
	list := &corev1.SecretList{}
	if err := c.List(ctx, list, client.InNamespace(home), client.MatchingLabels{cluster.SecretTypeLabel: "cluster"}); err != nil {
		return nil, fmt.Errorf("list cluster Secrets: %w", err)
	}
	var out []Cluster
	local := false
	for _, s := range list.Items {
		cl, err := cluster.FromSecret(s.Name, s.Labels, s.Annotations, s.Data, cluster.Options{AllowExec: true})
		if err != nil {
			// Leaving it out would delete every Application generated for
			// that cluster while its Secret is being fixed: stop instead.
			return nil, err
		}
		local = local || cl.Server == cluster.InClusterServer
		out = append(out, Cluster{Name: cl.Name, Server: cl.Server, Labels: cl.Labels, Annotations: cl.Annotations})
	}
	if !local {
		out = append(out, Cluster{Name: cluster.InClusterName, Server: cluster.InClusterServer})
	}
	slices.SortFunc(out, func(a, b Cluster) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// GitRepo reads repositories for the git generator through Ferry's Git cache: the revision is
// resolved like an Application's, and the files come from the same in-memory snapshots.
type GitRepo struct {
	Sources *source.Cache
}

func (g GitRepo) snapshot(ctx context.Context, repoURL, revision string) (fs.FS, error) {
	rev, err := g.Sources.Resolve(ctx, repoURL, revision, false)
	if err != nil {
		return nil, fmt.Errorf("resolve %s at %q: %w", repoURL, revision, err)
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
