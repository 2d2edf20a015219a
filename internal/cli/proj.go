package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/project"
)

// This file is the `ferry proj` group, what its verbs share (reading a
// project, as an unstructured object so that nothing Ferry does not model is
// lost) and the verbs that only read or delete: list, get and delete. The
// other verbs are in proj_create.go, proj_edit.go (sources, destinations,
// resource lists) and proj_syncwindows.go.

// newProjCmd is `ferry proj`, shaped like `argocd proj`: it reads and writes
// AppProjects through the Kubernetes API with the user's kubeconfig.
func newProjCmd() *cobra.Command {
	o := &kubeOptions{}
	cmd := &cobra.Command{
		Use:     "proj",
		Aliases: []string{"project"},
		Short:   "Manage AppProjects (as `argocd proj` does)",
		Example: "  ferry proj list\n  ferry proj create team-a -d https://kubernetes.default.svc,team-a -s https://github.com/myorg/team-a.git\n" +
			"  ferry proj add-source team-a '!https://github.com/myorg/secrets.git'\n  ferry proj windows add team-a --kind deny --schedule '0 22 * * *' --duration 8h --applications '*'",
	}
	f := cmd.PersistentFlags()
	o.addConfigFlags(f)
	f.StringVarP(&o.namespace, "namespace", "n", "argocd", "namespace of the AppProjects (Ferry's namespace)")
	cmd.AddCommand(newProjListCmd(o), newProjGetCmd(o), newProjCreateCmd(o), newProjDeleteCmd(o))
	cmd.AddCommand(newProjEditCmds(o)...)
	cmd.AddCommand(newProjWindowsCmd(o))
	// Commands whose first argument is a project complete it from the
	// cluster (all but list and create, the windows verbs included).
	var complete func(*cobra.Command)
	complete = func(parent *cobra.Command) {
		for _, sub := range parent.Commands() {
			complete(sub)
			if sub.Runnable() && (parent != cmd || sub.Name() != "list" && sub.Name() != "create") {
				sub.ValidArgsFunction = o.completeProjects
			}
		}
	}
	complete(cmd)
	return cmd
}

// newProjectObject is an empty unstructured AppProject.
func newProjectObject() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("AppProject"))
	return u
}

// getProject reads a project as stored, unmodelled fields included.
// projectToShow checks a show command's -o value, then reads the project.
func (o *kubeOptions) projectToShow(ctx context.Context, name, output string) (*unstructured.Unstructured, error) {
	if !slices.Contains([]string{"", "wide", "json", "yaml"}, output) {
		return nil, fmt.Errorf("unknown output format %q: want wide, json or yaml", output)
	}
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	return o.getProject(ctx, c, name)
}

func (o *kubeOptions) getProject(ctx context.Context, c client.Reader, name string) (*unstructured.Unstructured, error) {
	u := newProjectObject()
	if err := c.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("project %q not found in namespace %s", name, o.namespace)
		}
		return nil, fmt.Errorf("get project %s/%s: %w", o.namespace, name, err)
	}
	return u, nil
}

// typedProject decodes an unstructured project for reading. Decoding keeps
// an empty namespaceResourceWhitelist apart from an absent one; the result
// must never be written back (see AppProjectSpec).
func typedProject(u *unstructured.Unstructured) (*v1alpha1.AppProject, error) {
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	p := &v1alpha1.AppProject{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decode project %s: %w", u.GetName(), err)
	}
	return p, nil
}

// withoutManagedFields drops the server's field-manager bookkeeping from
// what -o yaml and -o json print, as kubectl does by default.
func withoutManagedFields(u *unstructured.Unstructured) map[string]any {
	u = u.DeepCopy()
	u.SetManagedFields(nil)
	return u.Object
}

func newProjListCmd(o *kubeOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List projects",
		Example: "  ferry proj list\n  ferry proj list -o yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains([]string{"", "wide", "name", "json", "yaml"}, output) {
				return fmt.Errorf("unknown output format %q: want wide, name, json or yaml", output)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("AppProjectList"))
			if err := c.List(cmd.Context(), list, client.InNamespace(o.namespace)); err != nil {
				return fmt.Errorf("list projects in namespace %s: %w", o.namespace, err)
			}
			w := cmd.OutOrStdout()
			switch output {
			case "json", "yaml":
				items := make([]map[string]any, 0, len(list.Items))
				for i := range list.Items {
					items = append(items, withoutManagedFields(&list.Items[i]))
				}
				return printStructured(w, output, items)
			case "name":
				for _, u := range list.Items {
					fmt.Fprintln(w, u.GetName())
				}
				return nil
			}
			projects := make([]*v1alpha1.AppProject, 0, len(list.Items))
			for i := range list.Items {
				p, err := typedProject(&list.Items[i])
				if err != nil {
					return err
				}
				projects = append(projects, p)
			}
			return printProjectTable(w, projects, output == "wide")
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide (adds source namespaces and sync windows), name, json or yaml")
	return cmd
}

