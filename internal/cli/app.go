package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/appview"
)

// newAppCmd is `ferry app`, shaped like `argocd app`: it reads and writes
// Applications through the Kubernetes API, and the controller does the rest.
func newAppCmd() *cobra.Command {
	o := &kubeOptions{}
	cmd := &cobra.Command{
		Use:     "app",
		Short:   "Manage Applications (as `argocd app` does)",
		Example: "  ferry app list\n  ferry app sync myapp-production --revision abc123",
	}
	o.addFlags(cmd)
	// Commands that take Application names complete them from the cluster.
	defer func() {
		for _, sub := range cmd.Commands() {
			if sub.Name() != "list" && sub.Name() != "create" {
				sub.ValidArgsFunction = o.completeApps
			}
		}
	}()
	cmd.AddCommand(newAppListCmd(o), newAppGetCmd(o), newAppHistoryCmd(o), newAppSyncCmd(o), newAppRollbackCmd(o), newAppWaitCmd(o), newAppDiffCmd(o), newAppCreateCmd(o), newAppDeleteCmd(o), newAppTerminateOpCmd(o), newAppConfirmDeletionCmd(o))
	return cmd
}

func newAppListCmd(o *kubeOptions) *cobra.Command {
	var selector, output string
	var projects []string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List Applications",
		Example: "  ferry app list -n argocd\n  ferry app list -A -o wide\n  ferry app list -p team-a -p team-b",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			sel, err := labels.Parse(selector)
			if err != nil {
				return fmt.Errorf("-l %q: %w", selector, err)
			}
			apps := &v1alpha1.ApplicationList{}
			if err := c.List(cmd.Context(), apps, client.InNamespace(o.listNamespace()), client.MatchingLabelsSelector{Selector: sel}); err != nil {
				return fmt.Errorf("list applications: %w", err)
			}
			if len(projects) > 0 {
				apps.Items = slices.DeleteFunc(apps.Items, func(a v1alpha1.Application) bool { return !slices.Contains(projects, a.Spec.Project) })
			}
			return printAppList(cmd.OutOrStdout(), output, apps)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector")
	cmd.Flags().StringArrayVarP(&projects, "project", "p", nil, "only Applications of this project (repeatable)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, name, json or yaml")
	return cmd
}

