package appview

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
)

// This file is the cluster view of `ferry cluster list/get` and the web
// UI's Clusters page: the registered clusters (through cluster.Registry)
// with the Applications that target them, each probed with its own
// credentials.

// Connection statuses of a Cluster, as Argo CD shows them.
const (
	ClusterSuccessful = "Successful"
	ClusterFailed     = "Failed"
)

// ClusterProbeTimeout bounds each cluster's /version call.
const ClusterProbeTimeout = 5 * time.Second

// Cluster is a registered cluster as a person sees it. Only its exported
// fields are shown (JSON and YAML included), and none holds a credential:
// Credentials names the kinds present.
type Cluster struct {
	Name   string `json:"name"`
	Server string `json:"server"`
	// Secret is the cluster Secret as namespace/name; empty for the
	// implicit in-cluster entry.
	Secret           string            `json:"secret,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Annotations      map[string]string `json:"annotations,omitempty"`
	Namespaces       []string          `json:"namespaces,omitempty"`
	ClusterResources bool              `json:"clusterResources,omitempty"`
	Project          string            `json:"project,omitempty"`
	Credentials      []string          `json:"credentials"`
	// Version, Status and Message are set by ProbeClusters; Status is
	// already ClusterFailed when the Secret is invalid.
	Version string `json:"version,omitempty"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	// Applications are those targeting the cluster, as namespace/name.
	Applications []string `json:"applications"`

	// restConfig reaches the cluster; nil when its Secret is invalid.
	restConfig *rest.Config
}

// Clusters reads the cluster Secrets of home (Ferry's namespace) through c,
// adding the implicit in-cluster entry unless a Secret registers it, and
// fills each entry's Applications from those of every namespace. The
// in-cluster server is reached with inCluster, the caller's own
// configuration for the cluster Ferry runs in; when it is nil the
// in-cluster entry is not probed. A Secret that does not parse is an entry
// with Status ClusterFailed and a message naming the key at fault, never a
// value of the Secret. Secrets with execProviderConfig show as Failed, as
// no credential plugin is run.
func Clusters(ctx context.Context, c client.Reader, home string, inCluster *rest.Config) ([]*Cluster, error) {
	registered, err := cluster.Registry{Reader: c, Namespace: home}.List(ctx)
	if err != nil {
		return nil, err
	}
	var entries []*Cluster
	hasInCluster := false
	for _, r := range registered {
		e := newCluster(r)
		if e.Server == cluster.InClusterServer {
			hasInCluster, e.restConfig = true, nil
			if inCluster != nil {
				e.restConfig = rest.CopyConfig(inCluster)
			}
		}
		entries = append(entries, e)
	}
	if !hasInCluster {
		in := &Cluster{Name: cluster.InClusterName, Server: cluster.InClusterServer, Credentials: []string{"Ferry's kubeconfig"}, restConfig: inCluster}
		entries = append([]*Cluster{in}, entries...)
	}
	if err := countClusterApplications(ctx, c, entries); err != nil {
		return nil, err
	}
	return entries, nil
}

// newCluster shows a registry entry; an invalid Secret becomes a Failed
// entry whose message (from cluster.FromSecret) names the key at fault.
func newCluster(r cluster.Entry) *Cluster {
	ref := r.Secret.Namespace + "/" + r.Secret.Name
	if r.Err != nil {
		return &Cluster{
			Name: r.Name(), Server: r.Server(),
			Secret: ref, Credentials: []string{}, Status: ClusterFailed, Message: r.Err.Error(),
		}
	}
	cl := r.Cluster
	e := &Cluster{
		Name: cl.Name, Server: cl.Server, Secret: ref, Labels: cl.Labels, Annotations: cl.Annotations,
		Namespaces: cl.Namespaces, ClusterResources: cl.ClusterResources, Project: cl.Project,
		Credentials: clusterCredentialKinds(cl.Config),
	}
	var err error
	if e.restConfig, err = cl.RESTConfig(); err != nil {
		e.Status, e.Message = ClusterFailed, err.Error()
	}
	return e
}

// clusterCredentialKinds names the kinds of credentials a config holds,
// never their values.
func clusterCredentialKinds(c cluster.Config) []string {
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

// countClusterApplications fills each entry's Applications: those of every
// namespace whose destination is its server or its name.
func countClusterApplications(ctx context.Context, c client.Reader, entries []*Cluster) error {
	apps := &v1alpha1.ApplicationList{}
	if err := c.List(ctx, apps); err != nil {
		return fmt.Errorf("list Applications of all namespaces: %w", err)
	}
	for _, e := range entries {
		e.Applications = []string{}
		for _, a := range apps.Items {
			if targetsCluster(a.Spec.Destination, e) {
				e.Applications = append(e.Applications, a.Namespace+"/"+a.Name)
			}
		}
	}
	return nil
}

// targetsCluster reports whether a destination is the entry's cluster.
func targetsCluster(d v1alpha1.ApplicationDestination, e *Cluster) bool {
	if d.Server != "" {
		return cluster.NormalizeServer(d.Server) == e.Server
	}
	return d.Name != "" && d.Name == e.Name
}

// ProbeClusters calls every reachable entry's /version concurrently, each
// with its own credentials within ClusterProbeTimeout, and sets Version,
// Status and Message. Entries that cannot be reached (an invalid Secret)
// are left as they are.
func ProbeClusters(entries []*Cluster) {
	var wg sync.WaitGroup
	for _, e := range entries {
		if e.restConfig == nil {
			continue
		}
		wg.Go(e.probe)
	}
	wg.Wait()
}

// probe calls the entry's /version with its own credentials.
func (e *Cluster) probe() {
	cfg := rest.CopyConfig(e.restConfig)
	cfg.Timeout = ClusterProbeTimeout
	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		e.Status, e.Message = ClusterFailed, err.Error()
		return
	}
	info, err := d.ServerVersion()
	if err != nil {
		e.Status, e.Message = ClusterFailed, err.Error()
		return
	}
	e.Status, e.Version = ClusterSuccessful, info.Major+"."+strings.TrimSuffix(info.Minor, "+")
}
