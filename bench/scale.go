package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/localcluster"
)

// scaleBenchmark creates cfg.apps Applications, waits until all are Synced,
// then measures one idle resync (one poll interval with nothing changed).
func scaleBenchmark(ctx context.Context, c client.WithWatch, r *repo, cfg config, p *controllerProcess, cluster *localcluster.Cluster, metricsURL string) ([]row, error) {
	head, err := r.git("rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	apiserver := cluster.PIDs()["kube-apiserver"]
	ctrlCPU0, _ := cpuSeconds(p.pid())
	apiCPU0, _ := cpuSeconds(apiserver)
	mCold0, err := scrape(ctx, metricsURL)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "scale: %d applications × 4 objects\n", cfg.apps)
	began := time.Now()
	synced, err := watchApps(ctx, c, cfg.apps, syncedAt(head), func() error { return createApps(ctx, c, r, cfg.apps) })
	if err != nil {
		return nil, err
	}
	cold := time.Since(began)
	ctrlCPU1, _ := cpuSeconds(p.pid())
	apiCPU1, _ := cpuSeconds(apiserver)
	rssCold, _ := peakRSS(p.pid())
	mCold1, err := scrape(ctx, metricsURL)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "scale: all %d Synced in %s\n", synced, cold.Round(time.Millisecond))
	objects := float64(cfg.apps * 4)
	coldRequests := mCold1.sum("rest_client_requests_total", nil) - mCold0.sum("rest_client_requests_total", nil)
	rows := []row{
		{fmt.Sprintf("%d apps × 4 objects, cold → all Synced", cfg.apps), cold.Round(100 * time.Millisecond).String(), "≤ 60 s (aim 20 s)"},
		{"  controller CPU during cold sync", fmt.Sprintf("%.1f s", ctrlCPU1-ctrlCPU0), ""},
		{"  kube-apiserver CPU during cold sync", fmt.Sprintf("%.1f s", apiCPU1-apiCPU0), ""},
		{"  controller API requests during cold sync", fmt.Sprintf("%.0f (%.2f per object: %s)", coldRequests, coldRequests/objects, byMethod(mCold0, mCold1)), ""},
		{"  controller peak RSS after cold sync", fmt.Sprintf("%.0f MiB (%.1f KiB per object)", float64(rssCold)/(1<<20), float64(rssCold)/1024/objects), "≤ 56 KiB/object (aim 20)"},
	}
	if cfg.coldOnly {
		return rows, nil
	}

	// Let the Deployments roll out (the controller manager reports all
	// 1,000), then wait for the controller to make no write for 5 s, then
	// measure one poll interval.
	if _, err := watchApps(ctx, c, cfg.apps, healthyAt(head), func() error { return nil }); err != nil {
		return nil, err
	}
	healthy := time.Since(began)
	fmt.Fprintf(os.Stderr, "scale: all Healthy after %s\n", healthy.Round(time.Millisecond))
	m0, err := settle(ctx, metricsURL, 5*time.Second, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	ctrlCPU2, _ := cpuSeconds(p.pid())
	apiCPU2, _ := cpuSeconds(apiserver)
	fmt.Fprintf(os.Stderr, "idle: measuring one poll interval (%s)\n", cfg.pollInterval)
	time.Sleep(cfg.pollInterval + 2*time.Second)
	m1, err := scrape(ctx, metricsURL)
	if err != nil {
		return nil, err
	}
	ctrlCPU3, _ := cpuSeconds(p.pid())
	apiCPU3, _ := cpuSeconds(apiserver)
	rss, _ := peakRSS(p.pid())

	delta := func(name string, match func(map[string]string) bool) float64 {
		return m1.sum(name, match) - m0.sum(name, match)
	}
	requests := delta("rest_client_requests_total", nil)
	writes := delta("rest_client_requests_total", isWrite)
	reconciles := delta("controller_runtime_reconcile_total", isAppController)
	gitOps := func(op string) float64 {
		return delta("ferry_git_operations_total", func(l map[string]string) bool { return l["operation"] == op })
	}
	return append(rows, []row{
		{"  cold → all Healthy (Deployments rolled out by the controller manager)", healthy.Round(100 * time.Millisecond).String(), ""},
		{fmt.Sprintf("idle resync (one %s poll interval): reconciles", cfg.pollInterval), fmt.Sprintf("%.0f", reconciles), fmt.Sprintf("≈ %d", cfg.apps)},
		{"  writes", fmt.Sprintf("%.0f (%s)", writes, byMethod(m0, m1)), "0"},
		{"  API requests per managed object", fmt.Sprintf("%.3f (%.0f in all)", requests/objects, requests), "≤ 1 (aim 0)"},
		{"  controller CPU", fmt.Sprintf("%.2f s", ctrlCPU3-ctrlCPU2), ""},
		{"  kube-apiserver CPU", fmt.Sprintf("%.2f s", apiCPU3-apiCPU2), ""},
		{"  controller peak RSS", fmt.Sprintf("%.0f MiB (%.1f KiB per object)", float64(rss)/(1<<20), float64(rss)/1024/objects), "≤ 56 KiB/object (aim 20)"},
		{"  git ref listings / fetches / clones", fmt.Sprintf("%.0f / %.0f / %.0f", gitOps("ls-remote"), gitOps("fetch"), gitOps("clone")), "1 listing per repository"},
	}...), nil
}

