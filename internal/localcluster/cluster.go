package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Mode selects which components run.
type Mode string

const (
	// ModeAPI runs etcd and kube-apiserver only: enough for anything that
	// stores and watches objects, and fast to start.
	ModeAPI Mode = "api"
	// ModeFull adds kube-controller-manager, kube-scheduler and kwok with fake
	// Nodes, so workloads roll out and Jobs complete.
	ModeFull Mode = "full"
)

// Options configures Start.
type Options struct {
	// Mode is ModeAPI (the default) or ModeFull.
	Mode Mode
	// Nodes is the number of fake Nodes in ModeFull; default 1.
	Nodes int
	// Dir holds the cluster's data, PKI, kubeconfig and logs. When empty a
	// temporary directory is created and removed by Stop.
	Dir string
	// BinDir holds the binaries built by `make kube`; default DefaultBinDir().
	BinDir string
	// Timeout bounds Start; default 2 minutes.
	Timeout time.Duration
	// APIServerArgs are more flags for kube-apiserver (benchmarks turn on
	// an audit log with them).
	APIServerArgs []string
}

// Cluster is a running local control plane.
type Cluster struct {
	opts    Options
	dir     string
	ownDir  bool
	server  string
	etcdURL string
	caCert  []byte
	admin   *rest.Config
	user    *rest.Config
	kubecfg string

	mu    sync.Mutex
	procs []*process

	apiArgs []string // the API server's flags, to start it again
	apiProc *process
}

// Start starts a control plane and returns once it serves requests and, in
// ModeFull, every Node is Ready. On error everything started is stopped.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts = withDefaults(opts)
	if opts.Mode != ModeAPI && opts.Mode != ModeFull {
		return nil, fmt.Errorf("unknown mode %q: want %q or %q", opts.Mode, ModeAPI, ModeFull)
	}
	if err := CheckBinaries(opts.BinDir); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, dir: opts.Dir}
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "ferry-local-")
		if err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
		c.dir, c.ownDir = dir, true
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if err := c.start(ctx); err != nil {
		stopErr := c.Stop(context.WithoutCancel(ctx))
		return nil, errors.Join(fmt.Errorf("start local control plane in %s: %w", c.dir, err), stopErr)
	}
	return c, nil
}

func withDefaults(opts Options) Options {
	if opts.Mode == "" {
		opts.Mode = ModeAPI
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	if opts.BinDir == "" {
		opts.BinDir = DefaultBinDir()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	return opts
}

func (c *Cluster) start(ctx context.Context) error {
	for _, sub := range []string{"logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(c.dir, sub), 0o700); err != nil {
			return fmt.Errorf("create %s: %w", sub, err)
		}
	}
	p, err := newPKI()
	if err != nil {
		return err
	}
	pkiDir, err := p.writeFiles(c.dir)
	if err != nil {
		return err
	}
	c.caCert = p.caCert
	if err := c.startEtcd(ctx); err != nil {
		return err
	}
	if err := c.startAPIServer(ctx, p, pkiDir); err != nil {
		return err
	}
	if err := c.grantUser(ctx); err != nil {
		return err
	}
	if c.opts.Mode == ModeFull {
		return c.startWorkloadComponents(ctx, p, pkiDir)
	}
	return nil
}

// Stop stops every component in reverse start order, removes a temporary
// directory, and returns an error naming any process still alive afterwards.
// It is safe to call more than once.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].stop(ctx, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range procs {
		if Alive(p.pid()) {
			errs = append(errs, fmt.Errorf("%s (pid %d) still running after stop", p.name, p.pid()))
		}
	}
	if c.ownDir && len(errs) == 0 {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
		}
	}
	return errors.Join(errs...)
}

// PIDs returns the process ID of every component started, by name.
func (c *Cluster) PIDs() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := make(map[string]int, len(c.procs))
	for _, p := range c.procs {
		pids[p.name] = p.pid()
	}
	return pids
}

// Dir is the cluster's directory.
func (c *Cluster) Dir() string { return c.dir }

// Server is the API server's URL.
func (c *Cluster) Server() string { return c.server }

// KubeconfigPath is the kubeconfig with the admin context (current) and the
// non-admin user context.
func (c *Cluster) KubeconfigPath() string { return c.kubecfg }

// AdminConfig returns a client config for a system:masters identity.
func (c *Cluster) AdminConfig() *rest.Config { return rest.CopyConfig(c.admin) }

// UserConfig returns a client config for UserName, bound to cluster-admin by
// RBAC but subject to API Priority and Fairness.
func (c *Cluster) UserConfig() *rest.Config { return rest.CopyConfig(c.user) }

// BinDir is the directory of the control-plane binaries, kubectl among them.
func (c *Cluster) BinDir() string { return c.opts.BinDir }

func (c *Cluster) run(name string, args ...string) (*process, error) {
	p, err := startProcess(name, filepath.Join(c.opts.BinDir, name), args, filepath.Join(c.dir, "logs"))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

func (c *Cluster) clientset(cfg *rest.Config) (*kubernetes.Clientset, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", c.server, err)
	}
	return cs, nil
}

// freePort asks the kernel for an unused loopback port. Another process may
// take it before the component binds it; that shows as a start error naming
// the component, with its log.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