// printProjectTable prints Argo CD's project table, long lists summarised
// as counts; wide adds the source namespaces and the number of sync windows.
func printProjectTable(w io.Writer, projects []*v1alpha1.AppProject, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "NAME\tDESCRIPTION\tDESTINATIONS\tSOURCES\tCLUSTER-RESOURCE-WHITELIST\tNAMESPACE-RESOURCE-BLACKLIST\tORPHANED-RESOURCES\tDESTINATION-SERVICE-ACCOUNTS"
	if wide {
		header += "\tSOURCE-NAMESPACES\tSYNC-WINDOWS"
	}
	fmt.Fprintln(tw, header)
	for _, p := range projects {
		s := &p.Spec
		row := strings.Join([]string{
			p.Name,
			oneLine(s.Description),
			summary(len(s.Destinations), "destinations", func() string { return formatDestination(s.Destinations[0]) }),
			summary(len(s.SourceRepos), "repos", func() string { return s.SourceRepos[0] }),
			summary(len(s.ClusterResourceWhitelist), "resources", func() string { return formatClusterItem(s.ClusterResourceWhitelist[0]) }),
			countOrNone(len(s.NamespaceResourceBlacklist), "resources"), // a count even for one, as Argo CD shows it
			formatOrphaned(s.OrphanedResources),
			summary(len(s.DestinationServiceAccounts), "destinationServiceAccounts", func() string { return formatServiceAccount(s.DestinationServiceAccounts[0]) }),
		}, "\t")
		if wide {
			row += "\t" + orNone(strings.Join(s.SourceNamespaces, ",")) + "\t" + fmt.Sprint(len(s.SyncWindows))
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

// summary is "<none>", the one item, or "N noun", as Argo CD's project
// table shows a list.
func summary(n int, noun string, first func() string) string {
	if n == 1 {
		return first()
	}
	return countOrNone(n, noun)
}

// countOrNone is "<none>" or "N noun".
func countOrNone(n int, noun string) string {
	if n == 0 {
		return "<none>"
	}
	return fmt.Sprintf("%d %s", n, noun)
}

// formatDestination is "server,namespace", with the cluster's name when the
// destination names it instead of its server.
func formatDestination(d v1alpha1.ApplicationDestination) string {
	return orDefault(d.Server, d.Name) + "," + d.Namespace
}

// formatGroupKind is "group/kind", the form the create flags take.
func formatGroupKind(gk v1alpha1.GroupKind) string {
	return gk.Group + "/" + gk.Kind
}

// formatClusterItem is "group/kind", or "group/kind/name" with a name.
func formatClusterItem(i v1alpha1.ClusterResourceRestrictionItem) string {
	if i.Name != "" {
		return i.Group + "/" + i.Kind + "/" + i.Name
	}
	return i.Group + "/" + i.Kind
}

// formatServiceAccount is "server,namespace,serviceaccount".
func formatServiceAccount(sa v1alpha1.ApplicationDestinationServiceAccount) string {
	return sa.Server + "," + sa.Namespace + "," + sa.DefaultServiceAccount
}

// formatOrphaned says whether orphaned resources are reported, as Argo CD
// does: "disabled", "enabled (warn=false)", "enabled (warn=true, ignored 2)".
func formatOrphaned(s *v1alpha1.OrphanedResourcesMonitorSettings) string {
	if s == nil {
		return "disabled"
	}
	details := fmt.Sprintf("warn=%t", s.Warn != nil && *s.Warn)
	if len(s.Ignore) > 0 {
		details += fmt.Sprintf(", ignored %d", len(s.Ignore))
	}
	return "enabled (" + details + ")"
}

func newProjGetCmd(o *kubeOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "get PROJECT",
		Short:   "Show a project: destinations, repositories, resource lists, sync windows",
		Example: "  ferry proj get team-a\n  ferry proj get team-a -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := o.projectToShow(cmd.Context(), args[0], output)
			if err != nil {
				return err
			}
			if output == "json" || output == "yaml" {
				return printStructured(cmd.OutOrStdout(), output, withoutManagedFields(u))
			}
			p, err := typedProject(u)
			if err != nil {
				return err
			}
			return printProject(cmd.OutOrStdout(), p)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, json or yaml (as stored, fields Ferry does not model included)")
	return cmd
}

// printProject prints a project as `argocd proj get` does, one list item a
// line. The namespaced allow list tells absent (every kind) from empty
// (none).
func printProject(w io.Writer, p *v1alpha1.AppProject) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	s := &p.Spec
	field := func(label string, values []string) {
		if len(values) == 0 {
			values = []string{"<none>"}
		}
		fmt.Fprintf(tw, "%s:\t%s\n", label, values[0])
		for _, v := range values[1:] {
			fmt.Fprintf(tw, "\t%s\n", v)
		}
	}
	field("Name", []string{p.Name})
	field("Description", []string{oneLine(s.Description)})
	field("Destinations", mapped(s.Destinations, formatDestination))
	field("Repositories", s.SourceRepos)
	field("Source Namespaces", s.SourceNamespaces)
	field("Allowed Cluster Resources", mapped(s.ClusterResourceWhitelist, formatClusterItem))
	field("Denied Cluster Resources", mapped(s.ClusterResourceBlacklist, formatClusterItem))
	allowed := mapped(s.NamespaceResourceWhitelist, formatGroupKind)
	if s.NamespaceResourceWhitelist == nil {
		allowed = []string{"<all>"}
	}
	field("Allowed Namespaced Resources", allowed)
	field("Denied Namespaced Resources", mapped(s.NamespaceResourceBlacklist, formatGroupKind))
	field("Sync Windows", mapped(s.SyncWindows, formatWindow))
	field("Orphaned Resources", []string{formatOrphaned(s.OrphanedResources)})
	field("Destination Service Accounts", mapped(s.DestinationServiceAccounts, formatServiceAccount))
	if s.PermitOnlyProjectScopedClusters {
		field("Project-scoped Clusters Only", []string{"true"})
	}
	return tw.Flush()
}

// formatWindow is a window on one line: "allow 0 22 * * * 1h (UTC)
// applications=a,b manualSync".
func formatWindow(win *v1alpha1.SyncWindow) string {
	if win == nil {
		return "<null>"
	}
	parts := []string{win.Kind, win.Schedule, win.Duration, "(" + orDefault(win.TimeZone, "UTC") + ")"}
	for _, sel := range []struct {
		name   string
		values []string
	}{{"applications", win.Applications}, {"namespaces", win.Namespaces}, {"clusters", win.Clusters}} {
		if len(sel.values) > 0 {
			parts = append(parts, sel.name+"="+strings.Join(sel.values, ","))
		}
	}
	if win.UseAndOperator {
		parts = append(parts, "andOperator")
	}
	if win.ManualSync {
		parts = append(parts, "manualSync")
	}
	return strings.Join(parts, " ")
}

// mapped formats each item of a list.
func mapped[T any](items []T, format func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, format(it))
	}
	return out
}