func printAppList(w io.Writer, output string, apps *v1alpha1.ApplicationList) error {
	switch output {
	case "json", "yaml":
		return printStructured(w, output, apps)
	case "name":
		for _, a := range apps.Items {
			fmt.Fprintf(w, "%s/%s\n", a.Namespace, a.Name)
		}
		return nil
	case "", "wide":
	default:
		return fmt.Errorf("unknown output format %q: want wide, name, json or yaml", output)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "NAME\tCLUSTER\tNAMESPACE\tPROJECT\tSTATUS\tHEALTH\tSYNCPOLICY\tCONDITIONS\tREPO\tPATH\tTARGET"
	if output == "wide" {
		header += "\tREVISION"
	}
	fmt.Fprintln(tw, header)
	for _, a := range apps.Items {
		repo, path, target := "", "", ""
		if srcs := appstate.Sources(&a); len(srcs) > 0 {
			// The first source, as argocd app list shows; a chart's name in
			// the path column.
			s := srcs[0]
			repo, path, target = s.RepoURL, s.Path, s.TargetRevision
			if s.Chart != "" {
				path = s.Chart
			}
		}
		cluster := a.Spec.Destination.Server
		if cluster == "" {
			cluster = a.Spec.Destination.Name
		}
		conds := make([]string, 0, len(a.Status.Conditions))
		for _, c := range a.Status.Conditions {
			conds = append(conds, string(c.Type))
		}
		row := fmt.Sprintf("%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", a.Namespace, a.Name, cluster, a.Spec.Destination.Namespace,
			a.Spec.Project, a.Status.Sync.Status, a.Status.Health.Status, syncPolicy(&a), orNone(strings.Join(conds, ",")), repo, path, target)
		if output == "wide" {
			row += "\t" + a.Status.Sync.Revision
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

func syncPolicy(a *v1alpha1.Application) string {
	p := a.Spec.SyncPolicy
	if p == nil || p.Automated == nil {
		return "Manual"
	}
	s := "Auto"
	if p.Automated.Prune {
		s += "-Prune"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func newAppGetCmd(o *kubeOptions) *cobra.Command {
	var output string
	var refresh, hardRefresh bool
	cmd := &cobra.Command{
		Use:     "get NAME",
		Short:   "Show an Application: summary, conditions, last operation and resources",
		Example: "  ferry app get myapp-staging\n  ferry app get myapp-staging --refresh -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			key := client.ObjectKey{Namespace: o.namespace, Name: args[0]}
			if refresh || hardRefresh {
				mode := "normal"
				if hardRefresh {
					mode = "hard"
				}
				if err := appview.Refresh(ctx, c, key, mode); err != nil {
					return err
				}
				if err := appview.WaitRefreshed(ctx, c, key); err != nil {
					return err
				}
			}
			app, err := getApp(ctx, c, key)
			if err != nil {
				return err
			}
			switch output {
			case "json", "yaml":
				return printStructured(cmd.OutOrStdout(), output, app)
			case "tree":
				return printTree(ctx, cmd.OutOrStdout(), c, app)
			case "", "wide":
				return printApp(cmd.OutOrStdout(), app, appview.SyncWindowState(ctx, c, app))
			}
			return fmt.Errorf("unknown output format %q: want wide, tree, json or yaml", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, tree (resources with the objects they own), json or yaml")
	cmd.Flags().BoolVar(&refresh, "refresh", false, "compare with Git now (argocd.argoproj.io/refresh: normal) and wait for it")
	cmd.Flags().BoolVar(&hardRefresh, "hard-refresh", false, "also drop cached renders (refresh: hard)")
	return cmd
}

// printSources prints the Application's sources as `argocd app get` does:
// one source inline, several as a list with their positions, each with the
// revision it was last compared at.
func printSources(tw io.Writer, a *v1alpha1.Application) {
	srcs := appstate.Sources(a)
	if !appstate.MultiSource(a) {
		src := v1alpha1.ApplicationSource{}
		if len(srcs) == 1 {
			src = srcs[0]
		}
		fmt.Fprintf(tw, "Repo:\t%s\n", src.RepoURL)
		if src.Chart != "" {
			fmt.Fprintf(tw, "Helm Chart:\t%s\n", src.Chart)
		}
		fmt.Fprintf(tw, "Target:\t%s\n", src.TargetRevision)
		if src.Chart == "" {
			fmt.Fprintf(tw, "Path:\t%s\n", src.Path)
		}
		return
	}
	fmt.Fprintf(tw, "Sources:\t\n")
	for i, s := range srcs {
		fmt.Fprintf(tw, "- Position:\t%d\n", i+1)
		if s.Name != "" {
			fmt.Fprintf(tw, "  Name:\t%s\n", s.Name)
		}
		fmt.Fprintf(tw, "  Repo:\t%s\n", s.RepoURL)
		if s.Chart != "" {
			fmt.Fprintf(tw, "  Helm Chart:\t%s\n", s.Chart)
		} else if s.Path != "" {
			fmt.Fprintf(tw, "  Path:\t%s\n", s.Path)
		}
		fmt.Fprintf(tw, "  Target:\t%s\n", orNone(s.TargetRevision))
		if revs := a.Status.Sync.Revisions; i < len(revs) {
			fmt.Fprintf(tw, "  Revision:\t%s\n", shortRev(revs[i]))
		}
		if s.Ref != "" {
			fmt.Fprintf(tw, "  Ref:\t%s\n", s.Ref)
		}
	}
}

// printApp prints an Application as `argocd app get` does; window is what
// its project's sync windows say now (appview.SyncWindowState).
func printApp(w io.Writer, a *v1alpha1.Application, window string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s/%s\n", a.Namespace, a.Name)
	fmt.Fprintf(tw, "Project:\t%s\n", a.Spec.Project)
	fmt.Fprintf(tw, "Server:\t%s\n", orNone(a.Spec.Destination.Server+a.Spec.Destination.Name))
	fmt.Fprintf(tw, "Namespace:\t%s\n", a.Spec.Destination.Namespace)
	printSources(tw, a)
	fmt.Fprintf(tw, "SyncWindow:\t%s\n", window)
	fmt.Fprintf(tw, "Sync Policy:\t%s\n", syncPolicy(a))
	if rev := a.Status.Sync.Revision; rev != "" {
		fmt.Fprintf(tw, "Sync Status:\t%s to %s\n", a.Status.Sync.Status, shortRev(rev))
	} else if revs := a.Status.Sync.Revisions; len(revs) > 0 {
		short := make([]string, len(revs))
		for i, r := range revs {
			short[i] = shortRev(r)
		}
		fmt.Fprintf(tw, "Sync Status:\t%s to %s\n", a.Status.Sync.Status, strings.Join(short, ", "))
	} else {
		fmt.Fprintf(tw, "Sync Status:\t%s\n", orNone(string(a.Status.Sync.Status)))
	}
	fmt.Fprintf(tw, "Health Status:\t%s\n", a.Status.Health.Status)
	if op := a.Status.OperationState; op != nil {
		fmt.Fprintf(tw, "Last Operation:\t%s: %s\n", op.Phase, op.Message)
	}
	for _, c := range a.Status.Conditions {
		fmt.Fprintf(tw, "Condition:\t%s: %s\n", c.Type, c.Message)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "GROUP\tKIND\tNAMESPACE\tNAME\tWAVE\tSTATUS\tHEALTH\tMESSAGE")
	for _, r := range a.Status.Resources {
		health, msg := "", ""
		if r.Health != nil {
			health, msg = string(r.Health.Status), r.Health.Message
		}
		if r.RequiresPruning {
			msg = "requires pruning"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Group, r.Kind, r.Namespace, r.Name, r.SyncWave, r.Status, health, msg)
	}
	return tw.Flush()
}

func shortRev(rev string) string { return appstate.Short(rev) }

// historyRevision shows what a history entry deployed: each source's target
// and the revision it resolved to.
func historyRevision(h v1alpha1.RevisionHistory) string {
	if len(h.Revisions) == 0 {
		return fmt.Sprintf("%s (%s)", h.Source.TargetRevision, shortRev(h.Revision))
	}
	parts := make([]string, len(h.Revisions))
	for i, rev := range h.Revisions {
		target := ""
		if i < len(h.Sources) {
			target = h.Sources[i].TargetRevision
		}
		parts[i] = fmt.Sprintf("%s (%s)", target, shortRev(rev))
	}
	return strings.Join(parts, ", ")
}

func newAppHistoryCmd(o *kubeOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "history NAME",
		Short:   "Show an Application's deployment history",
		Example: "  ferry app history myapp-production",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			app, err := getApp(cmd.Context(), c, client.ObjectKey{Namespace: o.namespace, Name: args[0]})
			if err != nil {
				return err
			}
			if output == "json" || output == "yaml" {
				return printStructured(cmd.OutOrStdout(), output, app.Status.History)
			}
			var messages map[string]string
			if output == "wide" {
				// With the credentials of Argo CD's repository Secrets,
				// which the user's RBAC must allow reading.
				commits, err := appview.Commits(cmd.Context(), c, app, "argocd")
				if err != nil {
					return err
				}
				messages = firstLines(commits)
			}
			return printHistory(cmd.OutOrStdout(), app.Status.History, messages)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, json or yaml")
	return cmd
}

// completeApps completes Application names for shell completion.
func (o *kubeOptions) completeApps(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	c, err := o.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	apps := &v1alpha1.ApplicationList{}
	if err := c.List(cmd.Context(), apps, client.InNamespace(o.namespace)); err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var names []cobra.Completion
	for _, a := range apps.Items {
		if strings.HasPrefix(a.Name, toComplete) {
			names = append(names, a.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// printHistory prints the deployment history; with messages (-o wide) the
// full revision and the first line of each commit's message.
func printHistory(w io.Writer, history []v1alpha1.RevisionHistory, messages map[string]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if messages == nil {
		fmt.Fprintln(tw, "ID\tDATE\tREVISION")
	} else {
		fmt.Fprintln(tw, "ID\tDATE\tREVISION\tMESSAGE")
	}
	for _, h := range history {
		date := h.DeployedAt.UTC().Format("2006-01-02 15:04:05 -0700 MST")
		if messages == nil {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", h.ID, date, historyRevision(h))
			continue
		}
		rev := appstate.SyncedRevision(h.Revision, h.Revisions)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", h.ID, date, rev, messages[h.Revision])
	}
	return tw.Flush()
}

// firstLines is the first line of each commit's message, or why it could
// not be read, in parentheses.
func firstLines(commits map[string]appview.Commit) map[string]string {
	lines := make(map[string]string, len(commits))
	for rev, c := range commits {
		if c.Error != "" {
			lines[rev] = "(" + c.Error + ")"
			continue
		}
		lines[rev], _, _ = strings.Cut(strings.TrimSpace(c.Message), "\n")
	}
	return lines
}
