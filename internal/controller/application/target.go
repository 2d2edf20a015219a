package application

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/diff"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// target is a destination cluster: the clients, watch cache, executor and
// differ an Application's objects are read and written through. The cluster
// Ferry runs in is one; each registered cluster (Argo CD's cluster Secrets
// in the home namespace) gets its own on first use, kept until its Secret
// changes.
type target struct {
	server   string
	version  string // the cluster Secret's resourceVersion it was built from
	direct   client.Client
	cache    cache.Cache
	executor *fsync.Executor
	differ   *diff.Differ
	watcher  *watcher
	stop     context.CancelFunc // stops the watch cache and the probe

	// down is the last connection probe's error; nil while the cluster
	// answers (always nil for the local cluster).
	mu         sync.Mutex
	down       error
	k8sVersion string // the API server's version, from the last good probe
}

// ClusterState is a registered cluster's connection, for metrics.
type ClusterState struct {
	Server, Version string
	Up              bool
}

// Clusters reports the registered clusters Applications used so far.
func (r *Reconciler) Clusters() []ClusterState {
	r.targets.mu.Lock()
	defer r.targets.mu.Unlock()
	out := make([]ClusterState, 0, len(r.targets.byName))
	for _, t := range r.targets.byName {
		t.mu.Lock()
		out = append(out, ClusterState{Server: t.server, Version: t.k8sVersion, Up: t.down == nil})
		t.mu.Unlock()
	}
	return out
}

// probeInterval is how often a registered cluster's API server is asked for
// its version: one request per cluster, however many Applications target
// it, so an outage shows within seconds even when no comparison needs the
// API server (the watch cache would keep answering with stale objects).
const probeInterval = 3 * time.Second

// unreachable returns the last probe's error.
func (t *target) unreachable() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.down
}

// probe asks the API server for its version until ctx ends; recovered is
// called when it answers again after failing.
func (t *target) probe(ctx context.Context, d discovery.ServerVersionInterface, recovered func()) {
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for {
		info, err := d.ServerVersion()
		t.mu.Lock()
		wasDown := t.down != nil
		t.down = err
		if err == nil {
			t.k8sVersion = info.GitVersion
		}
		t.mu.Unlock()
		if wasDown && err == nil {
			recovered()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// remoteTimeout bounds every request to a registered cluster, so one that is
// slow or unreachable holds a reconcile worker for at most this long.
const remoteTimeout = 10 * time.Second

// cached reads an object from the target's watch cache; nil when it does
// not exist.
func (t *target) cached(ctx context.Context, k fsync.Key, version string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(version)
	u.SetKind(k.Kind)
	if err := t.cache.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, u); err != nil {
		return nil
	}
	return u
}

// confirmed reads an object from the target's API server; nil when it does
// not exist.
func (t *target) confirmed(ctx context.Context, k fsync.Key, version string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(version)
	u.SetKind(k.Kind)
	err := t.direct.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, u)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", k, err)
	}
	return u, nil
}

// scope reports whether a kind is namespaced on the target cluster.
func (t *target) scope(gvk schema.GroupVersionKind) (bool, error) {
	return t.direct.IsObjectNamespaced(&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind}})
}

// targets holds the registered clusters' targets.
type targets struct {
	mu      sync.Mutex
	byName  map[string]*target // by server URL
	ctx     context.Context    // the manager's, for the watch caches; set by Start
	started chan struct{}
}

func newTargets() *targets {
	return &targets{byName: map[string]*target{}, started: make(chan struct{})}
}

// Start keeps the manager's context for the remote watch caches (a
// controller-runtime Runnable).
func (ts *targets) Start(ctx context.Context) error {
	ts.mu.Lock()
	ts.ctx = ctx
	close(ts.started)
	ts.mu.Unlock()
	<-ctx.Done()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, t := range ts.byName {
		t.stop()
	}
	return nil
}

