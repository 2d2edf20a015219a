package application

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/diff"
	"github.com/ferrycd/ferry/internal/metrics"
	"github.com/ferrycd/ferry/internal/redact"
	"github.com/ferrycd/ferry/internal/render"
	"github.com/ferrycd/ferry/internal/shard"
	gitsource "github.com/ferrycd/ferry/internal/source"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Options tune the controller.
type Options struct {
	// PollInterval is how often each Application's source is checked for a
	// new revision (one ref listing per repository per interval, however
	// many Applications share it). Default 1m.
	PollInterval time.Duration
	// HomeNamespace is the namespace whose Applications are tracked by bare
	// name, as Argo CD's control-plane namespace. Default "argocd".
	HomeNamespace string
	// Concurrency is how many Applications reconcile at once. Default 16.
	Concurrency int
	// ApplyConcurrency is how many objects one sync applies at once. Default 4.
	ApplyConcurrency int
	// WaveTimeout bounds the wait for one sync wave to become healthy and
	// its hooks to finish; a wave that takes longer fails the sync. Default
	// 5m. Argo CD waits without bound; a bound turns a stuck rollout into a
	// reported failure (and SyncFail hooks) instead of a sync that never ends.
	WaveTimeout time.Duration
	// SelfHealDelay is how long a drift must have been seen before selfHeal
	// syncs it away (as Argo CD's --self-heal-timeout-seconds spaces its
	// self-heals): drift in bursts is healed once, and can be seen before it
	// is. Only a self-heal waits (the revision is synced and only drift asks
	// for a sync); a new revision, a retry or a requested sync never does.
	// The time is remembered in memory, per Application, from the first
	// reconcile that sees the drift until it is in sync again or a sync
	// runs; a restart or a shard hand-over starts the wait again. Default 0:
	// heal at once.
	SelfHealDelay time.Duration
	// Charts, when set, serves chart sources (Helm repositories, OCI
	// registries) and the dependencies of charts in Git; without it they
	// fail with a condition saying so.
	Charts appstate.Charts
	// Metrics, when set, count syncs, reconciles, drift, renders and applies.
	Metrics *metrics.Metrics
	// Notifier, when set, is told of each reconcile's status change.
	Notifier Notifier
	// Secrets reads the home namespace's Secrets (a watch cache): the
	// cluster Secrets registering destinations other than the local
	// cluster. Nil: only the local cluster is a destination.
	Secrets client.Reader
	// AllowExecCredentials accepts cluster Secrets whose config runs a
	// program for credentials (execProviderConfig).
	AllowExecCredentials bool
	// ApplicationNamespaces are globs of the namespaces besides
	// HomeNamespace whose Applications are reconciled (their project must
	// allow the namespace too). Applications elsewhere are ignored, with one
	// event each.
	ApplicationNamespaces []string
	// RenderCacheMaxBytes bounds the renders remembered, by an estimate
	// of their size. Default appstate.DefaultRenderCacheMaxBytes.
	RenderCacheMaxBytes int64
	// Shards, when set, says which Applications this replica owns
	// (internal/shard); the controller then runs on every replica, not
	// only the leader. Nil: every Application.
	Shards shard.Gate
}

// Notifier learns an Application's state, to notify about it: after each
// reconcile, when a sync starts, and while it is deleted.
type Notifier interface {
	// Observe evaluates the notification triggers against app; drift names
	// the objects this reconcile found changed outside Git, if any.
	Observe(ctx context.Context, app *v1alpha1.Application, drift []Drift)
}

func (o Options) withDefaults() Options {
	if o.PollInterval <= 0 {
		o.PollInterval = time.Minute
	}
	if o.HomeNamespace == "" {
		o.HomeNamespace = "argocd"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.ApplyConcurrency <= 0 {
		o.ApplyConcurrency = 4
	}
	if o.WaveTimeout <= 0 {
		o.WaveTimeout = 5 * time.Minute
	}
	return o
}

// Reconciler reconciles Applications.
type Reconciler struct {
	client       client.Client // reads Applications from the cache
	direct       client.Client // reads and writes Applications on the API server
	local        *target       // the cluster Ferry runs in
	registry     cluster.Registry
	pool         *cluster.Pool // connections to registered clusters
	remotes      remotes       // targets built on the pool's connections
	sources      *gitsource.Cache
	events       events.EventRecorder
	tracker      *tracker
	renders      *appstate.Renderer
	unsupported  unsupportedCache
	ignoredApps  ignored
	orphanChecks orphanChecks
	shards       *shardPass
	log          logr.Logger
	opts         Options
}

// New builds the reconciler from the manager's clients and cache.
func New(mgr ctrl.Manager, sources *gitsource.Cache, renderer *render.Renderer, opts Options) (*Reconciler, error) {
	opts = opts.withDefaults()
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("create API client: %w", err)
	}
	t := newTracker()
	local := &target{server: cluster.InClusterServer, name: cluster.InClusterName, direct: direct, cache: mgr.GetCache(),
		executor: fsync.NewExecutor(direct, mgr.GetRESTMapper(), opts.ApplyConcurrency),
		differ:   &diff.Differ{Client: direct, Cache: mgr.GetCache(), FieldManager: fsync.FieldManager},
		watcher:  newWatcher(mgr.GetCache(), t, opts.HomeNamespace),
		config:   mgr.GetConfig(), mapper: mgr.GetRESTMapper(), applyConcurrency: opts.ApplyConcurrency}
	r := &Reconciler{
		client:   mgr.GetClient(),
		direct:   direct,
		local:    local,
		registry: cluster.Registry{Reader: opts.Secrets, Namespace: opts.HomeNamespace, Options: cluster.Options{AllowExec: opts.AllowExecCredentials}},
		remotes:  remotes{byConn: map[*cluster.Conn]*target{}},
		sources:  sources,
		events:   redact.Recorder(mgr.GetEventRecorder("ferry")),
		tracker:  t,
		renders:  appstate.NewRenderer(renderer, sources, opts.Charts, opts.RenderCacheMaxBytes),
		log:      mgr.GetLogger().WithName("application"),
		opts:     opts,
	}
	r.shards = &shardPass{r: r, changed: make(chan struct{}, 1)}
	if err := mgr.Add(r.shards); err != nil {
		return nil, err
	}
	r.renders.OnRender = opts.Metrics.Rendered
	r.renders.KustomizeBuildOptions = r.kustomizeBuildOptions
	r.pool = cluster.NewPool(cluster.PoolOptions{Scheme: direct.Scheme(), Recovered: r.clusterRecovered})
	if err := mgr.Add(r.pool); err != nil {
		return nil, err
	}
	if err := mgr.Add(manager.RunnableFunc(r.ensureDefaultProject)); err != nil {
		return nil, err
	}
	return r, nil
}

