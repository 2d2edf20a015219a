package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
)

// This file is the `ferry cluster` group and what its verbs share: loading
// the registered clusters (through cluster.Registry) with the Applications
// that target them, and finding one by name or server. The verbs are in
// cluster_add.go, cluster_list.go (list and get) and cluster_rm.go.

// The objects `ferry cluster add` creates on the target cluster, as Argo
// CD's argocd-manager, argocd-manager-role and argocd-manager-role-binding.
const (
	clusterFieldManager   = "ferry"
	clusterRoleName       = "ferry-manager-role"
	clusterRoleBinding    = "ferry-manager-role-binding"
	tokenSecretSuffix     = "-long-lived-token"
	serviceAccountNameKey = "kubernetes.io/service-account.name"
)

// Connection statuses, as Argo CD shows them.
const (
	statusSuccessful = "Successful"
	statusFailed     = "Failed"
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
// The CLI runs no credential plugin, so a Secret with execProviderConfig
// shows as Failed.
func (o *kubeOptions) clusterRegistry(c client.Reader) cluster.Registry {
	return cluster.Registry{Reader: c, Namespace: o.namespace}
}

// clusterEntry is a registered cluster as list and get show it. Only its
// exported fields are printed (JSON and YAML included), and none holds a
// credential: Credentials names the kinds present.
type clusterEntry struct {
	Name             string            `json:"name"`
	Server           string            `json:"server"`
	Secret           string            `json:"secret,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Annotations      map[string]string `json:"annotations,omitempty"`
	Namespaces       []string          `json:"namespaces,omitempty"`
	ClusterResources bool              `json:"clusterResources,omitempty"`
	Project          string            `json:"project,omitempty"`
	Credentials      []string          `json:"credentials"`
	Version          string            `json:"version,omitempty"`
	Status           string            `json:"status"`
	Message          string            `json:"message,omitempty"`
	Applications     []string          `json:"applications"`

	// restConfig reaches the cluster; nil when its Secret is invalid.
	restConfig *rest.Config
}

// loadClusters reads the cluster Secrets of o.namespace, adding the implicit
// in-cluster entry unless a Secret registers it. The in-cluster server is
// reached with the Ferry-side kubeconfig.
func (o *kubeOptions) loadClusters(ctx context.Context, c client.Reader) ([]*clusterEntry, error) {
	registered, err := o.clusterRegistry(c).List(ctx)
	if err != nil {
		return nil, err
	}
	local, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	var entries []*clusterEntry
	hasInCluster := false
	for _, r := range registered {
		e := newClusterEntry(r)
		if e.Server == cluster.InClusterServer {
			hasInCluster, e.restConfig = true, rest.CopyConfig(local)
		}
		entries = append(entries, e)
	}
	if !hasInCluster {
		in := &clusterEntry{Name: cluster.InClusterName, Server: cluster.InClusterServer, Credentials: []string{"Ferry's kubeconfig"}, restConfig: local}
		entries = append([]*clusterEntry{in}, entries...)
	}
	return entries, nil
}

// newClusterEntry shows a registry entry; an invalid Secret becomes a
// Failed entry whose message (from cluster.FromSecret) names the key at
// fault.
func newClusterEntry(r cluster.Entry) *clusterEntry {
	ref := r.Secret.Namespace + "/" + r.Secret.Name
	if r.Err != nil {
		return &clusterEntry{
			Name: r.Name(), Server: r.Server(),
			Secret: ref, Credentials: []string{}, Status: statusFailed, Message: r.Err.Error(),
		}
	}
	cl := r.Cluster
	e := &clusterEntry{
		Name: cl.Name, Server: cl.Server, Secret: ref, Labels: cl.Labels, Annotations: cl.Annotations,
		Namespaces: cl.Namespaces, ClusterResources: cl.ClusterResources, Project: cl.Project,
		Credentials: credentialKinds(cl.Config),
	}
	var err error
	if e.restConfig, err = cl.RESTConfig(); err != nil {
		e.Status, e.Message = statusFailed, err.Error()
	}
	return e
}

// credentialKinds names the kinds of credentials a config holds, never
// their values.
func credentialKinds(c cluster.Config) []string {
	kinds := []string{}
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"bearer token", c.BearerToken != ""},
		{"basic auth", c.Username != "" || c.Password != ""},
		{"client certificate", len(c.TLSClientConfig.CertData) > 0},
		{"exec provider", c.ExecProviderConfig != nil},
		{"CA", len(c.TLSClientConfig.CAData) > 0},
		{"insecure (TLS not verified)", c.TLSClientConfig.Insecure},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	return kinds
}

// countApplications fills each entry's Applications: those of every
// namespace whose destination is its server or its name.
func countApplications(ctx context.Context, c client.Reader, entries []*clusterEntry) error {
	apps := &v1alpha1.ApplicationList{}
	if err := c.List(ctx, apps); err != nil {
		return fmt.Errorf("list Applications of all namespaces: %w", err)
	}
	for _, e := range entries {
		e.Applications = []string{}
		for _, a := range apps.Items {
			if targets(a.Spec.Destination, e) {
				e.Applications = append(e.Applications, a.Namespace+"/"+a.Name)
			}
		}
	}
	return nil
}

// targets reports whether a destination is the entry's cluster.
func targets(d v1alpha1.ApplicationDestination, e *clusterEntry) bool {
	if d.Server != "" {
		return cluster.NormalizeServer(d.Server) == e.Server
	}
	return d.Name != "" && d.Name == e.Name
}

// clusterView loads the clusters and the Applications targeting them.
func (o *kubeOptions) clusterView(ctx context.Context) (client.Client, []*clusterEntry, error) {
	c, err := o.client()
	if err != nil {
		return nil, nil, err
	}
	entries, err := o.loadClusters(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return c, entries, countApplications(ctx, c, entries)
}

// findCluster picks the entry named arg, else the one whose server is arg.
// It searches loaded entries rather than asking the registry, so the
// implicit in-cluster entry is found and a name several Secrets share is
// reported as ambiguous.
func findCluster(entries []*clusterEntry, arg, ns string) (*clusterEntry, error) {
	var byName []*clusterEntry
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
