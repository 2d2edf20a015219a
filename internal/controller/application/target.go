package application

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/diff"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// target is a destination cluster as the Application controller uses it:
// the clients and watch cache (the local cluster's, or a pooled connection
// to a registered one), with the watcher, executor and differ built on
// them. It implements appstate.Cluster.
type target struct {
	server   string
	name     string        // the registered name ("in-cluster" for the local cluster)
	project  string        // the project the cluster Secret is scoped to, if any
	conn     *cluster.Conn // nil for the local cluster
	direct   client.Client
	cache    cache.Cache
	executor *fsync.Executor
	differ   *diff.Differ
	watcher  *watcher

	// For syncs that impersonate a ServiceAccount (a project's
	// destinationServiceAccounts): the configuration and mapper to build
	// their clients on, and the executors built so far, by account.
	config           *rest.Config
	mapper           meta.RESTMapper
	applyConcurrency int
	mu               sync.Mutex
	impersonating    map[string]*fsync.Executor
	disco            discovery.CachedDiscoveryInterface // for the orphaned-objects report and capabilities; built on first use

	capsMu  sync.Mutex
	caps    *appstate.Capabilities // what charts see of the cluster (capabilities.go)
	capsAt  time.Time
	capsKey string // a hash of caps, for comparisons' inputs
	// capsErr is the last failed discovery, tried again capabilitiesRetry
	// after capsErrAt.
	capsErr   error
	capsErrAt time.Time
}

// executorAs returns an executor whose every request impersonates the
// ServiceAccount namespace/name, so Kubernetes RBAC decides what the sync
// may do, as Argo CD's sync impersonation does. Built once per account.
func (t *target) executorAs(namespace, name string) (*fsync.Executor, error) {
	user := "system:serviceaccount:" + namespace + ":" + name // Kubernetes' user name of a ServiceAccount
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.impersonating[user]; ok {
		return e, nil
	}
	cfg := rest.CopyConfig(t.config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: t.direct.Scheme(), Mapper: t.mapper})
	if err != nil {
		return nil, fmt.Errorf("client impersonating %s: %w", user, err)
	}
	if t.impersonating == nil {
		t.impersonating = map[string]*fsync.Executor{}
	}
	e := fsync.NewExecutor(c, t.mapper, t.applyConcurrency)
	t.impersonating[user] = e
	return e, nil
}

var _ appstate.Cluster = (*target)(nil)

// Watch starts watching gvk if nothing does yet.
func (t *target) Watch(ctx context.Context, gvk schema.GroupVersionKind) error {
	return t.watcher.ensure(ctx, gvk)
}

// Cached reads an object from the target's watch cache; nil when it does
// not exist.
func (t *target) Cached(ctx context.Context, k fsync.Key, version string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(version)
	u.SetKind(k.Kind)
	if err := t.cache.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, u); err != nil {
		return nil
	}
	return u
}

// Confirmed reads an object from the target's API server; nil when it does
// not exist.
func (t *target) Confirmed(ctx context.Context, k fsync.Key, version string) (*unstructured.Unstructured, error) {
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

// Diff compares a desired object with the live one (server-side dry-run).
func (t *target) Diff(ctx context.Context, desired *unstructured.Unstructured, ig *diff.Ignorer) (diff.Result, error) {
	return t.differ.Diff(ctx, desired, ig)
}

// scope reports whether a kind is namespaced on the target cluster.
func (t *target) scope(gvk schema.GroupVersionKind) (bool, error) {
	return t.direct.IsObjectNamespaced(&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind}})
}

// ClusterState is a registered cluster's connection, for metrics.
type ClusterState = cluster.State

// Clusters reports the registered clusters Applications used so far.
func (r *Reconciler) Clusters() []ClusterState { return r.pool.States() }

// remotes holds the targets built on the pool's connections.
type remotes struct {
	mu     sync.Mutex
	byConn map[*cluster.Conn]*target
}

// errUnreachable marks a registered cluster whose API server does not
// answer: retryable.
var errUnreachable = errors.New("unreachable")

