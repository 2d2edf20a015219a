package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/appview"
	"github.com/ferrycd/ferry/internal/cluster"
)

// This file is the `ferry cluster` group and what its verbs share: loading
// the registered clusters with the Applications that target them (the view
// is appview.Clusters, shared with the web UI), and finding one by name or
// server. The verbs are in cluster_add.go, cluster_list.go (list and get)
// and cluster_rm.go.

// The objects `ferry cluster add` creates on the target cluster, as Argo
// CD's argocd-manager, argocd-manager-role and argocd-manager-role-binding.
const (
	clusterFieldManager   = "ferry"
	clusterRoleName       = "ferry-manager-role"
	clusterRoleBinding    = "ferry-manager-role-binding"
	tokenSecretSuffix     = "-long-lived-token"
	serviceAccountNameKey = "kubernetes.io/service-account.name"
)

// newClusterCmd is `ferry cluster`, shaped like `argocd cluster`: it manages
// Argo CD's declarative cluster Secrets in Ferry's namespace.
func newClusterCmd() *cobra.Command {
	o := &kubeOptions{}
	cmd := &cobra.Command{
		Use:     "cluster",
		Short:   "Manage the clusters Applications deploy to (as `argocd cluster` does)",
		Example: "  ferry cluster add prod-us-east --label environment=production\n  ferry cluster list\n  ferry cluster rm prod-us-east",
	}
	f := cmd.PersistentFlags()
	o.addConfigFlags(f)
	f.StringVarP(&o.namespace, "namespace", "n", "argocd", "namespace of the cluster Secrets (Ferry's namespace)")
	get, rm := newClusterGetCmd(o), newClusterRmCmd(o)
	get.ValidArgsFunction, rm.ValidArgsFunction = o.completeClusters, o.completeClusters
	cmd.AddCommand(newClusterAddCmd(o), newClusterListCmd(o), get, rm)
	return cmd
}

// clusterRegistry is the cluster Secrets of o.namespace, read through c.
func (o *kubeOptions) clusterRegistry(c client.Reader) cluster.Registry {
	return cluster.Registry{Reader: c, Namespace: o.namespace}
}

// clusterView loads the clusters of o.namespace and the Applications
// targeting them (appview.Clusters), the in-cluster server reached with the
// Ferry-side kubeconfig.
func (o *kubeOptions) clusterView(ctx context.Context) (client.Client, []*appview.Cluster, error) {
	c, err := o.client()
	if err != nil {
		return nil, nil, err
	}
	local, err := o.restConfig()
	if err != nil {
		return nil, nil, err
	}
	entries, err := appview.Clusters(ctx, c, o.namespace, local)
	if err != nil {
		return nil, nil, err
	}
	return c, entries, nil
}

// findCluster picks the entry named arg, else the one whose server is arg.
// It searches loaded entries rather than asking the registry, so the
// implicit in-cluster entry is found and a name several Secrets share is
// reported as ambiguous.
func findCluster(entries []*appview.Cluster, arg, ns string) (*appview.Cluster, error) {
	var byName []*appview.Cluster
	for _, e := range entries {
		if e.Name == arg {
			byName = append(byName, e)
		}
	}
	switch len(byName) {
	case 1:
		return byName[0], nil
	case 0:
	default:
		secrets := make([]string, 0, len(byName))
		for _, e := range byName {
			secrets = append(secrets, e.Secret)
		}
		return nil, fmt.Errorf("cluster name %q is ambiguous: Secrets %s all use it; pass the server URL", arg, strings.Join(secrets, ", "))
	}
	server := cluster.NormalizeServer(arg)
	for _, e := range entries {
		if e.Server == server {
			return e, nil
		}
	}
	return nil, fmt.Errorf("cluster %q not found: no cluster Secret in namespace %s has that name or server", arg, ns)
}

// completeClusters completes cluster names for shell completion.
func (o *kubeOptions) completeClusters(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	c, err := o.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	entries, err := o.clusterRegistry(c).List(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var names []cobra.Completion
	for _, e := range entries {
		if name := e.Name(); name != "" && strings.HasPrefix(name, toComplete) {
			names = append(names, name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// orDefault returns s, or fallback when s is empty.
func orDefault(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

// oneLine keeps a message on one table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// joinPairs prints a map as sorted k=v pairs.
func joinPairs(m map[string]string) string {
	pairs := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		pairs = append(pairs, k+"="+m[k])
	}
	return strings.Join(pairs, ",")
}
