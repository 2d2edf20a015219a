package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/localcluster"
)

// scaleBenchmark creates cfg.apps Applications, waits until all are Synced,
// then measures one idle resync (one poll interval with nothing changed),
// then a change sync (one object of each Application changed in Git). The
// API requests per Application by kind are reported for the cold sync
// (until all are Synced, and until all are Healthy and the controller
// quiet) and for the change sync.
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
	restRequests := mCold1.sum("rest_client_requests_total", nil) - mCold0.sum("rest_client_requests_total", nil)
	rows := []row{
		{fmt.Sprintf("%d apps × 4 objects, cold → all Synced", cfg.apps), cold.Round(100 * time.Millisecond).String(), "≤ 60 s (aim 20 s)"},
		{"  controller CPU during cold sync", fmt.Sprintf("%.1f s", ctrlCPU1-ctrlCPU0), ""},
		{"  kube-apiserver CPU during cold sync", fmt.Sprintf("%.1f s", apiCPU1-apiCPU0), ""},
		{"  controller API requests during cold sync", fmt.Sprintf("%.0f (%.2f per object: %s)", restRequests, restRequests/objects, byMethod(mCold0, mCold1)), ""},
		{"  controller peak RSS after cold sync", fmt.Sprintf("%.0f MiB (%.1f KiB per object)", float64(rssCold)/(1<<20), float64(rssCold)/1024/objects), "≤ 56 KiB/object (aim 20)"},
	}
	byKind := []requestColumn{{"cold → Synced", requestsPer(mCold0, mCold1, cfg.apps)}}
	if cfg.coldOnly {
		return append(rows, requestRows(byKind)...), nil
	}

	// Let the Deployments roll out (the controller manager reports all
	// 1,000), then wait for the controller to make no write for 5 s, then
	// measure one poll interval.
	if _, err := watchApps(ctx, c, cfg.apps, healthyAt(head), func() error { return nil }); err != nil {
		return append(rows, requestRows(byKind)...), err // the cold sync's figures still count
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
	rows = append(rows, []row{
		{"  cold → all Healthy (Deployments rolled out by the controller manager)", healthy.Round(100 * time.Millisecond).String(), ""},
		{fmt.Sprintf("idle resync (one %s poll interval): reconciles", cfg.pollInterval), fmt.Sprintf("%.0f", reconciles), fmt.Sprintf("≈ %d", cfg.apps)},
		{"  writes", fmt.Sprintf("%.0f (%s)", writes, byMethod(m0, m1)), "0"},
		{"  API requests per managed object", fmt.Sprintf("%.3f (%.0f in all)", requests/objects, requests), "≤ 1 (aim 0)"},
		{"  controller CPU", fmt.Sprintf("%.2f s", ctrlCPU3-ctrlCPU2), ""},
		{"  kube-apiserver CPU", fmt.Sprintf("%.2f s", apiCPU3-apiCPU2), ""},
		{"  controller peak RSS", fmt.Sprintf("%.0f MiB (%.1f KiB per object)", float64(rss)/(1<<20), float64(rss)/1024/objects), "≤ 56 KiB/object (aim 20)"},
		{"  git ref listings / fetches / clones", fmt.Sprintf("%.0f / %.0f / %.0f", gitOps("ls-remote"), gitOps("fetch"), gitOps("clone")), "1 listing per repository"},
	}...)
	// The requests the cold sync's writes bring after all are Synced
	// (re-comparisons after the Deployment controller's writes, health
	// changes) belong to it too.
	byKind = append(byKind, requestColumn{"cold → Healthy", requestsPer(mCold0, m0, cfg.apps)})
	change, err := changeSync(ctx, c, r, cfg.apps, metricsURL)
	if err == nil {
		byKind = append(byKind, requestColumn{"change", change})
	}
	return append(rows, requestRows(byKind)...), err
}

// changeSync commits a change to one object of every Application (a label
// on its Service), lets the controller's next poll find it, and returns
// the growth of ferry_api_requests_total per Application by kind until all
// are Synced at the new commit and the controller has written nothing for
// 5 s: what a change sync costs the API server.
func changeSync(ctx context.Context, c client.WithWatch, r *repo, apps int, metricsURL string) (map[string]float64, error) {
	m0, err := scrape(ctx, metricsURL)
	if err != nil {
		return nil, err
	}
	for i := range apps {
		name := fmt.Sprintf("app-%04d", i)
		changed := strings.Replace(podinfo(name), "kind: Service\nmetadata:\n  name: "+name+"\n",
			"kind: Service\nmetadata:\n  name: "+name+"\n  labels:\n    bench/change: \"1\"\n", 1)
		if changed == podinfo(name) {
			return nil, fmt.Errorf("change: no Service in %s's objects", name)
		}
		if err := r.write("apps/"+name+"/app.yaml", changed); err != nil {
			return nil, err
		}
	}
	head, err := r.commit("change: a label on every Service")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "change: a label on the Service of each of %d applications, found by the next poll\n", apps)
	began := time.Now()
	if _, err := watchApps(ctx, c, apps, syncedAt(head), func() error { return nil }); err != nil {
		return nil, fmt.Errorf("change sync: %w", err)
	}
	fmt.Fprintf(os.Stderr, "change: all %d Synced at the new commit %s after the commit\n", apps, time.Since(began).Round(time.Millisecond))
	m1, err := settle(ctx, metricsURL, 5*time.Second, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	return requestsPer(m0, m1, apps), nil
}

// requestColumn is one phase's API requests per Application, by kind.
type requestColumn struct {
	phase  string
	perApp map[string]float64
}

// requestRows are the API requests per Application by kind
// (ferry_api_requests_total), one value per phase; kinds no phase made are
// left out.
func requestRows(cols []requestColumn) []row {
	phases, totals := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		var sum float64
		for _, v := range c.perApp {
			sum += v
		}
		phases[i], totals[i] = c.phase, perApp(sum)
	}
	rows := []row{{"API requests per app: " + strings.Join(phases, " / "), strings.Join(totals, " / ") + " in all", ""}}
	for _, kind := range apiRequestKinds() {
		values, made := make([]string, len(cols)), false
		for i, c := range cols {
			values[i] = perApp(c.perApp[kind])
			made = made || c.perApp[kind] != 0
		}
		if made {
			rows = append(rows, row{"  " + kind, strings.Join(values, " / "), ""})
		}
	}
	return rows
}

// perApp prints a number of requests per Application: two decimals, three
// when it is under 0.01 (a few requests among all Applications).
func perApp(v float64) string {
	if v != 0 && v < 0.01 {
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2f", v)
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
				return len(done), fmt.Errorf("watch of Applications closed after %d of %d", len(done), want)
			}
			if ev.Type == watch.Error {
				return len(done), fmt.Errorf("watch of Applications: %w", apierrors.FromObject(ev.Object))
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