// target resolves an Application's destination (server, or name) to its
// target: the local cluster, or a registered one. A destination no Secret
// registers is a stalled error (the spec must change, or a cluster be
// registered, which wakes the Application); an unreachable one is
// retryable.
func (r *Reconciler) target(ctx context.Context, app *v1alpha1.Application) (*target, error) {
	dest := app.Spec.Destination
	dest.Server = cluster.NormalizeServer(dest.Server)
	if dest.Server == cluster.InClusterServer || (dest.Server == "" && dest.Name == cluster.InClusterName) {
		return r.local, nil
	}
	var e *cluster.Entry
	if r.registry.Reader != nil {
		entries, err := r.registry.List(ctx)
		if err != nil {
			return nil, err
		}
		r.remotes.forget(r.pool.Prune(entries))
		e = cluster.Lookup(entries, dest.Server, dest.Name)
	}
	if e == nil {
		what := fmt.Sprintf("spec.destination.server %q", dest.Server)
		if dest.Server == "" {
			what = fmt.Sprintf("spec.destination.name %q", dest.Name)
		}
		return nil, appstate.Stall(appstate.ReasonDestinationNotRegistered, fmt.Errorf(
			"cluster not registered: %s (register it with ferry cluster add, or an Argo CD cluster Secret in %s)", what, r.opts.HomeNamespace))
	}
	if e.Err != nil {
		return nil, e.Err // retried: a Secret being fixed
	}
	if e.Cluster.Server == cluster.InClusterServer {
		return r.local, nil // a Secret naming the cluster Ferry runs in (Argo CD's "in-cluster" entry)
	}
	conn, replaced, err := r.pool.Connect(e.Cluster, e.Secret.ResourceVersion)
	if err != nil {
		return nil, err
	}
	if replaced {
		// Comparisons remembered against the old cache would send the fast
		// path to an empty new one: forget them.
		r.tracker.forgetComparisons()
	}
	if err := conn.Unreachable(); err != nil {
		return nil, fmt.Errorf("cluster %s is %w: %v", e.Cluster, errUnreachable, err)
	}
	return r.remote(conn, e), nil
}

// remote returns the target built on conn, building it on first use.
func (r *Reconciler) remote(conn *cluster.Conn, e *cluster.Entry) *target {
	r.remotes.mu.Lock()
	defer r.remotes.mu.Unlock()
	if t, ok := r.remotes.byConn[conn]; ok {
		return t
	}
	for c := range r.remotes.byConn {
		if c.Server == conn.Server {
			delete(r.remotes.byConn, c) // replaced: its cache is stopped
		}
	}
	w := newWatcher(conn.Cache, r.tracker, r.opts.HomeNamespace)
	w.events = r.local.watcher.events // one queue of reconcile requests for every cluster
	w.syncTimeout = cluster.RequestTimeout
	t := &target{server: conn.Server, name: e.Cluster.Name, project: e.Cluster.Project, conn: conn, direct: conn.Direct, cache: conn.Cache,
		config: conn.Config, mapper: conn.Mapper, applyConcurrency: r.opts.ApplyConcurrency,
		executor: fsync.NewExecutor(conn.Direct, conn.Mapper, r.opts.ApplyConcurrency),
		differ:   &diff.Differ{Client: conn.Direct, Cache: conn.Cache, FieldManager: fsync.FieldManager},
		watcher:  w}
	r.remotes.byConn[conn] = t
	return t
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
		affected := cluster.NormalizeServer(app.Spec.Destination.Server) == server
		for _, c := range app.Status.Conditions {
			affected = affected || (c.Type == v1alpha1.ApplicationConditionComparisonError && strings.Contains(c.Message, server))
		}
		if !affected {
			continue
		}
		if !r.local.watcher.enqueue(ctx, appstate.Key(app)) {
			return
		}
	}
}

// forget drops the targets built on connections the pool stopped.
func (rs *remotes) forget(stopped []*cluster.Conn) {
	if len(stopped) == 0 {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, c := range stopped {
		delete(rs.byConn, c)
	}
}
