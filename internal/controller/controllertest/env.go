// Package controllertest runs a local control plane with Ferry's controller
// for the tests of packages that need both (the controller's own, the CLI's):
// one per test binary, started from TestMain, stopped with proof that no
// process it started survives.
package controllertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/config/crd"
	"github.com/ferrycd/ferry/internal/controller"
	"github.com/ferrycd/ferry/internal/localcluster"
)

// Env is a running control plane with Ferry's controller.
type Env struct {
	Cluster *localcluster.Cluster
	// Client acts as the non-admin user.
	Client client.WithWatch
	// Logs is the controller's log.
	Logs *SyncBuffer
	// MetricsURL is the controller's Prometheus endpoint.
	MetricsURL string
	// WebhookURL is the controller's webhook receiver (its root).
	WebhookURL string
	// Configure, when set before Run, changes the controller's options
	// (a suite that serves the web UI, or waits before self-healing).
	Configure func(*controller.Options)
}

// Run starts the environment (full mode, one node, the controller as the
// non-admin user with a 2 s poll interval and the argocd namespace), runs
// the tests, stops everything and returns the exit code: non-zero when a test
// failed or a process outlived the suite.
func Run(m *testing.M, env *Env) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pids := c.PIDs()
	code := 0
	defer func() {
		if err := c.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		for name, pid := range pids {
			if localcluster.Alive(pid) {
				fmt.Fprintf(os.Stderr, "%s (pid %d) still running after the suite\n", name, pid)
				os.Exit(1)
			}
		}
	}()
	env.Cluster = c
	env.Logs = &SyncBuffer{}
	ctrl.SetLogger(zap.New(zap.WriteTo(env.Logs), zap.UseDevMode(true)))
	if err := setUp(ctx, env); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cacheDir, err := os.MkdirTemp("", "ferry-git-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(cacheDir)
	metricsAddr, webhookAddr := FreeAddr(), FreeAddr()
	if metricsAddr == "" || webhookAddr == "" {
		fmt.Fprintln(os.Stderr, "no free loopback port")
		return 1
	}
	env.MetricsURL, env.WebhookURL = "http://"+metricsAddr+"/metrics", "http://"+webhookAddr
	done := make(chan error, 1)
	opts := controller.Options{
		PollInterval: 2 * time.Second, Concurrency: 4, MetricsAddr: metricsAddr, HealthAddr: "0", CacheDir: cacheDir, WebhookAddr: webhookAddr,
		// Applications in apps-* namespaces are served too (their
		// project must still list the namespace).
		ApplicationNamespaces: []string{"apps-*"},
		// The tests' repositories are file:// ones made on this disk.
		AllowLocalRepositories: true,
	}
	if env.Configure != nil {
		env.Configure(&opts)
	}
	go func() { done <- controller.Run(ctx, c.UserConfig(), opts) }()
	code = m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- controller log (last 8 KiB) ---\n%s\n", env.Logs.Tail(8192))
	}
	return code
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer l.Close()
	return l.Addr().String()
}

// setUp installs the CRDs (as admin), creates the argocd namespace and the
// user's client.
func setUp(ctx context.Context, env *Env) error {
	admin, err := client.New(env.Cluster.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return err
	}
	if err := crd.Install(ctx, admin); err != nil {
		return err
	}
	env.Client, err = client.NewWithWatch(env.Cluster.UserConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}
	if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace argocd: %w", err)
	}
	return nil
}

// SyncBuffer collects a log for assertions.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; safe for concurrent use.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n bytes.
func (b *SyncBuffer) Tail(n int) string {
	s := b.String()
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
