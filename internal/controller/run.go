// Package controller wires Ferry's controllers into one controller-runtime
// manager: the Application controller today, the others as they come. The
// `ferry controller` command, the demo and the tests all start it through Run.
package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/config/crd"
	"github.com/ferrycd/ferry/internal/chartrepo"
	"github.com/ferrycd/ferry/internal/controller/application"
	appsetctrl "github.com/ferrycd/ferry/internal/controller/appset"
	"github.com/ferrycd/ferry/internal/controller/image"
	"github.com/ferrycd/ferry/internal/controller/notifications"
	"github.com/ferrycd/ferry/internal/metrics"
	"github.com/ferrycd/ferry/internal/netguard"
	"github.com/ferrycd/ferry/internal/notify"
	"github.com/ferrycd/ferry/internal/render"
	"github.com/ferrycd/ferry/internal/shard"
	"github.com/ferrycd/ferry/internal/source"
	"github.com/ferrycd/ferry/internal/ui"
)

// Options configure the controller process.
type Options struct {
	// ApplicationNamespaces are globs of the namespaces, besides the home
	// namespace, whose Applications are reconciled (Argo CD's
	// --application-namespaces); each Application's project must also list
	// its namespace in sourceNamespaces. Empty: the home namespace alone.
	ApplicationNamespaces []string
	// HomeNamespace holds repository Secrets, and its Applications are
	// tracked by bare name (Argo CD's control-plane namespace). Default argocd.
	HomeNamespace string
	// PollInterval is how often sources are checked for new revisions.
	PollInterval time.Duration
	// Concurrency is how many Applications reconcile at once.
	Concurrency int
	// WaveTimeout bounds the wait for one sync wave to become healthy.
	WaveTimeout time.Duration
	// SelfHealDelay is how long a drift must have been seen before selfHeal
	// syncs it away (application.Options.SelfHealDelay); 0 heals at once.
	SelfHealDelay time.Duration
	// CacheDir holds the Git repository cache; default under the user cache dir.
	CacheDir string
	// GitCacheMaxBytes bounds the revision snapshots (files read from Git)
	// kept in memory; 0: source.DefaultSnapshotCacheMaxBytes (512 MiB).
	GitCacheMaxBytes int64
	// RenderCacheMaxBytes bounds the renders kept in memory, by an
	// estimate of their objects' size; 0: appstate.DefaultRenderCacheMaxBytes
	// (256 MiB).
	RenderCacheMaxBytes int64
	// MetricsAddr and HealthAddr are the listen addresses; "0" disables.
	MetricsAddr, HealthAddr string
	// PprofAddr serves Go's profiles (/debug/pprof/) when set; off ("" or
	// "0") by default, since a profile shows what the process holds.
	PprofAddr string
	// WebhookAddr is the Git and registry webhook receiver's listen
	// address; "" or "0" disables it. With WebhookTLSCert and WebhookTLSKey
	// it serves HTTPS.
	WebhookAddr, WebhookTLSCert, WebhookTLSKey string
	// LeaderElection makes only one replica run what must run once:
	// ApplicationSet generation and image automation, and, unsharded, the
	// Application controller too.
	LeaderElection bool
	// Sharding spreads Applications over replicas: ShardingLeases (each
	// replica holds a Lease, the live Leases are the membership),
	// ShardingStatic (Argo CD's --shard N --replicas M), or "" (none).
	Sharding string
	// Shard and Replicas are the static form's shard (from 0) and count.
	Shard, Replicas int
	// ShardIdentity names this replica's shard Lease (the Pod's name).
	ShardIdentity string
	// InstallCRDs installs or updates Ferry's CRDs at start.
	InstallCRDs bool
	// AllowExecCredentials accepts cluster Secrets whose config runs a
	// program to get credentials (execProviderConfig); off by default,
	// since whoever can write those Secrets picks the program.
	AllowExecCredentials bool
	// AllowLocalRepositories lets Applications, ApplicationSet generators
	// and GitRepositories read repositories on the controller's disk
	// (file:// URLs and paths); off by default (--allow-local-repositories).
	AllowLocalRepositories bool
	// AllowLinkLocalAddresses lets repository, registry and notification
	// URLs reach link-local and cloud metadata addresses; off by default.
	AllowLinkLocalAddresses bool
	// AllowHTTPChartRepositories lets Helm repositories and OCI registries
	// be read over plain HTTP on hosts other than loopback; off by default
	// (--allow-http-chart-repositories).
	AllowHTTPChartRepositories bool
	// SSHKnownHostsFiles are the known_hosts files repositories' ssh host
	// keys are checked against (the install mounts Argo CD's
	// argocd-ssh-known-hosts-cm). Empty: $SSH_KNOWN_HOSTS, else
	// ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts; a host in none of
	// them is refused.
	SSHKnownHostsFiles []string
	// UIAddr is the web UI's listen address (internal/ui); "" or "0"
	// disables it. People sign in with their own token: the controller's
	// identity is never theirs.
	UIAddr string
	// AllowCrossNamespaceRefs lets image automation objects refer to
	// objects in other namespaces (Flux's --no-cross-namespace-refs=false);
	// off by default: an ImageUpdateAutomation could otherwise push with
	// another namespace's GitRepository and its Secret.
	AllowCrossNamespaceRefs bool
}