func createApps(ctx context.Context, c client.Client, r *repo, n int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			name := fmt.Sprintf("app-%04d", i)
			app := application(name, fmt.Sprintf("bench-%d", i%namespaces), r.url(), "apps/"+name, false)
			return c.Create(ctx, app)
		})
	}
	return g.Wait()
}

func syncedAt(revision string) func(*v1alpha1.Application) bool {
	return func(a *v1alpha1.Application) bool {
		return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced && a.Status.Sync.Revision == revision
	}
}

func healthyAt(revision string) func(*v1alpha1.Application) bool {
	return func(a *v1alpha1.Application) bool {
		return syncedAt(revision)(a) && a.Status.Health.Status == v1alpha1.HealthStatusHealthy
	}
}

// watchApps runs act, then watches Applications until want of them satisfy
// cond.
func watchApps(ctx context.Context, c client.WithWatch, want int, cond func(*v1alpha1.Application) bool, act func() error) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	w, err := c.Watch(ctx, &v1alpha1.ApplicationList{}, client.InNamespace("argocd"))
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	errs := make(chan error, 1)
	go func() { errs <- act() }()
	done := map[string]bool{}
	for {
		select {
		case err := <-errs:
			if err != nil {
				return 0, fmt.Errorf("create applications: %w", err)
			}
		case <-ctx.Done():
			return len(done), fmt.Errorf("%d of %d reached: %w", len(done), want, ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return len(done), fmt.Errorf("watch closed")
			}
			app, isApp := ev.Object.(*v1alpha1.Application)
			if !isApp || ev.Type == watch.Deleted || app.Name == "latency" {
				continue
			}
			if cond(app) {
				done[app.Name] = true
			} else {
				delete(done, app.Name)
			}
			if len(done) >= want {
				return len(done), nil
			}
		}
	}
}

// settle waits until the controller has made no write for quiet, at most
// limit, and returns the last scrape.
func settle(ctx context.Context, url string, quiet, limit time.Duration) (metrics, error) {
	deadline := time.Now().Add(limit)
	last, err := scrape(ctx, url)
	if err != nil {
		return nil, err
	}
	lastChange := time.Now()
	for time.Since(lastChange) < quiet && time.Now().Before(deadline) {
		time.Sleep(time.Second)
		m, err := scrape(ctx, url)
		if err != nil {
			return nil, err
		}
		if m.sum("rest_client_requests_total", isWrite) != last.sum("rest_client_requests_total", isWrite) {
			lastChange = time.Now()
		}
		last = m
	}
	return last, nil
}

func byMethod(m0, m1 metrics) string {
	out := ""
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE", "GET"} {
		match := func(l map[string]string) bool { return l["method"] == method }
		if n := m1.sum("rest_client_requests_total", match) - m0.sum("rest_client_requests_total", match); n > 0 {
			out += fmt.Sprintf("%s %.0f ", method, n)
		}
	}
	return out
}
