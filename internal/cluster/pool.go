package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// ProbeInterval is how often a registered cluster's API server is asked for
// its version: one request per cluster, however many Applications target
// it, so an outage shows within seconds even when no comparison needs the
// API server (the watch cache would keep answering with stale objects).
const ProbeInterval = 3 * time.Second

// RequestTimeout bounds every request to a registered cluster, so one that
// is slow or unreachable holds a worker for at most this long.
const RequestTimeout = 10 * time.Second

// Conn is a connection to one registered cluster: a client whose requests
// are bounded by RequestTimeout, a watch cache, a lazy RESTMapper, and a
// version probe. Building one makes no request: an unreachable cluster
// fails on its first request.
type Conn struct {
	// Server is the cluster's API server URL, normalized.
	Server string
	// Direct reads and writes on the API server.
	Direct client.Client
	// Cache is the watch cache (managed fields stripped), started with the
	// pool's context.
	Cache cache.Cache
	// Mapper maps kinds to resources, discovering lazily.
	Mapper meta.RESTMapper
	// Config is the connection's configuration (with the request timeout),
	// for clients that must differ, such as impersonating ones.
	Config *rest.Config

	version string // the cluster Secret's resourceVersion it was built from
	stop    context.CancelFunc

	mu         sync.Mutex
	down       error  // the last probe's error; nil while the cluster answers
	k8sVersion string // from the last good probe
}

// Unreachable returns the last probe's error; nil while the cluster answers.
func (c *Conn) Unreachable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down
}

// State is a connection's health, for metrics and `ferry cluster list`.
type State struct {
	Server, Version string
	Up              bool
}

func (c *Conn) state() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return State{Server: c.Server, Version: c.k8sVersion, Up: c.down == nil}
}

// PoolOptions configure a Pool.
type PoolOptions struct {
	// Scheme types the clients' objects (core kinds typed, the rest
	// unstructured).
	Scheme *runtime.Scheme
	// Recovered, when set, is called when a cluster answers again after a
	// failed probe.
	Recovered func(ctx context.Context, server string)
}

// Pool keeps one Conn per registered cluster in use, built on first use and
// rebuilt when its Secret changes, stopped when no Secret registers it any
// more. It is a controller-runtime Runnable: connections live as long as
// the manager.
type Pool struct {
	opts    PoolOptions
	mu      sync.Mutex
	conns   map[string]*Conn // by server
	ctx     context.Context  // the manager's; set by Start
	started chan struct{}
}

// NewPool returns an empty pool; Start it with the manager.
func NewPool(opts PoolOptions) *Pool {
	return &Pool{opts: opts, conns: map[string]*Conn{}, started: make(chan struct{})}
}

// ErrNotStarted is returned by Connect before the pool started.
var ErrNotStarted = fmt.Errorf("the controller is starting")

// NeedLeaderElection is false: the pool serves the Application controller
// wherever it runs (sharded, on every replica).
func (p *Pool) NeedLeaderElection() bool { return false }

// Start keeps the manager's context for the watch caches and probes, and
// stops every connection when it ends.
func (p *Pool) Start(ctx context.Context) error {
	p.mu.Lock()
	p.ctx = ctx
	close(p.started)
	p.mu.Unlock()
	<-ctx.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.stop()
	}
	return nil
}

// Connect returns the connection to a registered cluster, whose Secret is
// at resourceVersion version, building it on first use or when the Secret
// changed. replaced reports that an older connection was stopped for it.
func (p *Pool) Connect(c Cluster, version string) (conn *Conn, replaced bool, err error) {
	select {
	case <-p.started:
	default:
		return nil, false, ErrNotStarted
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if conn, ok := p.conns[c.Server]; ok && conn.version == version {
		return conn, false, nil
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, false, fmt.Errorf("cluster %s: %w", c, err)
	}
	conn, err = p.connect(cfg, c.Server, version)
	if err != nil {
		return nil, false, fmt.Errorf("cluster %s: %w", c, err)
	}
	old, replaced := p.conns[c.Server]
	if replaced {
		old.stop()
	}
	p.conns[c.Server] = conn
	return conn, replaced, nil
}

func (p *Pool) connect(cfg *rest.Config, server, version string) (*Conn, error) {
	cfg.QPS, cfg.Burst = 100, 200
	// The watch cache gets a client without a request timeout: one would
	// cut every watch after it. Requests are bounded by the other.
	watchClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = RequestTimeout
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	direct, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper, Scheme: p.opts.Scheme})
	if err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{HTTPClient: watchClient, Mapper: mapper, Scheme: p.opts.Scheme,
		DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(p.ctx)
	go func() { _ = c.Start(ctx) }()
	conn := &Conn{Server: server, Direct: direct, Cache: c, Mapper: mapper, Config: rest.CopyConfig(cfg), version: version, stop: stop}
	go conn.probe(ctx, disc, func() { // first probe at once, outside the pool's lock
		if p.opts.Recovered != nil {
			p.opts.Recovered(ctx, server)
		}
	})
	return conn, nil
}

// probe asks the API server for its version until ctx ends; recovered is
// called when it answers again after failing.
func (c *Conn) probe(ctx context.Context, d discovery.ServerVersionInterface, recovered func()) {
	tick := time.NewTicker(ProbeInterval)
	defer tick.Stop()
	for {
		info, err := d.ServerVersion()
		c.mu.Lock()
		wasDown := c.down != nil
		c.down = err
		if err == nil {
			c.k8sVersion = info.GitVersion
		}
		c.mu.Unlock()
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

// Prune stops and forgets the connections of clusters the entries no
// longer register: their watch caches and probes would otherwise run
// forever. It returns the connections it stopped, so what was built on
// them can go too.
func (p *Pool) Prune(entries []Entry) (stopped []*Conn) {
	servers := make(map[string]bool, len(entries))
	for _, e := range entries {
		servers[e.Server()] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for server, c := range p.conns {
		if !servers[server] {
			c.stop()
			delete(p.conns, server)
			stopped = append(stopped, c)
		}
	}
	return stopped
}

// States reports the connections in use.
func (p *Pool) States() []State {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]State, 0, len(p.conns))
	for _, c := range p.conns {
		out = append(out, c.state())
	}
	return out
}
