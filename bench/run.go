package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/config/crd"
	"github.com/ferrycd/ferry/internal/localcluster"
)

const namespaces = 10

func run(ctx context.Context, cfg config) error {
	ferry, err := ferryBinary(ctx, cfg.ferry)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	c, admin, repo, err := setup(ctx, cfg, work)
	if err != nil {
		return err
	}
	defer c.Stop(context.WithoutCancel(ctx))
	ctrlProc, metricsURL, err := startController(ctx, ferry, c, work, cfg)
	if err != nil {
		return err
	}
	defer ctrlProc.stop()

	var results []row
	hookSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret", Namespace: "argocd"},
		StringData: map[string]string{"webhook.github.secret": benchWebhookSecret}}
	if err := admin.Create(ctx, hookSecret); err != nil {
		return err
	}
	lat, err := latencyBenchmarks(ctx, admin, repo, cfg.samples, ctrlProc.webhookURL)
	if err != nil {
		return err
	}
	results = append(results, lat...)
	scale, err := scaleBenchmark(ctx, admin, repo, cfg, ctrlProc, c, metricsURL)
	results = append(results, scale...)
	printTable(os.Stdout, cfg, results)
	return err
}

// ferryBinary returns the absolute path of the ferry binary to measure;
// the default bin/ferry is built with make build when it is not there (a
// fresh clone needs only make kube).
func ferryBinary(ctx context.Context, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err == nil || path != "bin/ferry" {
		return abs, nil
	}
	fmt.Fprintln(os.Stderr, "building bin/ferry (make build)")
	cmd := exec.CommandContext(ctx, "make", "build")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("make build: %w", err)
	}
	return abs, nil
}

// setup starts the local control plane with Ferry's CRDs and the
// benchmark's namespaces, and writes a repository of cfg.apps application
// paths in work. The caller stops the control plane.
func setup(ctx context.Context, cfg config, work string) (c *localcluster.Cluster, admin client.WithWatch, r *repo, err error) {
	fmt.Fprintln(os.Stderr, "starting the local control plane")
	c, err = localcluster.Start(ctx, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 1, BinDir: cfg.kubeDir})
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			c.Stop(context.WithoutCancel(ctx))
		}
	}()
	admin, err = client.NewWithWatch(c.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := crd.Install(ctx, admin); err != nil {
		return nil, nil, nil, err
	}
	admin, err = client.NewWithWatch(c.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return nil, nil, nil, err
	}
	for _, ns := range append([]string{"argocd", "latency"}, benchNamespaces()...) {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, nil, nil, err
		}
	}
	fmt.Fprintf(os.Stderr, "writing a repository with %d application paths\n", cfg.apps)
	r, err = newRepo(filepath.Join(work, "repo"), cfg.apps)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, admin, r, nil
}

func benchNamespaces() []string {
	ns := make([]string, namespaces)
	for i := range ns {
		ns[i] = "bench-" + strconv.Itoa(i)
	}
	return ns
}

// row is one line of the results table.
type row struct {
	name, value, target string
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// process is a ferry process under measurement.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
}

// startProcess starts cmd and watches for its exit.
func startProcess(cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop interrupts the process and waits for it to exit, killing it after
// 20 s.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// controllerProcess is the ferry controller under measurement.
type controllerProcess struct {
	*process
	// webhookURL is the controller's webhook receiver.
	webhookURL string
}

// startController starts a controller with its log and Git cache in dir,
// with extra flags, and waits until it serves metrics.
func startController(ctx context.Context, ferry string, c *localcluster.Cluster, dir string, cfg config, extra ...string) (*controllerProcess, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	hookPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	log, err := os.Create(filepath.Join(dir, "controller.log"))
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(ferry, "controller", "--kubeconfig", c.KubeconfigPath(), "--context", localcluster.UserContext,
		"--poll-interval", cfg.pollInterval.String(), "--concurrency", strconv.Itoa(cfg.concurrency), "--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--health-probe-bind-address", "0", "--cache-dir", filepath.Join(dir, "git-cache"), "--install-crds=false",
		"--webhook-bind-address", fmt.Sprintf("127.0.0.1:%d", hookPort),
		"--allow-local-repositories") // the benchmark's repository is a file:// one
	cmd.Args = append(cmd.Args, extra...)
	cmd.Stdout, cmd.Stderr = log, log
	proc, err := startProcess(cmd)
	if err != nil {
		return nil, "", fmt.Errorf("start %s controller: %w", ferry, err)
	}
	p := &controllerProcess{process: proc, webhookURL: fmt.Sprintf("http://127.0.0.1:%d/api/webhook", hookPort)}
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := scrape(ctx, url); err == nil {
			return p, url, nil
		}
		select {
		case <-p.done:
			out, _ := os.ReadFile(log.Name())
			return nil, "", fmt.Errorf("controller exited; its log's end:\n%s", out[max(0, len(out)-4000):])
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, "", fmt.Errorf("controller metrics not served at %s", url)
		}
	}
}