// The sharding modes.
const (
	ShardingLeases = "leases"
	ShardingStatic = "static"
)

// Run runs the controllers until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	if opts.HomeNamespace == "" {
		opts.HomeNamespace = "argocd"
	}
	if opts.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		opts.CacheDir = filepath.Join(dir, "ferry", "git")
	}
	m := metrics.New()
	// The UI's people talk to the API server with their own tokens: only
	// the address and CA of this configuration, uncounted, go to it.
	uiBase := rest.CopyConfig(cfg)
	// Every client below talks to the local cluster through cfg: each
	// request is counted by kind (ferry_api_requests_total).
	cfg = countAPIRequests(cfg, m.APIRequest)
	scheme := api.NewScheme()
	if opts.InstallCRDs {
		c, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return fmt.Errorf("create client: %w", err)
		}
		if err := crd.Install(ctx, c); err != nil {
			return fmt.Errorf("install CRDs: %w", err)
		}
		if err := ensureHomeNamespace(ctx, c, opts.HomeNamespace); err != nil {
			return err
		}
	}
	cacheOpts := cache.Options{
		// Managed fields are most of an object's size and Ferry never reads
		// them from the cache.
		DefaultTransform: cache.TransformStripManagedFields(),
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:  opts.HealthAddr,
		PprofBindAddress:        opts.PprofAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "ferry-controller",
		LeaderElectionNamespace: opts.HomeNamespace,
		// A replica stopped with SIGTERM gives the Lease up once its
		// leader-only controllers returned (the process exits right
		// after), so the other leads at its next try, not 15 s later.
		LeaderElectionReleaseOnCancel: true,
		// A standby retries every 1 s, jittered up to 2.2 s by client-go
		// (the default 2 s would be up to 4.4 s): after a leader's crash
		// the Lease's 15 s plus that, within 20 s.
		RetryPeriod: ptr.To(time.Second),
		// Running reconciles are cancelled at shutdown: a sync stops
		// between steps and its next owner resumes it. Under the
		// installed Pod's 30 s grace period.
		GracefulShutdownTimeout: ptr.To(25 * time.Second),
		// controller-runtime refuses a second controller of the same name
		// in one process because their metrics would share labels; only
		// tests run several managers in one process, where that is harmless.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	// Ready once the watch caches hold what they watch: a replica that
	// cannot list Applications (RBAC, API server) stays out of rotation
	// for webhooks, instead of answering pushes it cannot act on.
	if err := mgr.AddReadyzCheck("caches", func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("watch caches not synced yet")
		}
		return nil
	}); err != nil {
		return err
	}
	direct, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	// The ConfigMaps and Secrets read at run time (notification
	// configuration, webhook secrets) come from a watch cache of the home
	// namespace alone: the manager's cache restricted by type would also
	// restrict the ConfigMaps and Secrets Applications manage elsewhere.
	homeCache, err := cache.New(cfg, cache.Options{Scheme: scheme, Mapper: mgr.GetRESTMapper(),
		DefaultNamespaces: map[string]cache.Config{opts.HomeNamespace: {}}, DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return fmt.Errorf("create the home namespace cache: %w", err)
	}
	if err := mgr.Add(startedCache{homeCache}); err != nil {
		return err
	}
	// Repository Secrets are read from the home namespace's watch cache:
	// each reconcile asks which copy of its repository its project reads.
	netPolicy := netguard.Policy{AllowLinkLocal: opts.AllowLinkLocalAddresses}
	repoSecrets := source.RepositorySecrets{Reader: homeCache, Namespace: opts.HomeNamespace}
	sources, err := source.NewCache(source.Options{
		Dir:             opts.CacheDir,
		PollInterval:    opts.PollInterval,
		Credentials:     repoSecrets.Credentials,
		Scoped:          repoSecrets.Scoped,
		AllowLocal:      opts.AllowLocalRepositories,
		KnownHostsFiles: opts.SSHKnownHostsFiles,
		Net:             netPolicy,
		OnFetch:         m.Fetched,

		SnapshotCacheMaxBytes: opts.GitCacheMaxBytes, // --git-cache-max-bytes
	})
	if err != nil {
		return fmt.Errorf("create git cache: %w", err)
	}
	// Charts come from Helm repositories and OCI registries, with the
	// credentials of Argo CD's repository Secrets (type helm), under the
	// same network policy; an index is fetched once per poll interval per
	// repository, for every Application reading it.
	charts := chartrepo.New(chartrepo.Options{
		PollInterval: opts.PollInterval, Credentials: repoSecrets.HelmCredentials, Project: source.ProjectFrom,
		Net: netPolicy, AllowInsecureHTTP: opts.AllowHTTPChartRepositories, OnFetch: m.ChartDownloaded,
	})
	probe, err := newClusterProbe(cfg)
	if err != nil {
		return err
	}
	if err := mgr.Add(probe); err != nil {
		return err
	}
	appInfo := newAppInfoCollector(mgr.GetCache())
	collectors := append(m.Collectors(), newGitCollector(sources), appInfo, probe)
	for _, c := range collectors {
		if err := registerCollector(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	// Notification service URLs come from a ConfigMap: they get the same
	// network policy as repositories and registries.
	httpc := notify.NewHTTPClient(netPolicy.Transport())
	notifier := notifications.New(direct, homeCache, opts.HomeNamespace, httpc, notifications.GitCommits(sources), m, ctrl.Log.WithName("notifications"))
	if err := mgr.Add(notifier); err != nil {
		return err
	}
	var apps *application.Reconciler
	gate, err := shardGate(mgr, direct, opts, func(st shard.State) { apps.ShardsChanged(st) })
	if err != nil {
		return err
	}
	apps, err = application.New(mgr, sources, render.NewRenderer(render.Limits{}), application.Options{
		PollInterval: opts.PollInterval, HomeNamespace: opts.HomeNamespace, Concurrency: opts.Concurrency,
		WaveTimeout: opts.WaveTimeout, SelfHealDelay: opts.SelfHealDelay, Metrics: m, Notifier: notifier,
		Secrets: homeCache, AllowExecCredentials: opts.AllowExecCredentials, ApplicationNamespaces: opts.ApplicationNamespaces,
		RenderCacheMaxBytes: opts.RenderCacheMaxBytes, Shards: gate, Charts: charts,
	})
	if err != nil {
		return err
	}
	if err := apps.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up application controller: %w", err)
	}
	probe.remote = apps.Clusters
	if gate != nil {
		appInfo.owned = apps.Owned
	}
	imageOpts := image.Options{AllowCrossNamespaceRefs: opts.AllowCrossNamespaceRefs, AllowLocalRepositories: opts.AllowLocalRepositories, Net: netPolicy}
	if err := image.Setup(mgr, apps.RepositoryChanged, m, imageOpts); err != nil {
		return err
	}
	appsets, err := appsetctrl.Setup(mgr, homeCache, opts.HomeNamespace, opts.ApplicationNamespaces, sources)
	if err != nil {
		return fmt.Errorf("set up the ApplicationSet controller: %w", err)
	}
	if opts.UIAddr != "" && opts.UIAddr != "0" {
		srv, err := ui.New(ui.Options{Config: uiBase, Cache: mgr.GetCache(), Scheme: scheme, Mapper: mgr.GetRESTMapper(),
			Home: opts.HomeNamespace, Desired: apps.Desired, Log: ctrl.Log.WithName("ui")})
		if err != nil {
			return err
		}
		if err := mgr.Add(uiServer{srv: srv, addr: opts.UIAddr}); err != nil {
			return err
		}
	}
	if opts.WebhookAddr != "" && opts.WebhookAddr != "0" {
		if err := mgr.Add(newWebhookServer(opts, direct, homeCache, apps, appsets, m, mgr.Elected())); err != nil {
			return err
		}
	}
	return mgr.Start(ctx)
}

// uiServer runs the web UI on every replica (reads and actions are the
// person's own, so any replica serves them).
type uiServer struct {
	srv  *ui.Server
	addr string
}

func (u uiServer) NeedLeaderElection() bool { return false }

func (u uiServer) Start(ctx context.Context) error {
	if err := u.srv.Start(ctx); err != nil {
		return err
	}
	l, err := net.Listen("tcp", u.addr)
	if err != nil {
		return fmt.Errorf("ui: listen on %s: %w", u.addr, err)
	}
	return u.srv.Serve(ctx, l)
}

// startedCache makes the manager start a cache on every replica, with its
// own cache, before any controller: added bare, a cache.Cache is a
// leader-only runnable, and a replica that does not lead would never read
// the home namespace's Secrets.
type startedCache struct{ cache.Cache }

// GetCache puts the cache in the manager's caches group.
func (c startedCache) GetCache() cache.Cache { return c.Cache }

// shardGate is the Application controller's shard gate: a Lease
// membership (added to mgr, running on every replica), a fixed static
// shard, or nil when unsharded.
func shardGate(mgr ctrl.Manager, c client.Client, opts Options, changed func(shard.State)) (shard.Gate, error) {
	switch opts.Sharding {
	case "", "none":
		return nil, nil
	case ShardingStatic:
		if opts.Replicas < 1 || opts.Shard < 0 || opts.Shard >= opts.Replicas {
			return nil, fmt.Errorf("static sharding: --shard %d is not one of 0 to --replicas %d minus 1", opts.Shard, opts.Replicas)
		}
		return shard.Static(opts.Shard, opts.Replicas), nil
	case ShardingLeases:
		m, err := shard.NewMembership(c, shard.LeaseOptions{Namespace: opts.HomeNamespace, Identity: opts.ShardIdentity,
			OnChange: changed, Log: ctrl.Log.WithName("shard")})
		if err != nil {
			return nil, err
		}
		return m, mgr.Add(m)
	}
	return nil, fmt.Errorf("--sharding %q: want leases, static or none", opts.Sharding)
}

// registerCollector registers c in controller-runtime's registry (a process
// global), replacing the collector of an earlier Run in the same process.
func registerCollector(c prometheus.Collector) error {
	err := ctrlmetrics.Registry.Register(c)
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		ctrlmetrics.Registry.Unregister(dup.ExistingCollector)
		err = ctrlmetrics.Registry.Register(c)
	}
	return err
}

// ensureHomeNamespace creates the home namespace when it is missing, as
// the controller installs its CRDs: on a new cluster `ferry controller`
// works without a `kubectl create namespace argocd` first. The namespace
// holds the default AppProject, repository and cluster Secrets and the
// leader election Lease.
func ensureHomeNamespace(ctx context.Context, c client.Client, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	err := c.Create(ctx, ns)
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	return fmt.Errorf("create the home namespace %s (or create it yourself, or pass --home-namespace): %w", name, err)
}
