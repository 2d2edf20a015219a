package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/image/automation"
	"github.com/ferrycd/ferry/internal/image/gitupdate"
	"github.com/ferrycd/ferry/internal/image/requestedat"
)

// imageOptions are the flags of the image commands: Flux's objects live in
// flux-system by default, as the flux CLI assumes.
type imageOptions struct {
	kube kubeOptions
}

func newImageCmd() *cobra.Command {
	o := &imageOptions{}
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Image update automation: Flux's ImageRepository, ImagePolicy and ImageUpdateAutomation",
		Example: `  ferry image list
  ferry image scan myapp
  ferry image update myapp --dry-run`,
	}
	f := cmd.PersistentFlags()
	o.kube.addConfigFlags(f)
	f.StringVarP(&o.kube.namespace, "namespace", "n", "flux-system", "namespace of the image automation objects")
	f.BoolVarP(&o.kube.allNamespaces, "all-namespaces", "A", false, "list every namespace")
	cmd.AddCommand(newImageListCmd(o), newImageScanCmd(o), newImageUpdateCmd(o))
	return cmd
}

func newImageListCmd(o *imageOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List image repositories (tags, last scan), policies (latest image) and automations (last push)",
		Example: "  ferry image list -A",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.kube.client()
			if err != nil {
				return err
			}
			return listImages(cmd.Context(), cmd.OutOrStdout(), c, o.kube.listNamespace())
		},
	}
}

func listImages(ctx context.Context, out io.Writer, c client.Client, ns string) error {
	repos, policies, autos := &imagev1.ImageRepositoryList{}, &imagev1.ImagePolicyList{}, &imagev1.ImageUpdateAutomationList{}
	for _, l := range []client.ObjectList{repos, policies, autos} {
		if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tIMAGE\tTAGS\tLAST SCAN\tREADY\tMESSAGE")
	for _, r := range repos.Items {
		tags, scanned := "-", "-"
		if s := r.Status.LastScanResult; s != nil {
			tags, scanned = fmt.Sprint(s.TagCount), s.ScanTime.Format(time.RFC3339)
		}
		ready, msg := readyOf(r.Status.Conditions)
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.Name, r.Spec.Image, tags, scanned, ready, msg)
	}
	fmt.Fprintln(tw, "\nPOLICY\tLATEST IMAGE\tREADY\tMESSAGE")
	for _, p := range policies.Items {
		ready, msg := readyOf(p.Status.Conditions)
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\n", p.Namespace, p.Name, orNone(p.Status.LatestImage), ready, msg)
	}
	fmt.Fprintln(tw, "\nAUTOMATION\tLAST RUN\tLAST PUSH\tREADY\tMESSAGE")
	for _, a := range autos.Items {
		run, push := "-", "-"
		if t := a.Status.LastAutomationRunTime; t != nil {
			run = t.Format(time.RFC3339)
		}
		if a.Status.LastPushCommit != "" {
			push = a.Status.LastPushCommit[:min(7, len(a.Status.LastPushCommit))] + " " + a.Status.LastPushTime.Format(time.RFC3339)
		}
		ready, msg := readyOf(a.Status.Conditions)
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\n", a.Namespace, a.Name, run, push, ready, msg)
	}
	return tw.Flush()
}

func readyOf(conds []metav1.Condition) (string, string) {
	c := meta.FindStatusCondition(conds, imagev1.ReadyCondition)
	if c == nil {
		return "Unknown", ""
	}
	return string(c.Status), c.Message
}

func newImageScanCmd(o *imageOptions) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:     "scan NAME",
		Short:   "Scan an ImageRepository now and print what it found",
		Example: "  ferry image scan myapp -n flux-system",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.kube.client()
			if err != nil {
				return err
			}
			repo := &imagev1.ImageRepository{}
			key := client.ObjectKey{Namespace: o.kube.namespace, Name: args[0]}
			if err := requestReconcile(cmd.Context(), c, key, repo, timeout, func() string { return repo.Status.LastHandledReconcileAt }); err != nil {
				return err
			}
			ready, msg := readyOf(repo.Status.Conditions)
			if ready != "True" {
				return fmt.Errorf("scan of %s failed: %s", repo.Spec.Image, msg)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s; latest tags: %s\n", repo.Spec.Image, msg, strings.Join(repo.Status.LastScanResult.LatestTags, ", "))
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the scan")
	return cmd
}

// requestReconcile sets Flux's reconcile.fluxcd.io/requestedAt annotation
// on obj and waits until handled() echoes it.
func requestReconcile(ctx context.Context, c client.Client, key client.ObjectKey, obj client.Object, timeout time.Duration, handled func() string) error {
	obj.SetNamespace(key.Namespace)
	obj.SetName(key.Name)
	token, err := requestedat.Request(ctx, c, obj)
	if err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, obj); err != nil {
			return false, err
		}
		return handled() == token, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s was not reconciled within %s: is the controller running?", key, timeout)
	}
	return err
}

func newImageUpdateCmd(o *imageOptions) *cobra.Command {
	var dryRun bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Run an ImageUpdateAutomation now, or with --dry-run print the file changes it would commit",
		Example: `  ferry image update myapp --dry-run
  ferry image update myapp`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.kube.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			key := client.ObjectKey{Namespace: o.kube.namespace, Name: args[0]}
			a := &imagev1.ImageUpdateAutomation{}
			if !dryRun {
				if err := requestReconcile(ctx, c, key, a, timeout, func() string { return a.Status.LastHandledReconcileAt }); err != nil {
					return err
				}
				ready, msg := readyOf(a.Status.Conditions)
				if ready != "True" {
					return fmt.Errorf("automation %s failed: %s", key, msg)
				}
				fmt.Fprintln(cmd.OutOrStdout(), msg)
				return nil
			}
			if err := c.Get(ctx, key, a); err != nil {
				return err
			}
			// The CLI acts with its user's own rights (Kubernetes RBAC
			// decides what it may read) on its user's machine: the
			// controller's boundaries are not the CLI's.
			opts, err := automation.RunOptions(ctx, c, a, automation.Boundary{AllowCrossNamespace: true, AllowLocal: true})
			if err != nil {
				return err
			}
			opts.DryRun = true
			res, err := gitupdate.Run(ctx, opts)
			if err != nil {
				return err
			}
			return printUpdate(cmd.OutOrStdout(), res)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the diff the automation would commit, and push nothing")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the run")
	return cmd
}

func printUpdate(w io.Writer, res gitupdate.Result) error {
	if len(res.Files) == 0 {
		_, err := fmt.Fprintln(w, "no updates: every marked image is current")
		return err
	}
	names := make([]string, 0, len(res.Files))
	for n := range res.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(res.Files[n].Old)),
			B: difflib.SplitLines(string(res.Files[n].New)), FromFile: "a/" + n, ToFile: "b/" + n, Context: 3})
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, text); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\ncommit message (would be pushed to %s):\n%s\n", res.Branch, res.Message)
	return err
}