func newProjDeleteCmd(o *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "delete PROJECT...",
		Short:   "Delete projects no Application uses",
		Example: "  ferry proj delete team-a team-b",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			for _, name := range args {
				if err := o.deleteProject(cmd.Context(), c, name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "project '%s' deleted\n", name)
			}
			return nil
		},
	}
}

// deleteProject deletes a project, refusing, as Argo CD does, the default
// project and one that Applications (of any namespace) still use. The
// check and the delete are not atomic: an Application created in between
// is reported by the controller (its project is missing).
func (o *kubeOptions) deleteProject(ctx context.Context, c client.Client, name string) error {
	if name == project.DefaultName {
		return fmt.Errorf("project %q is reserved and cannot be deleted", name)
	}
	u, err := o.getProject(ctx, c, name)
	if err != nil {
		return err
	}
	apps := &v1alpha1.ApplicationList{}
	if err := c.List(ctx, apps); err != nil {
		return fmt.Errorf("list the Applications that may use project %s: %w", name, err)
	}
	var users []string
	for _, a := range apps.Items {
		if a.Spec.Project == name {
			users = append(users, a.Namespace+"/"+a.Name)
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("project %s is used by %d Applications: %s; delete them or move them to another project first", name, len(users), strings.Join(users, ", "))
	}
	if err := c.Delete(ctx, u, client.Preconditions{UID: new(u.GetUID())}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete project %s/%s: %w", o.namespace, name, err)
	}
	return nil
}

// completeProjects completes project names for shell completion: the first
// argument, or every argument of `proj delete`.
func (o *kubeOptions) completeProjects(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 && (cmd.Name() != "delete" || cmd.Parent().Name() != "proj") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := o.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	list := &v1alpha1.AppProjectList{}
	if err := c.List(cmd.Context(), list, client.InNamespace(o.namespace)); err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var names []cobra.Completion
	for _, p := range list.Items {
		if strings.HasPrefix(p.Name, toComplete) {
			names = append(names, p.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