// prune stops and forgets the targets of clusters no Secret registers any
// more: their watch caches and probes would otherwise run forever.
func (ts *targets) prune(secrets []corev1.Secret) {
	servers := make(map[string]bool, len(secrets))
	for _, s := range secrets {
		servers[normalizeServer(string(s.Data["server"]))] = true
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for server, t := range ts.byName {
		if !servers[server] {
			t.stop()
			delete(ts.byName, server)
		}
	}
}

// normalizeServer writes a server URL as cluster Secrets' servers are read
// (cluster.FromSecret): trimmed, without a trailing slash.
func normalizeServer(s string) string { return strings.TrimSuffix(strings.TrimSpace(s), "/") }

// destinationError is an Application's destination that is not usable: not
// registered (an invalid spec) or not reachable (a comparison error).
type destinationError struct {
	msg        string
	registered bool
}

func (e *destinationError) Error() string { return e.msg }

// target resolves an Application's destination (server, or name) to its
// target: the local cluster, or a registered one.
func (r *Reconciler) target(ctx context.Context, app *v1alpha1.Application) (*target, error) {
	dest := app.Spec.Destination
	dest.Server = normalizeServer(dest.Server)
	if dest.Server == inClusterServer || (dest.Server == "" && dest.Name == cluster.InClusterName) {
		return r.local, nil
	}
	c, version, err := r.registered(ctx, dest.Server, dest.Name)
	if err != nil {
		return nil, err
	}
	if c == nil {
		what := fmt.Sprintf("spec.destination.server %q", dest.Server)
		if dest.Server == "" {
			what = fmt.Sprintf("spec.destination.name %q", dest.Name)
		}
		return nil, &destinationError{msg: fmt.Sprintf("cluster not registered: %s (register it with ferry cluster add, or an Argo CD cluster Secret in %s)", what, r.opts.HomeNamespace)}
	}
	if c.Server == inClusterServer {
		return r.local, nil // a Secret naming the cluster Ferry runs in (Argo CD's "in-cluster" entry)
	}
	t, err := r.remote(*c, version)
	if err != nil {
		return nil, err
	}
	if err := t.unreachable(); err != nil {
		return nil, &destinationError{msg: fmt.Sprintf("cluster %s is unreachable: %v", c, err), registered: true}
	}
	return t, nil
}

// registered finds the cluster Secret for a server URL or a cluster name.
func (r *Reconciler) registered(ctx context.Context, server, name string) (*cluster.Cluster, string, error) {
	if r.opts.Secrets == nil {
		return nil, "", nil
	}
	list := &corev1.SecretList{}
	if err := r.opts.Secrets.List(ctx, list, client.InNamespace(r.opts.HomeNamespace), client.MatchingLabels{cluster.SecretTypeLabel: "cluster"}); err != nil {
		return nil, "", fmt.Errorf("list cluster Secrets: %w", err)
	}
	r.targets.prune(list.Items)
	for _, s := range list.Items {
		c, err := cluster.FromSecret(s.Name, s.Labels, s.Annotations, s.Data, cluster.Options{AllowExec: r.opts.AllowExecCredentials})
		if err != nil {
			if (server != "" && string(s.Data["server"]) == server) || (server == "" && string(s.Data["name"]) == name) {
				return nil, "", &destinationError{msg: err.Error(), registered: true}
			}
			continue
		}
		if (server != "" && c.Server == server) || (server == "" && c.Name == name) {
			return &c, s.ResourceVersion, nil
		}
	}
	return nil, "", nil
}

// remote returns the target of a registered cluster, building it (clients,
// a watch cache started with the manager's context) on first use or when
// its Secret changed. Building makes no request: discovery is lazy, so an
// unreachable cluster fails on its first request, with remoteTimeout.
func (r *Reconciler) remote(c cluster.Cluster, version string) (*target, error) {
	ts := r.targets
	select {
	case <-ts.started:
	default:
		return nil, &destinationError{msg: "the controller is starting", registered: true}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.byName[c.Server]; ok && t.version == version {
		return t, nil
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, &destinationError{msg: fmt.Sprintf("cluster %s: %v", c, err), registered: true}
	}
	t, err := r.newRemote(ts.ctx, cfg, c.Server, version)
	if err != nil {
		return nil, &destinationError{msg: fmt.Sprintf("cluster %s: %v", c, err), registered: true}
	}
	if old, ok := ts.byName[c.Server]; ok {
		old.stop()
		// Comparisons remembered against the old cache would send the fast
		// path to an empty new one: forget them.
		r.tracker.forgetComparisons()
	}
	ts.byName[c.Server] = t
	return t, nil
}

func (r *Reconciler) newRemote(parent context.Context, cfg *rest.Config, server, version string) (*target, error) {
	cfg.QPS, cfg.Burst = 100, 200
	// The watch cache gets a client without a request timeout: one would
	// cut every watch after it. Requests are bounded by the other.
	watchClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = remoteTimeout
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	scheme := r.direct.Scheme() // the controller's: core kinds (Namespaces) typed, the rest unstructured
	direct, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper, Scheme: scheme})
	if err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{HTTPClient: watchClient, Mapper: mapper, Scheme: scheme,
		DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(parent)
	go func() { _ = c.Start(ctx) }()
	w := newWatcher(c, r.tracker, r.opts.HomeNamespace)
	w.events = r.local.watcher.events // one queue of reconcile requests for every cluster
	w.syncTimeout = remoteTimeout
	t := &target{server: server, version: version, direct: direct, cache: c,
		executor: fsync.NewExecutor(direct, mapper, r.opts.ApplyConcurrency),
		differ:   &diff.Differ{Client: direct, FieldManager: fsync.FieldManager},
		watcher:  w, stop: stop}
	go t.probe(ctx, disc, func() { r.clusterRecovered(ctx, server) }) // first probe at once, outside the targets lock
	return t, nil
}

// clusterRecovered reconciles at once the Applications that reported the
// cluster unreachable (their retry would come only after its backoff).
func (r *Reconciler) clusterRecovered(ctx context.Context, server string) {
	apps := &v1alpha1.ApplicationList{}
	if err := r.client.List(ctx, apps); err != nil {
		return
	}
	for i := range apps.Items {
		app := &apps.Items[i]
		affected := normalizeServer(app.Spec.Destination.Server) == server
		for _, c := range app.Status.Conditions {
			affected = affected || (c.Type == v1alpha1.ApplicationConditionComparisonError && strings.Contains(c.Message, server))
		}
		if !affected {
			continue
		}
		if !r.local.watcher.enqueue(ctx, appKey(app)) {
			return
		}
	}
}
