package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appset"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/source"
)

func newAppSetCmd() *cobra.Command {
	o := &kubeOptions{}
	cmd := &cobra.Command{
		Use:   "appset",
		Short: "ApplicationSets: list, inspect, and preview what a manifest would generate",
		Example: `  ferry appset list
  ferry appset get myapp-all-clusters
  ferry appset preview multi-cluster-appset.yaml`,
	}
	o.addFlags(cmd)
	cmd.AddCommand(newAppSetListCmd(o), newAppSetGetCmd(o), newAppSetPreviewCmd(o))
	return cmd
}

func newAppSetListCmd(o *kubeOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List ApplicationSets with their status and how many Applications they generate",
		Example: "  ferry appset list -A",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			list := &v1alpha1.ApplicationSetList{}
			if err := c.List(cmd.Context(), list, client.InNamespace(o.listNamespace())); err != nil {
				return err
			}
			if output != "" {
				return printStructuredAs(cmd.OutOrStdout(), output, list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAMESPACE\tNAME\tAPPLICATIONS\tSTATUS\tMESSAGE")
			for _, as := range list.Items {
				status, msg := appSetStatus(&as)
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", as.Namespace, as.Name, len(as.Status.Resources), status, msg)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json|yaml")
	return cmd
}

// appSetStatus summarises the conditions: Error with its message, or OK.
func appSetStatus(as *v1alpha1.ApplicationSet) (string, string) {
	for _, c := range as.Status.Conditions {
		if c.Type == "ErrorOccurred" && c.Status == "True" {
			return "Error", c.Message
		}
	}
	for _, c := range as.Status.Conditions {
		if c.Type == "ResourcesUpToDate" && c.Status == "True" {
			return "OK", ""
		}
	}
	return "Unknown", ""
}

func newAppSetGetCmd(o *kubeOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "get NAME",
		Short:   "Show an ApplicationSet: conditions and the Applications it generates with their sync and health",
		Example: "  ferry appset get myapp-all-clusters -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			as := &v1alpha1.ApplicationSet{}
			key := client.ObjectKey{Namespace: o.namespace, Name: args[0]}
			if err := c.Get(cmd.Context(), key, as); err != nil {
				return fmt.Errorf("get applicationset %s: %w", key, err)
			}
			if output != "" {
				return printStructuredAs(cmd.OutOrStdout(), output, as)
			}
			return printAppSet(cmd.OutOrStdout(), as)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json|yaml")
	return cmd
}

func printAppSet(w io.Writer, as *v1alpha1.ApplicationSet) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	status, msg := appSetStatus(as)
	fmt.Fprintf(tw, "Name:\t%s/%s\nStatus:\t%s\n", as.Namespace, as.Name, status)
	if msg != "" {
		fmt.Fprintf(tw, "Message:\t%s\n", msg)
	}
	fmt.Fprintln(tw, "\nCONDITION\tSTATUS\tMESSAGE")
	for _, c := range as.Status.Conditions {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Type, c.Status, c.Message)
	}
	fmt.Fprintln(tw, "\nAPPLICATION\tSYNC\tHEALTH")
	for _, r := range as.Status.Resources {
		health := ""
		if r.Health != nil {
			health = string(r.Health.Status)
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\n", r.Namespace, r.Name, orNone(string(r.Status)), orNone(health))
	}
	return tw.Flush()
}

func newAppSetPreviewCmd(o *kubeOptions) *cobra.Command {
	var home, output string
	cmd := &cobra.Command{
		Use:   "preview FILE",
		Short: "Print the Applications an ApplicationSet manifest would generate, creating nothing",
		Long: `Run an ApplicationSet manifest's generators against the live cluster registry (the cluster
Secrets of --home-namespace) and Git (with the repository Secrets), and print the Applications
it would generate. Nothing is created.`,
		Example: "  ferry appset preview multi-cluster-appset.yaml -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			as, err := readAppSet(args[0])
			if err != nil {
				return err
			}
			apps, err := previewAppSet(cmd.Context(), c, home, as)
			if err != nil {
				return err
			}
			if output != "" {
				list := &v1alpha1.ApplicationList{}
				for _, a := range apps {
					list.Items = append(list.Items, *a)
				}
				return printStructuredAs(cmd.OutOrStdout(), output, list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tREPO\tPATH\tTARGET\tDESTINATION\tNAMESPACE")
			for _, a := range apps {
				src := &v1alpha1.ApplicationSource{}
				if srcs := appstate.Sources(a); len(srcs) > 0 {
					src = &srcs[0]
				}
				dest := a.Spec.Destination.Server
				if dest == "" {
					dest = a.Spec.Destination.Name
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, src.RepoURL, src.Path, src.TargetRevision, dest, a.Spec.Destination.Namespace)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&home, "home-namespace", "argocd", "the namespace of the cluster and repository Secrets (the controller's --home-namespace)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json|yaml (the Applications in full)")
	return cmd
}

func readAppSet(file string) (*v1alpha1.ApplicationSet, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	as := &v1alpha1.ApplicationSet{}
	if err := yaml.UnmarshalStrict(data, as); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if as.Kind != v1alpha1.ApplicationSetKind {
		return nil, fmt.Errorf("%s: kind %q, want ApplicationSet", file, as.Kind)
	}
	if as.Namespace == "" {
		as.Namespace = "argocd"
	}
	return as, nil
}

func previewAppSet(ctx context.Context, c client.Client, home string, as *v1alpha1.ApplicationSet) ([]*v1alpha1.Application, error) {
	dir, err := os.MkdirTemp("", "ferry-appset-preview-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// Generators read repositories as no project does (unscoped Secrets
	// only), as the ApplicationSet controller does.
	secrets := source.RepositorySecrets{Reader: c, Namespace: home}
	cache, err := source.NewCache(source.Options{Dir: dir, Credentials: secrets.Credentials, Scoped: secrets.Scoped, AllowLocal: true}) // the CLI runs on its user's machine, with its user's rights
	if err != nil {
		return nil, err
	}
	apps, err := appset.Preview(ctx, c, home, cache, as)
	if err != nil {
		return nil, err
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	return apps, nil
}

// printStructuredAs prints json or yaml, and refuses other formats.
func printStructuredAs(w io.Writer, output string, v any) error {
	if output != "json" && output != "yaml" {
		return fmt.Errorf("unknown output format %q: want json or yaml", output)
	}
	return printStructured(w, output, v)
}
