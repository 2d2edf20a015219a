package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/appview"
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
// with the cluster (appview.Compare: the same appstate comparison the
// controller reports in status), and prints what a sync would change: a
// unified diff per object that differs or is missing, and every object a
// sync would prune (or keep, for Prune=false). It reports whether anything
// differs.
func runDiff(ctx context.Context, out io.Writer, o *kubeOptions, d *diffOptions, name string) (bool, error) {
	c, err := o.client()
	if err != nil {
		return false, err
	}
	key := types.NamespacedName{Namespace: o.namespace, Name: name}
	// getApp first: a name not found says where to look.
	if _, err := getApp(ctx, c, key); err != nil {
		return false, err
	}
	opts := appview.DiffOptions{Home: d.home, Revision: d.revision, RestConfig: o.restConfig}
	if d.local != "" {
		// Confined to the checkout: os.Root refuses symlinks that leave it.
		root, err := os.OpenRoot(d.local)
		if err != nil {
			return false, fmt.Errorf("--local %s: %w", d.local, err)
		}
		defer root.Close()
		opts.Local = root.FS()
	}
	app, cmp, err := appview.Compare(ctx, c, key, opts)
	if err != nil {
		return false, err
	}
	return printComparison(out, cmp, app)
}

// printComparison prints every resource that is not Synced
// (appview.Differences).
func printComparison(out io.Writer, cmp *appstate.Comparison, app *v1alpha1.Application) (bool, error) {
	diffs := appview.Differences(cmp, app)
	for _, d := range diffs {
		name := d.Key.String()
		if d.Refused() {
			fmt.Fprintf(out, "===== %s ======\n%s\n", name, d.Note)
			continue
		}
		if d.Note != "" {
			name += " (" + d.Note + ")"
		}
		if err := printUnified(out, name, d.Live, d.Desired); err != nil {
			return false, err
		}
	}
	return len(diffs) > 0, nil
}

// printUnified prints a unified diff of live → predicted
// (appview.Unified).
func printUnified(w io.Writer, name string, live, predicted *unstructured.Unstructured) error {
	text, err := appview.Unified(name, live, predicted)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, text)
	return err
}

// displayYAML is obj as YAML as diffs show it (appview.DisplayYAML).
func displayYAML(obj *unstructured.Unstructured) (string, error) { return appview.DisplayYAML(obj) }
