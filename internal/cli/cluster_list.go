package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferrycd/ferry/internal/appview"
)

// newClusterListCmd is `ferry cluster list`: every cluster, the implicit
// in-cluster one included, probed concurrently.
func newClusterListCmd(o *kubeOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List clusters with their connection status",
		Example: "  ferry cluster list\n  ferry cluster list -o wide",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains([]string{"", "wide", "json", "yaml"}, output) {
				return fmt.Errorf("unknown output format %q: want wide, json or yaml", output)
			}
			_, entries, err := o.clusterView(cmd.Context())
			if err != nil {
				return err
			}
			appview.ProbeClusters(entries)
			if output == "json" || output == "yaml" {
				return printStructured(cmd.OutOrStdout(), output, entries)
			}
			return printClusterList(cmd.OutOrStdout(), entries, output == "wide")
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, json or yaml")
	return cmd
}

// printClusterList prints the table; wide adds the Secret and labels.
func printClusterList(w io.Writer, entries []*appview.Cluster, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "NAME\tSERVER\tVERSION\tSTATUS\tAPPS\tMESSAGE"
	if wide {
		header += "\tSECRET\tLABELS"
	}
	fmt.Fprintln(tw, header)
	for _, e := range entries {
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s", e.Name, e.Server, e.Version, e.Status, len(e.Applications), oneLine(e.Message))
		if wide {
			row += "\t" + orNone(e.Secret) + "\t" + orNone(joinPairs(e.Labels))
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

// newClusterGetCmd is `ferry cluster get`: one cluster by name or server.
func newClusterGetCmd(o *kubeOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "get NAME|SERVER",
		Short:   "Show a cluster: name, server, labels, namespaces, credential kinds and connection status",
		Example: "  ferry cluster get prod-us-east\n  ferry cluster get https://10.0.0.1:6443 -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains([]string{"", "wide", "json", "yaml"}, output) {
				return fmt.Errorf("unknown output format %q: want json or yaml", output)
			}
			_, entries, err := o.clusterView(cmd.Context())
			if err != nil {
				return err
			}
			e, err := findCluster(entries, args[0], o.namespace)
			if err != nil {
				return err
			}
			appview.ProbeClusters([]*appview.Cluster{e})
			if output == "json" || output == "yaml" {
				return printStructured(cmd.OutOrStdout(), output, e)
			}
			return printCluster(cmd.OutOrStdout(), e)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

// printCluster prints one cluster, credentials as kinds only.
func printCluster(w io.Writer, e *appview.Cluster) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	namespaces := "<all>"
	if len(e.Namespaces) > 0 {
		namespaces = strings.Join(e.Namespaces, ",")
	}
	fmt.Fprintf(tw, "Name:\t%s\n", e.Name)
	fmt.Fprintf(tw, "Server:\t%s\n", e.Server)
	fmt.Fprintf(tw, "Secret:\t%s\n", orDefault(e.Secret, "<none> (implicit in-cluster entry)"))
	fmt.Fprintf(tw, "Labels:\t%s\n", orNone(joinPairs(e.Labels)))
	fmt.Fprintf(tw, "Annotations:\t%s\n", orNone(joinPairs(e.Annotations)))
	fmt.Fprintf(tw, "Namespaces:\t%s\n", namespaces)
	if len(e.Namespaces) > 0 {
		fmt.Fprintf(tw, "Cluster Resources:\t%t\n", e.ClusterResources)
	}
	fmt.Fprintf(tw, "Project:\t%s\n", orNone(e.Project))
	fmt.Fprintf(tw, "Credentials:\t%s\n", orNone(strings.Join(e.Credentials, ", ")))
	fmt.Fprintf(tw, "Version:\t%s\n", orNone(e.Version))
	fmt.Fprintf(tw, "Status:\t%s\n", e.Status)
	if e.Message != "" {
		fmt.Fprintf(tw, "Message:\t%s\n", oneLine(e.Message))
	}
	fmt.Fprintf(tw, "Applications:\t%s\n", orNone(strings.Join(e.Applications, ", ")))
	return tw.Flush()
}
