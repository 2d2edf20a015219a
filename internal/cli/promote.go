package cli

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/fluxcd/pkg/ssa/utils"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/promote"
	"github.com/ferrycd/ferry/internal/render"
	"github.com/ferrycd/ferry/internal/source"
	fsync "github.com/ferrycd/ferry/internal/sync"
	"github.com/ferrycd/ferry/internal/validate"
)

func newPromoteCmd() *cobra.Command {
	o := &kubeOptions{}
	opts := promote.Options{}
	cmd := &cobra.Command{
		Use:   "promote --from BRANCH --to BRANCH [--repo URL|DIR] [--dry-run]",
		Short: "Promote one environment branch into the next: merge and push",
		Long: `Merge --from into --to (a merge commit, as a person would make it) and push --to, so the
Applications following --to pick the change up. With --dry-run nothing is pushed; instead, for
every Application that follows --to in this repository, the rendered objects that the promotion
would change are printed as a diff.`,
		Example: `  ferry promote --from staging --to main --dry-run
  ferry promote --from staging --to main --repo https://github.com/myorg/gitops-repo.git`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.From == "" || opts.To == "" {
				return fmt.Errorf("--from and --to are required")
			}
			res, err := promote.Run(cmd.Context(), opts)
			if err != nil {
				return err
			}
			defer res.Cleanup()
			out := cmd.OutOrStdout()
			if res.After == res.Before {
				fmt.Fprintf(out, "%s already contains %s: nothing to promote\n", opts.To, opts.From)
				return nil
			}
			fmt.Fprintf(out, "Promoting %s into %s changes %d file(s):\n", opts.From, opts.To, len(res.Changed))
			for _, f := range res.Changed {
				fmt.Fprintf(out, "  %s\n", f)
			}
			if !opts.DryRun {
				fmt.Fprintf(out, "Pushed %s: %s → %s\n", opts.To, shortRev(res.Before), shortRev(res.After))
				return nil
			}
			return previewPromotion(cmd.Context(), out, o, opts, res)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&opts.Repo, "repo", ".", "the repository: a URL or a local checkout")
	cmd.Flags().StringVar(&opts.From, "from", "", "branch to promote (e.g. staging)")
	cmd.Flags().StringVar(&opts.To, "to", "", "branch to promote into (e.g. main)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would change, per Application, without pushing")
	return cmd
}

// previewPromotion prints, for each Application that follows opts.To in
// this repository, the rendered objects that differ between To and the
// merge. The Applications are those the repository itself declares (found
// as `ferry validate` finds them, at the merge) and, when a cluster is
// configured, those the cluster holds; without a cluster the preview is
// offline. An Application the repository declares is rendered from this
// repository whatever its repoURL says (it names where the repository is
// pushed, which a fresh `ferry init` clone has not been yet).
func previewPromotion(ctx context.Context, out io.Writer, o *kubeOptions, opts promote.Options, res *promote.Result) error {
	apps, err := declaredApplications(ctx, res, opts.To)
	if err != nil {
		return err
	}
	clusterApps, note := clusterApplications(ctx, o, opts)
	seen := map[string]bool{}
	for _, a := range apps {
		seen[a.Namespace+"/"+a.Name] = true
	}
	for _, a := range clusterApps {
		if !seen[a.Namespace+"/"+a.Name] {
			apps = append(apps, a)
		}
	}
	if note != "" {
		fmt.Fprintf(out, "\n%s\n", note)
	}
	for _, app := range apps {
		before, err := renderAt(ctx, res, res.Before, app)
		if err != nil {
			return err
		}
		after, err := renderAt(ctx, res, res.After, app)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\nApplication %s/%s:\n", app.Namespace, app.Name)
		if err := printRenderDiff(out, before, after); err != nil {
			return err
		}
	}
	if len(apps) == 0 {
		fmt.Fprintf(out, "\nNo Application follows %s of this repository.\n", opts.To)
	}
	return nil
}

