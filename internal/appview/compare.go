package appview

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/chartrepo"
	"github.com/ferrycd/ferry/internal/render"
	"github.com/ferrycd/ferry/internal/source"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// DiffOptions say what Compare compares the cluster with.
type DiffOptions struct {
	// Home is the controller's home namespace (repository Secrets,
	// argocd-cm, tracking names); default "argocd".
	Home string
	// Revision replaces the target revision of an Application with one
	// source.
	Revision string
	// Local, when set, is read instead of Git for the first Git source
	// that renders (a working tree, confined to its root by the caller,
	// e.g. os.Root's FS).
	Local fs.FS
	// RestConfig reaches the destination for its version and API versions
	// (what charts see); nil: charts see none.
	RestConfig func() (*rest.Config, error)
	// Desired, when set, replaces rendering (the in-cluster UI passes the
	// controller's renderer): it returns the desired objects of app for
	// instance. Revision and Local are then not used.
	Desired func(ctx context.Context, app *v1alpha1.Application, instance string, scope fsync.ScopeFunc) (*appstate.Desired, error)
}

// localRevision is what the Local source resolves to.
const localRevision = "local"

// Compare compares the Application's desired state (Git, Local, or
// o.Desired) with the cluster, read with c, through the same appstate
// comparison the controller reports in status: each object's live state
// and what a sync would make of it (a server-side apply dry-run, which
// masks Secret data), and every object a sync would prune. It returns the
// Application it read, also when what follows fails.
func Compare(ctx context.Context, c client.Client, key types.NamespacedName, o DiffOptions) (*v1alpha1.Application, *appstate.Comparison, error) {
	app, err := getApplication(ctx, c, key)
	if err != nil {
		return nil, nil, err
	}
	if len(appstate.Sources(app)) == 0 {
		return app, nil, fmt.Errorf("application %s has no spec.source", key)
	}
	o.Home = cmp.Or(o.Home, "argocd")
	cluster := appstate.APICluster{Client: c}
	instance := appstate.InstanceName(o.Home, key)
	desiredOf := o.Desired
	if desiredOf == nil {
		desiredOf = gitRenderer{o: o, c: c}.desired
	}
	desired, err := desiredOf(ctx, app, instance, cluster.Scope)
	if err != nil {
		return app, nil, err
	}
	ig, err := appstate.Ignorer(app)
	if err != nil {
		return app, nil, err
	}
	// Every desired object goes through the API server's dry-run, missing
	// ones included: that is what masks a missing Secret's data.
	existed := make(map[fsync.Key]bool, len(desired.Objects))
	for _, obj := range desired.Objects {
		existed[fsync.KeyOf(obj)] = true
	}
	result, err := appstate.Compare(ctx, appstate.CompareInput{App: app, Instance: instance, Desired: desired,
		Cluster: cluster, Ignore: ig, Existed: existed})
	if err != nil {
		return app, nil, fmt.Errorf("compare application %s: %w", key, err)
	}
	return app, result, nil
}

// gitRenderer renders an Application as the controller does, with the
// caller's client.
type gitRenderer struct {
	o DiffOptions
	c client.Client
}

