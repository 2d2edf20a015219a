package cli

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
)

// The objects `ferry cluster add` creates on the target cluster, as Argo
// CD's argocd-manager, argocd-manager-role and argocd-manager-role-binding.
const (
	clusterFieldManager   = "ferry"
	clusterRoleName       = "ferry-manager-role"
	clusterRoleBinding    = "ferry-manager-role-binding"
	tokenSecretSuffix     = "-long-lived-token"
	serviceAccountNameKey = "kubernetes.io/service-account.name"
)

// Timeouts of the cluster commands.
const (
	// tokenWait bounds the wait for the token controller to fill the token
	// Secret.
	tokenWait = 30 * time.Second
	// probeTimeout bounds each cluster's /version call.
	probeTimeout = 5 * time.Second
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

// clusterAddOptions are the flags of `ferry cluster add`.
type clusterAddOptions struct {
	name, targetKubeconfig, serviceAccount, systemNamespace string
	labels, annotations                                     []string
	upsert                                                  bool
}

func newClusterAddCmd(o *kubeOptions) *cobra.Command {
	a := &clusterAddOptions{}
	cmd := &cobra.Command{
		Use:   "add CONTEXT",
		Short: "Register the cluster of a kubeconfig context, with a ServiceAccount made for Ferry",
		Long: `Register the cluster of a kubeconfig context, as argocd cluster add does.

On the target cluster it creates (server-side apply, idempotent) a
ServiceAccount, the ClusterRole ferry-manager-role, the ClusterRoleBinding
ferry-manager-role-binding and a long-lived token Secret for the
ServiceAccount. It then stores the cluster, with that token, as an Argo CD
cluster Secret in Ferry's namespace of the --kubeconfig/--context cluster.`,
		Example: "  ferry cluster add kind-prod --name prod-us-east --label environment=production\n  ferry cluster add prod --target-kubeconfig ~/.kube/prod.yaml --upsert",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.run(cmd.Context(), cmd.OutOrStdout(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.name, "name", "", "cluster name (default: the context's name)")
	f.StringArrayVar(&a.labels, "label", nil, "label of the cluster Secret, key=value (repeatable)")
	f.StringArrayVar(&a.annotations, "annotation", nil, "annotation of the cluster Secret, key=value (repeatable)")
	f.BoolVar(&a.upsert, "upsert", false, "replace the cluster Secret if the cluster is registered with other settings")
	f.StringVar(&a.targetKubeconfig, "target-kubeconfig", "", "kubeconfig holding CONTEXT (default: the --kubeconfig one)")
	f.StringVar(&a.serviceAccount, "service-account", "ferry-manager", "ServiceAccount to create on the target cluster")
	f.StringVar(&a.systemNamespace, "system-namespace", "kube-system", "namespace of the ServiceAccount on the target cluster")
	return cmd
}

// run registers the cluster of context.
func (a *clusterAddOptions) run(ctx context.Context, w io.Writer, o *kubeOptions, contextName string) error {
	labels, err := parsePairs("--label", a.labels)
	if err != nil {
		return err
	}
	annotations, err := parsePairs("--annotation", a.annotations)
	if err != nil {
		return err
	}
	kubeconfig := a.targetKubeconfig
	if kubeconfig == "" {
		kubeconfig = o.kubeconfig
	}
	target, err := contextConfig(kubeconfig, contextName)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	cl := cluster.Cluster{Name: orDefault(a.name, contextName), Server: normalizeServer(target.Host), Labels: labels, Annotations: annotations}
	// Check the Ferry side first, so a name clash fails before the target
	// cluster is touched.
	existing, err := registeredSecret(ctx, c, o.namespace, cl.Server, cl.Name)
	if err != nil {
		return err
	}
	if existing != nil && !a.upsert && !sameSettings(existing, cl) {
		return errRegistered(existing, cl.Server)
	}
	token, ca, err := a.ensureServiceAccount(ctx, w, target, contextName)
	if err != nil {
		return err
	}
	cl.Config = targetClusterConfig(target, token, ca)
	return storeClusterSecret(ctx, w, c, o.namespace, cl, existing, a.upsert)
}

// orDefault returns s, or fallback when s is empty.
func orDefault(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

// parsePairs parses repeated key=value flag values.
func parsePairs(flag string, values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(values))
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s %q: want key=value", flag, v)
		}
		out[strings.TrimSpace(k)] = val
	}
	return out, nil
}

// contextConfig loads one context of a kubeconfig ("" is the default
// loading chain), with CA and client certificate files read into data.
func contextConfig(kubeconfig, contextName string) (*rest.Config, error) {
	where := "kubeconfig " + kubeconfig
	if kubeconfig == "" {
		where = "the default kubeconfig ($KUBECONFIG or ~/.kube/config)"
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", where, err)
	}
	if _, ok := raw.Contexts[contextName]; !ok {
		names := slices.Sorted(maps.Keys(raw.Contexts))
		return nil, fmt.Errorf("context %q not found in %s (contexts: %s)", contextName, where, orNone(strings.Join(names, ", ")))
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, contextName, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context %q of %s: %w", contextName, where, err)
	}
	if err := rest.LoadTLSFiles(cfg); err != nil {
		return nil, fmt.Errorf("context %q of %s: %w", contextName, where, err)
	}
	return cfg, nil
}

// targetClusterConfig is the cluster config Ferry uses: the ServiceAccount's
// token, and the kubeconfig's CA (or TLS settings) in preference to the
// token Secret's ca.crt.
func targetClusterConfig(target *rest.Config, token, ca []byte) cluster.Config {
	tls := cluster.TLSClientConfig{Insecure: target.Insecure, ServerName: target.ServerName}
	if !tls.Insecure {
		tls.CAData = bytes.Clone(target.CAData)
		if len(tls.CAData) == 0 {
			tls.CAData = bytes.Clone(ca)
		}
	}
	return cluster.Config{BearerToken: string(token), TLSClientConfig: tls}
}

// ensureServiceAccount applies the ServiceAccount, ClusterRole,
// ClusterRoleBinding and token Secret on the target cluster, printing a line
// for each, and returns the token and CA once the token controller has
// filled the Secret.
func (a *clusterAddOptions) ensureServiceAccount(ctx context.Context, w io.Writer, target *rest.Config, contextName string) (token, ca []byte, err error) {
	cs, err := kubernetes.NewForConfig(target)
	if err != nil {
		return nil, nil, fmt.Errorf("context %q: %w", contextName, err)
	}
	for _, step := range a.applySteps(cs) {
		result, err := step.run(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("context %q: apply %s %s: %w", contextName, step.kind, step.name, err)
		}
		fmt.Fprintf(w, "%s %s %s\n", step.kind, step.name, result)
	}
	return waitForToken(ctx, cs, a.systemNamespace, a.serviceAccount+tokenSecretSuffix)
}

// applyStep is one object server-side applied on the target cluster.
type applyStep struct {
	// kind and name (namespace/name when namespaced) are for messages.
	kind, name string
	// get and apply return the object's resourceVersion.
	get, apply func(context.Context) (string, error)
}

// run applies the object and says what that did: created, configured or
// unchanged.
func (s applyStep) run(ctx context.Context) (string, error) {
	before, err := s.get(ctx)
	if err != nil && !apierrors.IsNotFound(err) {
		return "", err
	}
	existed := err == nil
	after, err := s.apply(ctx)
	switch {
	case err != nil:
		return "", err
	case !existed:
		return "created", nil
	case before == after:
		return "unchanged", nil
	}
	return "configured", nil
}

// applySteps are the four objects of the target cluster, in dependency
// order.
func (a *clusterAddOptions) applySteps(cs kubernetes.Interface) []applyStep {
	ns, sa := a.systemNamespace, a.serviceAccount
	secret := sa + tokenSecretSuffix
	sas, secrets := cs.CoreV1().ServiceAccounts(ns), cs.CoreV1().Secrets(ns)
	roles, bindings := cs.RbacV1().ClusterRoles(), cs.RbacV1().ClusterRoleBindings()
	return []applyStep{
		newApplyStep("ServiceAccount", ns+"/"+sa, sa, sas.Get, sas.Apply, corev1ac.ServiceAccount(sa, ns)),
		newApplyStep("ClusterRole", clusterRoleName, clusterRoleName, roles.Get, roles.Apply, managerRole()),
		newApplyStep("ClusterRoleBinding", clusterRoleBinding, clusterRoleBinding, bindings.Get, bindings.Apply, managerRoleBinding(ns, sa)),
		newApplyStep("Secret", ns+"/"+secret, secret, secrets.Get, secrets.Apply, tokenSecret(ns, sa)),
	}
}

// newApplyStep makes an applyStep of a typed client's Get and Apply: it
// reads key and applies cfg with field manager "ferry", forcing ownership.
func newApplyStep[T metav1.Object, C any](kind, name, key string,
	get func(context.Context, string, metav1.GetOptions) (T, error),
	apply func(context.Context, C, metav1.ApplyOptions) (T, error), cfg C,
) applyStep {
	opts := metav1.ApplyOptions{FieldManager: clusterFieldManager, Force: true}
	return applyStep{
		kind: kind, name: name,
		get:   func(ctx context.Context) (string, error) { return rv(get(ctx, key, metav1.GetOptions{})) },
		apply: func(ctx context.Context) (string, error) { return rv(apply(ctx, cfg, opts)) },
	}
}

// rv returns an object's resourceVersion, or the error that came with it.
func rv[T metav1.Object](obj T, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return obj.GetResourceVersion(), nil
}

// managerRole is ferry-manager-role: everything, as argocd-manager-role.
func managerRole() *rbacv1ac.ClusterRoleApplyConfiguration {
	return rbacv1ac.ClusterRole(clusterRoleName).WithRules(
		rbacv1ac.PolicyRule().WithAPIGroups("*").WithResources("*").WithVerbs("*"),
		rbacv1ac.PolicyRule().WithNonResourceURLs("*").WithVerbs("*"),
	)
}

// managerRoleBinding binds ferry-manager-role to the ServiceAccount.
func managerRoleBinding(ns, sa string) *rbacv1ac.ClusterRoleBindingApplyConfiguration {
	return rbacv1ac.ClusterRoleBinding(clusterRoleBinding).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(clusterRoleName)).
		WithSubjects(rbacv1ac.Subject().WithKind(rbacv1.ServiceAccountKind).WithNamespace(ns).WithName(sa))
}