// declaredApplications are the Applications the repository declares at the
// merge whose source follows to and names a path of this repository.
func declaredApplications(ctx context.Context, res *promote.Result, to string) ([]*v1alpha1.Application, error) {
	if err := res.Checkout(ctx, res.After); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(res.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	units, _, err := validate.Discover(root.FS())
	if err != nil {
		return nil, fmt.Errorf("find the repository's Applications: %w", err)
	}
	var apps []*v1alpha1.Application
	for _, u := range units {
		app := u.Application
		if app == nil || app.Spec.Source == nil || app.Spec.Source.TargetRevision != to {
			continue
		}
		if app.Namespace == "" {
			app.Namespace = "argocd"
		}
		apps = append(apps, app)
	}
	return apps, nil
}

// clusterApplications lists the cluster's Applications that follow opts.To
// of this repository. Without a usable cluster it returns none, and a note
// saying the preview is offline.
func clusterApplications(ctx context.Context, o *kubeOptions, opts promote.Options) ([]*v1alpha1.Application, string) {
	c, err := o.client()
	if err != nil {
		return nil, "No cluster configured: previewing the Applications the repository declares."
	}
	list := &v1alpha1.ApplicationList{}
	if err := c.List(ctx, list, client.InNamespace(o.listNamespace())); err != nil {
		return nil, fmt.Sprintf("The cluster's Applications could not be listed (%v): previewing the Applications the repository declares.", err)
	}
	repo, err := normalizedRepo(opts.Repo)
	if err != nil {
		return nil, ""
	}
	var apps []*v1alpha1.Application
	for i := range list.Items {
		app := &list.Items[i]
		if app.Spec.Source == nil || app.Spec.Source.TargetRevision != opts.To {
			continue
		}
		if u, err := source.NormalizeURL(app.Spec.Source.RepoURL); err != nil || u != repo {
			continue
		}
		apps = append(apps, app)
	}
	return apps, ""
}

func normalizedRepo(repo string) (string, error) {
	u, err := promote.RepoURL(repo)
	if err != nil {
		return "", err
	}
	return source.NormalizeURL(u)
}

// renderAt renders app's source at rev in the promotion's clone.
func renderAt(ctx context.Context, res *promote.Result, rev string, app *v1alpha1.Application) (map[fsync.Key]*unstructured.Unstructured, error) {
	if err := res.Checkout(ctx, rev); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(res.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// appstate's Renderer, as the controller renders (a chart with its
	// Helm options, Helm's default capabilities), reading every repository
	// the source names from the clone.
	snapshot := appstate.SnapshotFunc(func(context.Context, string, string) (fs.FS, error) { return root.FS(), nil })
	out, err := appstate.NewRenderer(render.NewRenderer(render.Limits{}), snapshot, nil, 0).Render(ctx, appstate.RenderInput{
		Source: *app.Spec.Source, Revision: rev, ReleaseName: app.Name, Namespace: app.Spec.Destination.Namespace})
	if err != nil {
		return nil, fmt.Errorf("application %s at %s: %w", app.Name, shortRev(rev), err)
	}
	objs := make(map[fsync.Key]*unstructured.Unstructured, len(out.Objects))
	for _, o := range out.Objects {
		objs[fsync.KeyOf(o)] = o
	}
	return objs, nil
}

// printRenderDiff prints a unified diff for every object that differs.
func printRenderDiff(out io.Writer, before, after map[fsync.Key]*unstructured.Unstructured) error {
	keys := map[fsync.Key]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	changed := 0
	for _, k := range sortedKeys(keys) {
		a, b := before[k], after[k]
		maskSecrets(a, b)
		ya, err := displayYAML(a)
		if err != nil {
			return err
		}
		yb, err := displayYAML(b)
		if err != nil {
			return err
		}
		if ya == yb {
			continue
		}
		changed++
		if err := printUnified(out, k.String(), a, b); err != nil {
			return err
		}
	}
	if changed == 0 {
		fmt.Fprintln(out, "  no rendered object changes")
	}
	return nil
}

func sortedKeys(m map[fsync.Key]bool) []fsync.Key {
	keys := make([]fsync.Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, fsync.CompareKeys)
	return keys
}

// maskSecrets replaces the values of Secrets' data and stringData: a value
// the promotion changes shows as "(masked, changed)", others as "(masked)",
// so a diff tells that a secret changes without telling anything of it.
func maskSecrets(a, b *unstructured.Unstructured) {
	for _, field := range []string{"data", "stringData"} {
		var va, vb map[string]any
		if a != nil && utils.IsSecret(a) {
			va, _, _ = unstructured.NestedMap(a.Object, field)
		}
		if b != nil && utils.IsSecret(b) {
			vb, _, _ = unstructured.NestedMap(b.Object, field)
		}
		mask := func(own, other map[string]any) map[string]any {
			if own == nil {
				return nil
			}
			out := make(map[string]any, len(own))
			for k, v := range own {
				out[k] = "(masked)"
				if other == nil || other[k] != v {
					out[k] = "(masked, changed)"
				}
			}
			return out
		}
		if va != nil {
			_ = unstructured.SetNestedMap(a.Object, mask(va, vb), field)
		}
		if vb != nil {
			_ = unstructured.SetNestedMap(b.Object, mask(vb, va), field)
		}
	}
}
