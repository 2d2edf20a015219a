package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/chartrepo"
	"github.com/ferrycd/ferry/internal/render"
	"github.com/ferrycd/ferry/internal/source"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// exitError ends the process with a code scripts can rely on.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the process exit code for err: an exitError's code, else 1.
func ExitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

type diffOptions struct {
	revision, local, home string
}

func newAppDiffCmd(o *kubeOptions) *cobra.Command {
	d := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff NAME",
		Short: "Show what a sync would change: desired (Git or a local tree) against live, Secrets masked",
		Long: `Show what a sync would change, as a unified diff of live against the result a sync would have
(computed by the API server with a server-side apply dry-run). Exit code 0: no difference;
1: differences; 2: error. With --local, a working tree is rendered instead of Git, so a pull
request can be previewed against the live cluster before it merges.`,
		Example: "  ferry app diff myapp-staging\n  ferry app diff myapp-staging --local .",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			differs, err := runDiff(cmd.Context(), cmd.OutOrStdout(), o, d, args[0])
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if differs {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&d.revision, "revision", "", "compare this revision instead of the target revision")
	cmd.Flags().StringVar(&d.local, "local", "", "render this local repository checkout (its root) instead of Git (with several sources: instead of the first Git source that renders)")
	cmd.Flags().StringVar(&d.home, "home-namespace", "argocd", "the controller's home namespace (as its --home-namespace)")
	return cmd
}

// runDiff compares the Application's desired state (Git, or a local tree)
// with the cluster, through the same appstate comparison the controller
// reports in status, and prints what a sync would change: a unified diff
// per object that differs or is missing, and every object a sync would
// prune (or keep, for Prune=false). It reports whether anything differs.
func runDiff(ctx context.Context, out io.Writer, o *kubeOptions, d *diffOptions, name string) (bool, error) {
	c, err := o.client()
	if err != nil {
		return false, err
	}
	key := types.NamespacedName{Namespace: o.namespace, Name: name}
	app, err := getApp(ctx, c, key)
	if err != nil {
		return false, err
	}
	if len(appstate.Sources(app)) == 0 {
		return false, fmt.Errorf("application %s has no spec.source", key)
	}
	cluster := appstate.APICluster{Client: c}
	instance := appstate.InstanceName(d.home, key)
	desired, err := d.desired(ctx, o, c, app, instance, cluster.Scope)
	if err != nil {
		return false, err
	}
	ig, err := appstate.Ignorer(app)
	if err != nil {
		return false, err
	}
	// Every desired object goes through the API server's dry-run, missing
	// ones included: that is what masks a missing Secret's data.
	existed := make(map[fsync.Key]bool, len(desired.Objects))
	for _, obj := range desired.Objects {
		existed[fsync.KeyOf(obj)] = true
	}
	cmp, err := appstate.Compare(ctx, appstate.CompareInput{App: app, Instance: instance, Desired: desired,
		Cluster: cluster, Ignore: ig, Existed: existed})
	if err != nil {
		return false, fmt.Errorf("compare application %s: %w", key, err)
	}
	return printComparison(out, cmp, app)
}

// printComparison prints every resource that is not Synced.
func printComparison(out io.Writer, cmp *appstate.Comparison, app *v1alpha1.Application) (bool, error) {
	prune := app.Spec.SyncPolicy != nil && app.Spec.SyncPolicy.Automated != nil && app.Spec.SyncPolicy.Automated.Prune
	differs := false
	for _, s := range cmp.Resources {
		name := s.Key.String()
		switch {
		case s.RequiresPruning:
			note := "requires pruning: a sync with prune deletes it"
			switch {
			case s.PruneDisabled:
				note = "requires pruning, kept: it is marked Prune=false"
			case prune:
				note = "requires pruning: the automated sync (prune on) deletes it"
			}
			differs = true
			if err := printUnified(out, name+" ("+note+")", s.Live, nil); err != nil {
				return false, err
			}
		case !s.Desired || s.Sync == v1alpha1.SyncStatusCodeSynced:
		case s.Unserved:
			differs = true
			if err := printUnified(out, name+" (kind not served by the cluster yet: a sync creates it after its CRD)", nil, s.Object); err != nil {
				return false, err
			}
		case s.Message != "":
			differs = true
			fmt.Fprintf(out, "===== %s ======\nthe API server refuses this object, a sync will fail: %s\n", name, s.Message)
		default:
			differs = true
			if err := printUnified(out, name, s.Live, s.Predicted); err != nil {
				return false, err
			}
		}
	}
	return differs, nil
}

