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
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/cluster"
)

// tokenWait bounds the wait for the token controller to fill the token
// Secret.
const tokenWait = 30 * time.Second

// clusterAddOptions are the flags of `ferry cluster add`.
type clusterAddOptions struct {
	name, targetKubeconfig, serviceAccount, systemNamespace string
	labels, annotations                                     []string
	upsert                                                  bool
}

// newClusterAddCmd is `ferry cluster add`.
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
	cl := cluster.Cluster{Name: orDefault(a.name, contextName), Server: cluster.NormalizeServer(target.Host), Labels: labels, Annotations: annotations}
	// Check the Ferry side first, so a name clash fails before the target
	// cluster is touched.
	existing, err := o.registeredCluster(ctx, c, cl.Server, cl.Name)
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
// existing is nil, unchanged when existing's Secret already holds it,
// replaced with upsert, an error otherwise.
func storeClusterSecret(ctx context.Context, w io.Writer, c client.Client, ns string, cl cluster.Cluster, existing *cluster.Entry, upsert bool) error {
	data, labels, err := cluster.ToSecretData(cl)
	if err != nil {
		return err
	}
	var s *corev1.Secret
	if existing != nil {
		s = existing.Secret
	}
	result := "replaced"
	switch {
	case s == nil:
		name, err := clusterSecretName(cl.Server)
		if err != nil {
			return err
		}
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeOpaque}
		result = "created"
	case sameClusterSecret(s, data, labels, cl.Annotations):
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
func errRegistered(existing *cluster.Entry, server string) error {
	return fmt.Errorf("cluster %s already registered as %s (Secret %s/%s); pass --upsert to replace it",
		server, orDefault(existing.Name(), server), existing.Secret.Namespace, existing.Secret.Name)
}

// sameSettings reports whether e's Secret holds cl's settings other than
// the credentials (which are known only after the target cluster is set
// up): add checks it before touching the target cluster.
func sameSettings(e *cluster.Entry, cl cluster.Cluster) bool {
	s := e.Secret
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

// registeredCluster returns the registry entry of server (nil when no
// Secret registers it). A name used by another server, the implicit
// in-cluster one included, is an error. It reads every entry rather than
// asking Registry.Find twice, so a name clash is found even when the
// server's own Secret shares the name.
func (o *kubeOptions) registeredCluster(ctx context.Context, c client.Reader, server, name string) (*cluster.Entry, error) {
	if name == cluster.InClusterName && server != cluster.InClusterServer {
		return nil, fmt.Errorf("cluster name %q is reserved for %s; pass another --name", name, cluster.InClusterServer)
	}
	entries, err := o.clusterRegistry(c).List(ctx)
	if err != nil {
		return nil, err
	}
	var found *cluster.Entry
	for i := range entries {
		e := &entries[i]
		switch {
		case e.Server() == server:
			found = e
		case e.Name() == name:
			return nil, fmt.Errorf("cluster name %q is already used by %s (Secret %s/%s); pass another --name", name, e.Server(), e.Secret.Namespace, e.Secret.Name)
		}
	}
	return found, nil
}

// sameClusterSecret reports whether s already holds data, labels and
// annotations.
func sameClusterSecret(s *corev1.Secret, data map[string][]byte, labels, annotations map[string]string) bool {
	return maps.EqualFunc(s.Data, data, bytes.Equal) && maps.Equal(s.Labels, labels) && maps.Equal(s.Annotations, annotations)
}