// desired renders the Application's sources as the controller does
// (appstate.Renderer: Git, Helm repositories, OCI registries, with the
// credentials of Argo CD's repository Secrets, which the caller's RBAC
// must let them read), at the revisions they follow now, or o.Revision.
// With o.Local, the first Git source that renders is read from it instead.
// Charts see the destination's version and API versions.
func (g gitRenderer) desired(ctx context.Context, app *v1alpha1.Application, instance string, scope fsync.ScopeFunc) (*appstate.Desired, error) {
	dir, err := os.MkdirTemp("", "ferry-diff-")
	if err != nil {
		return nil, fmt.Errorf("render application %s: %w", app.Name, err)
	}
	defer os.RemoveAll(dir)
	// The Application's project: a repository Secret scoped to it applies.
	ctx = source.WithProject(ctx, app.Spec.Project)
	secrets := source.RepositorySecrets{Reader: g.c, Namespace: g.o.Home}
	// The caller reads with their own rights (the CLI on its user's
	// machine): local repositories and plain-HTTP chart repositories are
	// theirs to read.
	cache, err := source.NewCache(source.Options{Dir: dir, Credentials: secrets.Credentials, Scoped: secrets.Scoped, AllowLocal: true})
	if err != nil {
		return nil, fmt.Errorf("render application %s: %w", app.Name, err)
	}
	charts := chartrepo.New(chartrepo.Options{Credentials: secrets.HelmCredentials, Project: source.ProjectFrom, AllowInsecureHTTP: true})
	revs, err := g.resolve(ctx, app, cache, charts)
	if err != nil {
		return nil, err
	}
	snapshots := appstate.SnapshotFunc(func(ctx context.Context, repoURL, revision string) (fs.FS, error) {
		if revision == localRevision && g.o.Local != nil {
			return g.o.Local, nil
		}
		return cache.Snapshot(ctx, repoURL, revision)
	})
	renderer := appstate.NewRenderer(render.NewRenderer(render.Limits{}), snapshots, charts, 0)
	renderer.KustomizeBuildOptions = g.kustomizeBuildOptions
	desired, err := renderer.Desired(ctx, app, instance, appstate.JoinRevisions(revs), scope, g.capabilities())
	if err != nil {
		return nil, fmt.Errorf("render application %s: %w", app.Name, err)
	}
	return desired, nil
}

// resolve resolves each source's revision: o.Revision or the target
// revision, localRevision for the source o.Local replaces.
func (g gitRenderer) resolve(ctx context.Context, app *v1alpha1.Application, cache *source.Cache, charts *chartrepo.Repos) ([]string, error) {
	srcs := appstate.Sources(app)
	revs := appstate.TargetRevisions(app, nil)
	if g.o.Revision != "" {
		if appstate.MultiSource(app) {
			return nil, fmt.Errorf("--revision: application %s has %d sources, and --revision names one revision", app.Name, len(srcs))
		}
		revs[0] = g.o.Revision
	}
	usedLocal := false
	var err error
	for i, s := range srcs {
		switch {
		case appstate.IsChart(s):
			revs[i], err = charts.Resolve(ctx, s.RepoURL, s.Chart, revs[i], true)
		case g.o.Local != nil && !usedLocal && appstate.Renders(s):
			revs[i], usedLocal = localRevision, true
		default:
			revs[i], err = cache.Resolve(ctx, s.RepoURL, revs[i], true)
		}
		if err != nil {
			return nil, fmt.Errorf("resolve source %d of %s: %w", i+1, app.Name, err)
		}
	}
	return revs, nil
}

// capabilities reads the destination's version and API versions through
// discovery; nil without a RestConfig.
func (g gitRenderer) capabilities() appstate.CapabilitiesFunc {
	if g.o.RestConfig == nil {
		return nil
	}
	return func(context.Context) (appstate.Capabilities, error) {
		cfg, err := g.o.RestConfig()
		if err != nil {
			return appstate.Capabilities{}, err
		}
		disco, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			return appstate.Capabilities{}, err
		}
		return appstate.DiscoverCapabilities(disco)
	}
}

// kustomizeBuildOptions is argocd-cm's kustomize.buildOptions, as the
// controller reads it (--enable-helm); a caller who may not read argocd-cm
// renders without it.
func (g gitRenderer) kustomizeBuildOptions(ctx context.Context) string {
	cm := &corev1.ConfigMap{}
	if err := g.c.Get(ctx, client.ObjectKey{Namespace: g.o.Home, Name: "argocd-cm"}, cm); err != nil {
		return ""
	}
	return cm.Data["kustomize.buildOptions"]
}