// SetupWithManager registers the controller: Applications wake it when their
// spec, operation or refresh annotation change (not on its own status
// writes), and managed objects wake their owner through the watcher.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("application").
		For(&v1alpha1.Application{}, builder.WithPredicates(r.refreshSeen(), predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}), r.destinationMoved())).
		WatchesRawSource(source.Channel(r.local.watcher.events, &handler.EnqueueRequestForObject{})).
		Watches(&v1alpha1.AppProject{}, handler.EnqueueRequestsFromMapFunc(r.appsOfProject),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.opts.Concurrency,
			// Sharded, every replica reconciles its own Applications;
			// otherwise only the leader (when leader election is on).
			NeedLeaderElection: ptr.To(r.opts.Shards == nil),
			// Retryable errors (API server, network, Git) back off from 1 s
			// to at most 5 min; stalled ones are not returned as errors.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, 5*time.Minute)}).
		Complete(r)
}

// Reconcile brings one Application's cluster state in line with Git and
// reports it. Status is written only when it changed, so an idle resync
// writes nothing.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	app := &v1alpha1.Application{}
	if err := r.client.Get(ctx, req.NamespacedName, app); err != nil {
		r.tracker.drop(req.NamespacedName)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx, done, ok, err := r.acquire(ctx, app)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		// Another replica's (or nobody's for a moment, while the
		// replicas change over: the new owner queues it then).
		r.tracker.drop(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	defer done()
	if !r.namespaceServed(app.Namespace) {
		return r.ignore(app)
	}
	if app.Operation != nil {
		// The cache may still show an operation this controller finished:
		// confirm with the API server before running it again.
		if err := r.direct.Get(ctx, req.NamespacedName, app); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if !app.DeletionTimestamp.IsZero() {
		res, err := r.finalize(ctx, app)
		if r.opts.Notifier != nil {
			// After finalize, which writes with the resourceVersion read:
			// on-deleted is told once whether or not the Application is
			// gone by now.
			r.opts.Notifier.Observe(ctx, app, nil)
		}
		return res, err
	}
	before := app.DeepCopy()
	start := time.Now()
	res := r.reconcile(ctx, app)
	r.opts.Metrics.Reconciled(app.Namespace, time.Since(start))
	if !equality.Semantic.DeepEqual(before.Status, app.Status) {
		// A merge patch, not an update: the controller is status's only
		// writer, and a spec edit racing with it must not fail the write.
		patch, err := statusPatch(before, app)
		if err == nil {
			err = r.direct.Status().Patch(ctx, app, patch)
		}
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("update status of application %s: %w", req.NamespacedName, err)
		}
	}
	r.tracker.reportSync(req.NamespacedName, app.Status.Sync)
	finishErr := errors.Join(res.err, r.finishRequest(ctx, app, res))
	if r.opts.Notifier != nil {
		// After finishRequest: the notifier writes an annotation, which
		// would fail finishRequest's optimistic lock if it came first. And
		// whatever finishRequest did: the state written above is told now
		// (a trigger's condition is evaluated against it).
		r.opts.Notifier.Observe(ctx, app, res.drift)
	}
	if finishErr != nil {
		return ctrl.Result{}, finishErr // retried with backoff
	}
	return ctrl.Result{RequeueAfter: res.requeueAfter}, nil
}

// statusPatch is the merge patch that takes the Application's status from
// before (the watch cache's copy) to app's. A changed operation state is
// sent whole, not as a difference from the cache: a sync may have reported
// itself running in between (progress), and a difference would leave
// those running values in place wherever the final state equals the
// cached one.
func statusPatch(before, app *v1alpha1.Application) (client.Patch, error) {
	st := app.Status.OperationState
	if st == nil || equality.Semantic.DeepEqual(before.Status.OperationState, st) {
		return client.MergeFrom(before), nil
	}
	base := before.DeepCopy()
	base.Status.OperationState = st // no difference there: set below, whole
	data, err := client.MergeFrom(base).Data(app)
	if err != nil {
		return nil, err
	}
	patch := map[string]any{}
	if err := json.Unmarshal(data, &patch); err != nil {
		return nil, err
	}
	whole, err := operationStateJSON(st)
	if err != nil {
		return nil, err
	}
	status, _ := patch["status"].(map[string]any)
	if status == nil {
		status = map[string]any{}
		patch["status"] = status
	}
	status["operationState"] = whole
	if data, err = json.Marshal(patch); err != nil {
		return nil, err
	}
	return client.RawPatch(types.MergePatchType, data), nil
}

// appKey names an Application.
func appKey(app *v1alpha1.Application) types.NamespacedName {
	return types.NamespacedName{Namespace: app.Namespace, Name: app.Name}
}