// desired renders the Application's sources as the controller does
// (appstate.Renderer: Git, Helm repositories, OCI registries, with the
// credentials of Argo CD's repository Secrets, which the user's RBAC must
// let them read), at the revisions they follow now, or --revision for an
// Application with one source. With --local, the first Git source that
// renders is read from that checkout instead, confined to its root
// (os.Root refuses symlinks that leave it). Charts see the cluster's
// version and API versions, as the controller shows them.
func (d *diffOptions) desired(ctx context.Context, o *kubeOptions, c client.Client, app *v1alpha1.Application, instance string, scope fsync.ScopeFunc) (*appstate.Desired, error) {
	dir, err := os.MkdirTemp("", "ferry-diff-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// The Application's project: a repository Secret scoped to it applies.
	ctx = source.WithProject(ctx, app.Spec.Project)
	secrets := source.RepositorySecrets{Reader: c, Namespace: d.home}
	// The CLI runs on its user's machine, with its user's rights: local
	// repositories and plain-HTTP chart repositories are theirs to read.
	cache, err := source.NewCache(source.Options{Dir: dir, Credentials: secrets.Credentials, Scoped: secrets.Scoped, AllowLocal: true})
	if err != nil {
		return nil, err
	}
	charts := chartrepo.New(chartrepo.Options{Credentials: secrets.HelmCredentials, Project: source.ProjectFrom, AllowInsecureHTTP: true})
	var local fs.FS
	if d.local != "" {
		root, err := os.OpenRoot(d.local)
		if err != nil {
			return nil, fmt.Errorf("--local %s: %w", d.local, err)
		}
		local = root.FS()
	}
	srcs := appstate.Sources(app)
	revs := appstate.TargetRevisions(app, nil)
	if d.revision != "" {
		if appstate.MultiSource(app) {
			return nil, fmt.Errorf("--revision: application %s has %d sources, and --revision names one revision", app.Name, len(srcs))
		}
		revs[0] = d.revision
	}
	const localRevision = "local" // what the --local source resolves to
	usedLocal := false
	for i, s := range srcs {
		switch {
		case appstate.IsChart(s):
			revs[i], err = charts.Resolve(ctx, s.RepoURL, s.Chart, revs[i], true)
		case local != nil && !usedLocal && appstate.Renders(s):
			revs[i], usedLocal = localRevision, true
		default:
			revs[i], err = cache.Resolve(ctx, s.RepoURL, revs[i], true)
		}
		if err != nil {
			return nil, fmt.Errorf("resolve source %d of %s: %w", i+1, app.Name, err)
		}
	}
	snapshots := appstate.SnapshotFunc(func(ctx context.Context, repoURL, revision string) (fs.FS, error) {
		if revision == localRevision && local != nil {
			return local, nil
		}
		return cache.Snapshot(ctx, repoURL, revision)
	})
	caps := func(context.Context) (appstate.Capabilities, error) {
		cfg, err := o.restConfig()
		if err != nil {
			return appstate.Capabilities{}, err
		}
		disco, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			return appstate.Capabilities{}, err
		}
		return appstate.DiscoverCapabilities(disco)
	}
	renderer := appstate.NewRenderer(render.NewRenderer(render.Limits{}), snapshots, charts, 0)
	renderer.KustomizeBuildOptions = func(ctx context.Context) string {
		// As the controller reads it (kustomize.buildOptions --enable-helm);
		// a user who may not read argocd-cm renders without it.
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: d.home, Name: "argocd-cm"}, cm); err != nil {
			return ""
		}
		return cm.Data["kustomize.buildOptions"]
	}
	desired, err := renderer.Desired(ctx, app, instance, appstate.JoinRevisions(revs), scope, caps)
	if err != nil {
		return nil, fmt.Errorf("render application %s: %w", app.Name, err)
	}
	return desired, nil
}

// printUnified prints a unified diff of live → predicted as YAML, without
// the fields the server maintains.
func printUnified(w io.Writer, name string, live, predicted *unstructured.Unstructured) error {
	a, err := displayYAML(live)
	if err != nil {
		return err
	}
	b, err := displayYAML(predicted)
	if err != nil {
		return err
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b), FromFile: "live/" + name, ToFile: "desired/" + name, Context: 3,
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "===== "+name+" ======\n"+text)
	return err
}

func displayYAML(obj *unstructured.Unstructured) (string, error) {
	if obj == nil {
		return "", nil
	}
	c := obj.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(c.Object, "status")
	data, err := yaml.Marshal(c.Object)
	return strings.TrimRight(string(data), "\n") + "\n", err
}