// tokenSecret asks the token controller for a long-lived token of the
// ServiceAccount.
func tokenSecret(ns, sa string) *corev1ac.SecretApplyConfiguration {
	return corev1ac.Secret(sa+tokenSecretSuffix, ns).
		WithType(corev1.SecretTypeServiceAccountToken).
		WithAnnotations(map[string]string{serviceAccountNameKey: sa})
}

// waitForToken polls the token Secret until the token controller has set
// data.token and data["ca.crt"], at most tokenWait.
func waitForToken(ctx context.Context, cs kubernetes.Interface, ns, name string) (token, ca []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, tokenWait)
	defer cancel()
	for {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil && len(s.Data[corev1.ServiceAccountTokenKey]) > 0 && len(s.Data[corev1.ServiceAccountRootCAKey]) > 0:
			return s.Data[corev1.ServiceAccountTokenKey], s.Data[corev1.ServiceAccountRootCAKey], nil
		case apierrors.IsNotFound(err):
			return nil, nil, fmt.Errorf("Secret %s/%s was deleted while waiting for its token (did the ServiceAccount change?); run cluster add again", ns, name)
		case err != nil && ctx.Err() == nil:
			return nil, nil, fmt.Errorf("read Secret %s/%s: %w", ns, name, err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("Secret %s/%s: the token controller did not fill data.token and data[\"ca.crt\"] within %s (is kube-controller-manager running?)", ns, name, tokenWait)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// clusterSecretName is Argo CD's URIToSecretName("cluster", server):
// cluster-<host>-<fnv32a of the server URL>, the host without its port
// (IPv6 colons become dashes).
func clusterSecretName(server string) (string, error) {
	u, err := url.ParseRequestURI(server)
	if err != nil {
		return "", fmt.Errorf("server %s: %w", server, err)
	}
	host := u.Host
	if strings.HasPrefix(host, "[") {
		if end := strings.Index(host, "]"); end >= 0 {
			addr, err := netip.ParseAddr(host[1:end])
			if err != nil {
				return "", fmt.Errorf("server %s: %w", server, err)
			}
			host = strings.ReplaceAll(addr.String(), ":", "-")
		}
	} else if i := strings.Index(host, ":"); i >= 0 {
		host = host[:i]
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(server))
	return fmt.Sprintf("cluster-%s-%d", strings.ToLower(host), h.Sum32()), nil
}

// storeClusterSecret writes the cluster's Secret in ns: created when
// existing is nil, unchanged when existing already holds it, replaced with
// upsert, an error otherwise.
func storeClusterSecret(ctx context.Context, w io.Writer, c client.Client, ns string, cl cluster.Cluster, existing *corev1.Secret, upsert bool) error {
	data, labels, err := cluster.ToSecretData(cl)
	if err != nil {
		return err
	}
	s, result := existing, "replaced"
	switch {
	case existing == nil:
		name, err := clusterSecretName(cl.Server)
		if err != nil {
			return err
		}
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeOpaque}
		result = "created"
	case sameClusterSecret(existing, data, labels, cl.Annotations):
		result = "unchanged"
	case !upsert:
		return errRegistered(existing, cl.Server)
	}
	s.Data, s.Labels, s.Annotations = data, labels, cl.Annotations
	switch result {
	case "created":
		err = c.Create(ctx, s)
	case "replaced":
		err = c.Update(ctx, s)
	}
	if err != nil {
		return fmt.Errorf("write Secret %s/%s: %w", ns, s.Name, err)
	}
	fmt.Fprintf(w, "Secret %s/%s %s\n", ns, s.Name, result)
	fmt.Fprintf(w, "Cluster '%s' added as %s\n", cl.Server, string(data["name"]))
	return nil
}

// errRegistered is the error for a Secret registering server with other
// settings, when --upsert is not set.
func errRegistered(existing *corev1.Secret, server string) error {
	return fmt.Errorf("cluster %s already registered as %s (Secret %s/%s); pass --upsert to replace it",
		server, orDefault(strings.TrimSpace(string(existing.Data["name"])), server), existing.Namespace, existing.Name)
}

// sameSettings reports whether s holds cl's settings other than the
// credentials (which are known only after the target cluster is set up):
// add checks it before touching the target cluster.
func sameSettings(s *corev1.Secret, cl cluster.Cluster) bool {
	cl.Config = cluster.Config{}
	data, labels, err := cluster.ToSecretData(cl)
	if err != nil {
		return true // storeClusterSecret reports it
	}
	stored := maps.Clone(s.Data)
	delete(stored, "config")
	delete(data, "config")
	return sameClusterSecret(&corev1.Secret{ObjectMeta: s.ObjectMeta, Data: stored}, data, labels, cl.Annotations)
}

// registeredSecret returns the cluster Secret of server in ns (nil when
// there is none). A name used by another server, the implicit in-cluster
// one included, is an error.
func registeredSecret(ctx context.Context, c client.Client, ns, server, name string) (*corev1.Secret, error) {
	if name == cluster.InClusterName && server != cluster.InClusterServer {
		return nil, fmt.Errorf("cluster name %q is reserved for %s; pass another --name", name, cluster.InClusterServer)
	}
	secrets, err := listClusterSecrets(ctx, c, ns)
	if err != nil {
		return nil, err
	}
	var found *corev1.Secret
	for i := range secrets {
		s := &secrets[i]
		switch secretServer := normalizeServer(string(s.Data["server"])); {
		case secretServer == server:
			found = s
		case strings.TrimSpace(string(s.Data["name"])) == name:
			return nil, fmt.Errorf("cluster name %q is already used by %s (Secret %s/%s); pass another --name", name, secretServer, s.Namespace, s.Name)
		}
	}
	return found, nil
}

// sameClusterSecret reports whether s already holds data, labels and
// annotations.
func sameClusterSecret(s *corev1.Secret, data map[string][]byte, labels, annotations map[string]string) bool {
	return maps.EqualFunc(s.Data, data, bytes.Equal) && maps.Equal(s.Labels, labels) && maps.Equal(s.Annotations, annotations)
}

// normalizeServer trims spaces and trailing slashes, as cluster.FromSecret
// does.
func normalizeServer(s string) string {
	return strings.TrimRight(strings.TrimSpace(s), "/")
}

// listClusterSecrets returns the cluster Secrets of ns.
func listClusterSecrets(ctx context.Context, c client.Client, ns string) ([]corev1.Secret, error) {
	list := &corev1.SecretList{}
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{cluster.SecretTypeLabel: "cluster"}); err != nil {
		return nil, fmt.Errorf("list cluster Secrets in namespace %s: %w", ns, err)
	}
	return list.Items, nil
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
func (o *kubeOptions) loadClusters(ctx context.Context, c client.Client) ([]*clusterEntry, error) {
	secrets, err := listClusterSecrets(ctx, c, o.namespace)
	if err != nil {
		return nil, err
	}
	local, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	var entries []*clusterEntry
	hasInCluster := false
	for i := range secrets {
		e := entryFromSecret(&secrets[i])
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

// entryFromSecret reads a cluster Secret; an invalid one becomes a Failed
// entry whose message (from cluster.FromSecret) names the key at fault.
func entryFromSecret(s *corev1.Secret) *clusterEntry {
	ref := s.Namespace + "/" + s.Name
	cl, err := cluster.FromSecret(s.Name, s.Labels, s.Annotations, s.Data, cluster.Options{})
	if err != nil {
		return &clusterEntry{
			Name: strings.TrimSpace(string(s.Data["name"])), Server: normalizeServer(string(s.Data["server"])),
			Secret: ref, Credentials: []string{}, Status: statusFailed, Message: err.Error(),
		}
	}
	e := &clusterEntry{
		Name: cl.Name, Server: cl.Server, Secret: ref, Labels: cl.Labels, Annotations: cl.Annotations,
		Namespaces: cl.Namespaces, ClusterResources: cl.ClusterResources, Project: cl.Project,
		Credentials: credentialKinds(cl.Config),
	}
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

// probeClusters calls every reachable entry's /version concurrently, each
// within probeTimeout, and sets Version, Status and Message.
func probeClusters(entries []*clusterEntry) {
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
func (e *clusterEntry) probe() {
	cfg := rest.CopyConfig(e.restConfig)
	cfg.Timeout = probeTimeout
	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		e.Status, e.Message = statusFailed, err.Error()
		return
	}
	info, err := d.ServerVersion()
	if err != nil {
		e.Status, e.Message = statusFailed, err.Error()
		return
	}
	e.Status, e.Version = statusSuccessful, info.Major+"."+strings.TrimSuffix(info.Minor, "+")
}

// countApplications fills each entry's Applications: those of every
// namespace whose destination is its server or its name.
func countApplications(ctx context.Context, c client.Client, entries []*clusterEntry) error {
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
		return normalizeServer(d.Server) == e.Server
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
			probeClusters(entries)
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
func printClusterList(w io.Writer, entries []*clusterEntry, wide bool) error {
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
			probeClusters([]*clusterEntry{e})
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
func printCluster(w io.Writer, e *clusterEntry) error {
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

// findCluster picks the entry named arg, else the one whose server is arg.
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
	for _, e := range entries {
		if e.Server == normalizeServer(arg) {
			return e, nil
		}
	}
	return nil, fmt.Errorf("cluster %q not found: no cluster Secret in namespace %s has that name or server", arg, ns)
}

func newClusterRmCmd(o *kubeOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NAME|SERVER",
		Aliases: []string{"remove", "delete"},
		Short:   "Unregister a cluster (delete its Secret); its ServiceAccount stays on the cluster",
		Example: "  ferry cluster rm prod-us-east\n  ferry cluster rm https://10.0.0.1:6443 --force",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, entries, err := o.clusterView(cmd.Context())
			if err != nil {
				return err
			}
			e, err := findCluster(entries, args[0], o.namespace)
			if err != nil {
				return err
			}
			if err := removeCluster(cmd.Context(), c, e, force); err != nil {
				return err
			}
			printRemoved(cmd.OutOrStdout(), e)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove the cluster even while Applications target it")
	return cmd
}

// removeCluster deletes the entry's Secret, refusing while Applications
// target it unless force.
func removeCluster(ctx context.Context, c client.Client, e *clusterEntry, force bool) error {
	if e.Secret == "" {
		return fmt.Errorf("cluster %s (%s) has no Secret: the in-cluster entry is implicit and cannot be removed", e.Name, e.Server)
	}
	if n := len(e.Applications); n > 0 && !force {
		return fmt.Errorf("%d Applications target %s: %s; move them or pass --force", n, e.Server, strings.Join(e.Applications, ", "))
	}
	ns, name, _ := strings.Cut(e.Secret, "/")
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := c.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Secret %s: %w", e.Secret, err)
	}
	return nil
}

// printRemoved confirms the removal and says what was left on the cluster.
func printRemoved(w io.Writer, e *clusterEntry) {
	fmt.Fprintf(w, "Cluster '%s' removed\n", e.Server)
	fmt.Fprintf(w, "The ServiceAccount, its token Secret, %s and %s that `ferry cluster add` created on the cluster are left in place (by default in kube-system); delete them there to revoke the token.\n",
		clusterRoleName, clusterRoleBinding)
}

// completeClusters completes cluster names for shell completion.
func (o *kubeOptions) completeClusters(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	c, err := o.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	secrets, err := listClusterSecrets(cmd.Context(), c, o.namespace)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var names []cobra.Completion
	for _, s := range secrets {
		if name := strings.TrimSpace(string(s.Data["name"])); name != "" && strings.HasPrefix(name, toComplete) {
			names = append(names, name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
