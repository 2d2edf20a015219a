package controller

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/controller/application"
	"github.com/ferrycd/ferry/internal/redact"
	"github.com/ferrycd/ferry/internal/shard"
)

// appInfoCollector exports ferry_app_info, one series per Application with
// Argo CD's argocd_app_info labels, read from the watch cache at scrape
// time: nothing is kept between scrapes, and a deleted Application's series
// goes with it.
//
// Sharded, each replica exports the Applications it owns, so a sum over
// replicas counts each once, and with them ferry_shard_applications and
// ferry_shard_members, as they are at scrape time.
type appInfoCollector struct {
	cache client.Reader
	desc  *prometheus.Desc
	// owned, when set (sharded), says which Applications this replica
	// owns now.
	owned              func(context.Context) (func(*v1alpha1.Application) bool, shard.State)
	shardApps, members *prometheus.Desc
}

func newAppInfoCollector(cache client.Reader) *appInfoCollector {
	return &appInfoCollector{cache: cache, desc: prometheus.NewDesc("ferry_app_info",
		"One series per Application, value 1, with its sync status, health and source as labels (Argo CD's argocd_app_info).",
		[]string{"namespace", "name", "project", "repo", "dest_server", "dest_namespace", "sync_status", "health_status", "operation", "autosync_enabled"}, nil),
		shardApps: prometheus.NewDesc("ferry_shard_applications", "Applications this replica owns, by its shard (member name, or number when static).", []string{"shard"}, nil),
		members:   prometheus.NewDesc("ferry_shard_members", "Replicas sharing the Applications, as this replica sees them.", nil, nil)}
}

func (c *appInfoCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	ch <- c.shardApps
	ch <- c.members
}

func (c *appInfoCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	apps := &v1alpha1.ApplicationList{}
	if err := c.cache.List(ctx, apps); err != nil {
		return
	}
	var owns func(*v1alpha1.Application) bool
	var state shard.State
	if c.owned != nil {
		owns, state = c.owned(ctx)
	}
	owned := 0
	for i := range apps.Items {
		a := &apps.Items[i]
		if owns != nil && !owns(a) {
			continue
		}
		owned++
		repo := ""
		if srcs := appstate.Sources(a); len(srcs) > 0 {
			repo = redact.URL(srcs[0].RepoURL) // /metrics is served without authentication
		}
		op := ""
		if st := a.Status.OperationState; st != nil {
			op = string(st.Phase)
		}
		auto := a.Spec.SyncPolicy != nil && a.Spec.SyncPolicy.Automated != nil
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, a.Namespace, a.Name, a.Spec.Project, repo,
			redact.URL(a.Spec.Destination.Server), a.Spec.Destination.Namespace, string(a.Status.Sync.Status), string(a.Status.Health.Status),
			op, strconv.FormatBool(auto))
	}
	if owns != nil {
		ch <- prometheus.MustNewConstMetric(c.shardApps, prometheus.GaugeValue, float64(owned), state.Self)
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(len(state.Live)))
	}
}

// clusterProbe exports ferry_cluster_connection_status: 1 while the API
// server answers /version, 0 after a failed probe; probed every 30 s with a
// 5 s timeout, so a slow cluster never blocks a scrape.
type clusterProbe struct {
	server string
	disc   discovery.ServerVersionInterface
	desc   *prometheus.Desc
	// remote reports the registered clusters, probed by the Application
	// controller's targets.
	remote func() []application.ClusterState

	mu      sync.Mutex
	up      bool
	version string
}

func newClusterProbe(cfg *rest.Config) (*clusterProbe, error) {
	c := rest.CopyConfig(cfg)
	c.Timeout = 5 * time.Second
	d, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return nil, err
	}
	return &clusterProbe{server: "https://kubernetes.default.svc", disc: d, desc: prometheus.NewDesc("ferry_cluster_connection_status",
		"1 while the cluster's API server answers, 0 otherwise.", []string{"server", "k8s_version"}, nil)}, nil
}

func (p *clusterProbe) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

func (p *clusterProbe) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := 0.0
	if p.up {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, v, p.server, p.version)
	if p.remote == nil {
		return
	}
	for _, c := range p.remote() {
		up := 0.0
		if c.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, up, c.Server, c.Version)
	}
}

// Start probes until ctx ends (a controller-runtime Runnable).
func (p *clusterProbe) Start(ctx context.Context) error {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		p.probe()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *clusterProbe) probe() {
	info, err := p.disc.ServerVersion()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = err == nil
	if err == nil {
		p.version = info.GitVersion
	} else {
		ctrl.Log.WithName("cluster-probe").Info("the cluster's API server does not answer", "error", err.Error())
	}
}

// NeedLeaderElection is false: every replica probes, so a standby does not
// report the cluster as unreachable.
func (p *clusterProbe) NeedLeaderElection() bool { return false }
