package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/render"
)

// Kinds of cold run in the Helm control-plane benchmark.
const (
	helmRunChart = "Helm chart from a Helm repository"
	helmRunGit   = "Git directory, the same objects"
)

// helmColdRun is one cold sync of cfg.apps Applications on a fresh control
// plane, and, unless -cold-only, one idle poll interval after it.
type helmColdRun struct {
	kind    string
	objects int // per Application
	cold    time.Duration
	healthy time.Duration // 0 with -cold-only
	ctrlCPU float64
	apiCPU  float64
	rss     int64
	// m0 and m1 are the controller's metrics before the first Application
	// and once all are Synced.
	m0, m1 metrics
	// indexServed and chartServed are the requests the Helm repository
	// served during the cold sync.
	indexServed, chartServed int

	idle *helmIdle
}

// helmIdle is one poll interval with nothing changed.
type helmIdle struct {
	m0, m1                   metrics
	ctrlCPU                  float64
	rss                      int64
	indexServed, chartServed int
}

// helmScale runs the cold sync of cfg.apps Applications of the benchmark's
// chart from a Helm repository on loopback, then (unless
// -helm-baseline=false), on another fresh control plane, of cfg.apps
// Applications whose Git directories hold the objects the chart renders
// for them, so the Helm path's own cost shows beside Ferry's ordinary one
// on the same machine in the same run (-helm-baseline-first runs that one
// first, to see what the order does).
func helmScale(ctx context.Context, cfg config, archivePath string) ([]helmColdRun, error) {
	ferry, err := ferryBinary(ctx, cfg.ferry)
	if err != nil {
		return nil, err
	}
	kinds := []string{helmRunChart}
	switch {
	case cfg.helmBaselineFirst:
		kinds = []string{helmRunGit, helmRunChart}
	case cfg.helmBaseline:
		kinds = append(kinds, helmRunGit)
	}
	var runs []helmColdRun
	for _, kind := range kinds {
		run, err := helmColdSync(ctx, cfg, ferry, kind, archivePath)
		if err != nil {
			return runs, fmt.Errorf("%s: %w", kind, err)
		}
		runs = append(runs, run)
	}
	return runs, nil
}

// scaleAppValues are Application i's values: its own message, port, log
// level and ingress host; no replicas (as the scale benchmark's
// Deployments) and no autoscaling (an HPA's minReplicas is at least 1: the
// controller manager would start a Pod per Application, and the machine's
// two cores would measure the scheduler and kwok). 5 objects.
func scaleAppValues(i int) map[string]any {
	name := fmt.Sprintf("app-%04d", i)
	return map[string]any{
		"message":      name + " says hello",
		"replicaCount": 0,
		"service":      map[string]any{"port": 9000 + i%100},
		"config":       map[string]any{"logLevel": []string{"info", "debug", "warn"}[i%3]},
		"ingress":      map[string]any{"enabled": true, "host": name + ".example.com"},
		"podLabels":    map[string]any{"team": fmt.Sprintf("team-%d", i%7)},
	}
}

func helmColdSync(ctx context.Context, cfg config, ferry, kind, archivePath string) (helmColdRun, error) {
	res := helmColdRun{kind: kind}
	work, err := os.MkdirTemp("", "ferry-bench-helm-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	noPaths := cfg
	noPaths.apps = 0 // the applications' paths, if any, are written below
	c, admin, r, err := setup(ctx, noPaths, work)
	if err != nil {
		return res, err
	}
	defer c.Stop(context.WithoutCancel(ctx))

	var revision string
	var create func() error
	var repo *chartRepo
	switch kind {
	case helmRunChart:
		if repo, err = serveChartRepo(filepath.Dir(archivePath)); err != nil {
			return res, err
		}
		defer repo.stop()
		revision = benchChartVersion
		create = func() error { return createChartApps(ctx, admin, repo.url, cfg.apps) }
	case helmRunGit:
		if res.objects, err = writeRenderedApps(ctx, r, archivePath, cfg.apps); err != nil {
			return res, err
		}
		if revision, err = r.commit("the chart's objects"); err != nil {
			return res, err
		}
		create = func() error { return createApps(ctx, admin, r, cfg.apps) }
	}
	p, metricsURL, err := startController(ctx, ferry, c, work, cfg)
	if err != nil {
		return res, err
	}
	defer p.stop()
	served := func() (index, chart int) {
		if repo == nil {
			return 0, 0
		}
		return repo.served("/index.yaml"), repo.served(fmt.Sprintf("/%s-%s.tgz", benchChartName, benchChartVersion))
	}

	apiserver := c.PIDs()["kube-apiserver"]
	ctrlCPU0, apiCPU0 := must(cpuSeconds(p.pid())), must(cpuSeconds(apiserver))
	if res.m0, err = scrape(ctx, metricsURL); err != nil {
		return res, err
	}
	stopPerf := func() {}
	if cfg.controllerPerf != "" && kind == helmRunChart {
		if stopPerf, err = perfRecord(cfg.controllerPerf, p.pid()); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(os.Stderr, "helm: %s, %d applications\n", kind, cfg.apps)
	began := time.Now()
	if _, err := watchApps(ctx, admin, cfg.apps, syncedAt(revision), create); err != nil {
		stopPerf()
		return res, err
	}
	res.cold = time.Since(began)
	stopPerf()
	res.ctrlCPU, res.apiCPU = must(cpuSeconds(p.pid()))-ctrlCPU0, must(cpuSeconds(apiserver))-apiCPU0
	res.rss = must(peakRSS(p.pid()))
	if res.m1, err = scrape(ctx, metricsURL); err != nil {
		return res, err
	}
	res.indexServed, res.chartServed = served()
	if kind == helmRunChart {
		res.objects = scaleObjects
	}
	fmt.Fprintf(os.Stderr, "helm: all %d Synced in %s\n", cfg.apps, res.cold.Round(time.Millisecond))
	if cfg.coldOnly {
		return res, nil
	}

	if _, err := watchApps(ctx, admin, cfg.apps, healthyAt(revision), func() error { return nil }); err != nil {
		return res, err
	}
	res.healthy = time.Since(began)
	fmt.Fprintf(os.Stderr, "helm: all Healthy after %s\n", res.healthy.Round(time.Millisecond))
	idle := &helmIdle{}
	if idle.m0, err = settle(ctx, metricsURL, 5*time.Second, 2*time.Minute); err != nil {
		return res, err
	}
	cpu0 := must(cpuSeconds(p.pid()))
	index0, chart0 := served()
	fmt.Fprintf(os.Stderr, "helm: idle, one poll interval (%s)\n", cfg.pollInterval)
	select {
	case <-time.After(cfg.pollInterval + 2*time.Second):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if idle.m1, err = scrape(ctx, metricsURL); err != nil {
		return res, err
	}
	idle.ctrlCPU = must(cpuSeconds(p.pid())) - cpu0
	idle.rss = must(peakRSS(p.pid()))
	index1, chart1 := served()
	idle.indexServed, idle.chartServed = index1-index0, chart1-chart0
	res.idle = idle
	return res, nil
}

// scaleObjects is what the chart renders for scaleAppValues (checked by
// writeRenderedApps, which renders them all).
const scaleObjects = 5

// createChartApps creates n automated Applications of the benchmark's
// chart, each with its own valuesObject, over the benchmark's namespaces.
func createChartApps(ctx context.Context, c client.Client, repoURL string, n int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			name := fmt.Sprintf("app-%04d", i)
			values, err := json.Marshal(scaleAppValues(i))
			if err != nil {
				return err
			}
			app := application(name, fmt.Sprintf("bench-%d", i%namespaces), repoURL, "", false)
			app.Spec.Source.Chart, app.Spec.Source.TargetRevision = benchChartName, benchChartVersion
			app.Spec.Source.Helm = &v1alpha1.ApplicationSourceHelm{ValuesObject: &k8sruntime.RawExtension{Raw: values}}
			return c.Create(ctx, app)
		})
	}
	return g.Wait()
}

// writeRenderedApps renders the chart for each Application's values, as
// the controller would (release = the Application's name, namespace = its
// destination), and writes the objects to apps/app-NNNN/ in r. It returns
// the objects per Application.
func writeRenderedApps(ctx context.Context, r *repo, archivePath string, n int) (int, error) {
	archive, err := os.ReadFile(archivePath)
	if err != nil {
		return 0, err
	}
	rr := render.NewRenderer(render.Limits{})
	for i := range n {
		name := fmt.Sprintf("app-%04d", i)
		raw, err := json.Marshal(scaleAppValues(i))
		if err != nil {
			return 0, err
		}
		var values map[string]any
		if err := json.Unmarshal(raw, &values); err != nil {
			return 0, err
		}
		out, err := rr.RenderChart(ctx, archive, render.Source{Helm: &render.HelmOptions{
			ReleaseName: name, Namespace: fmt.Sprintf("bench-%d", i%namespaces), ValuesObject: values, KubeVersion: benchKubeVersion}})
		if err != nil {
			return 0, err
		}
		if len(out.Objects) != scaleObjects {
			return 0, fmt.Errorf("%s: the chart rendered %d objects, want %d", name, len(out.Objects), scaleObjects)
		}
		var docs []string
		for _, o := range out.Objects {
			y, err := yaml.Marshal(o.Object)
			if err != nil {
				return 0, err
			}
			docs = append(docs, string(y))
		}
		if err := r.write("apps/"+name+"/objects.yaml", strings.Join(docs, "---\n")); err != nil {
			return 0, err
		}
	}
	return scaleObjects, nil
}

// perfRecord samples pid's stacks with perf (99 Hz) into out until the
// returned function is called.
func perfRecord(out string, pid int) (func(), error) {
	cmd := exec.Command("perf", "record", "-F", "99", "-g", "-p", fmt.Sprint(pid), "-o", out)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}, nil
}

func printHelmScaleTable(w io.Writer, cfg config, runs []helmColdRun) {
	fmt.Fprintf(w, "Ferry Helm control-plane benchmark: %d Applications, cold → all Synced on a fresh control plane each, %d CPUs, %s, concurrency %d, poll interval %s\n\n",
		cfg.apps, runtime.NumCPU(), runtime.Version(), cfg.concurrency, cfg.pollInterval)
	header := []string{"measure"}
	for _, r := range runs {
		header = append(header, fmt.Sprintf("%s (%d objects each)", r.kind, r.objects))
	}
	rows := [][]string{header}
	line := func(name string, cell func(r helmColdRun) string) {
		row := []string{name}
		for _, r := range runs {
			row = append(row, cell(r))
		}
		rows = append(rows, row)
	}
	renders := func(m0, m1 metrics, r helmColdRun) (float64, float64) {
		match := func(l map[string]string) bool { return l["source_type"] == renderType(r.kind) }
		c1, s1 := m1.histogram("ferry_render_duration_seconds", match)
		c0, s0 := m0.histogram("ferry_render_duration_seconds", match)
		return c1 - c0, s1 - s0
	}
	downloads := func(m0, m1 metrics, kind string) float64 {
		match := func(l map[string]string) bool { return l["kind"] == kind }
		c1, _ := m1.histogram("ferry_chart_download_duration_seconds", match)
		c0, _ := m0.histogram("ferry_chart_download_duration_seconds", match)
		return c1 - c0
	}
	gitOps := func(m0, m1 metrics) string {
		op := func(op string) float64 {
			match := func(l map[string]string) bool { return l["operation"] == op }
			return m1.sum("ferry_git_operations_total", match) - m0.sum("ferry_git_operations_total", match)
		}
		return fmt.Sprintf("%.0f / %.0f / %.0f", op("ls-remote"), op("fetch"), op("clone"))
	}
	objects := func(r helmColdRun) float64 { return float64(cfg.apps * r.objects) }
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }

	line("cold → all Synced", func(r helmColdRun) string { return fmt.Sprintf("%.1f s", r.cold.Seconds()) })
	if !cfg.coldOnly {
		line("  cold → all Healthy (Deployments rolled out by the controller manager)", func(r helmColdRun) string {
			return fmt.Sprintf("%.1f s", r.healthy.Seconds())
		})
	}
	line("  controller CPU during cold sync", func(r helmColdRun) string { return fmt.Sprintf("%.1f s", r.ctrlCPU) })
	line("  kube-apiserver CPU during cold sync", func(r helmColdRun) string { return fmt.Sprintf("%.1f s", r.apiCPU) })
	line("  controller API requests during cold sync", func(r helmColdRun) string {
		n := r.m1.sum("rest_client_requests_total", nil) - r.m0.sum("rest_client_requests_total", nil)
		return fmt.Sprintf("%.0f (%s)", n, strings.TrimSpace(byMethod(r.m0, r.m1)))
	})
	line("  controller peak RSS after cold sync", func(r helmColdRun) string {
		return fmt.Sprintf("%.0f MiB (%.1f KiB per object)", mib(r.rss), float64(r.rss)/1024/objects(r))
	})
	line("  renders (ferry_render_duration_seconds _count)", func(r helmColdRun) string {
		n, _ := renders(r.m0, r.m1, r)
		return fmt.Sprintf("%.0f %s", n, renderType(r.kind))
	})
	line("  render time: sum (mean per render)", func(r helmColdRun) string {
		n, s := renders(r.m0, r.m1, r)
		return fmt.Sprintf("%.1f s (%.1f ms)", s, 1000*s/max(n, 1))
	})
	line("  chart repository downloads, index / chart (ferry_chart_download_duration_seconds _count)", func(r helmColdRun) string {
		if r.kind != helmRunChart {
			return "–"
		}
		return fmt.Sprintf("%.0f / %.0f", downloads(r.m0, r.m1, "index"), downloads(r.m0, r.m1, "chart"))
	})
	line("  requests the Helm repository served, index.yaml / .tgz", func(r helmColdRun) string {
		if r.kind != helmRunChart {
			return "–"
		}
		return fmt.Sprintf("%d / %d", r.indexServed, r.chartServed)
	})
	line("  git ref listings / fetches / clones", func(r helmColdRun) string { return gitOps(r.m0, r.m1) })
	if cfg.coldOnly {
		printGrid(w, rows)
		return
	}
	idle := func(f func(r helmColdRun, i *helmIdle) string) func(helmColdRun) string {
		return func(r helmColdRun) string {
			if r.idle == nil {
				return "–"
			}
			return f(r, r.idle)
		}
	}
	line(fmt.Sprintf("idle (one %s poll interval): reconciles", cfg.pollInterval), idle(func(r helmColdRun, i *helmIdle) string {
		return fmt.Sprintf("%.0f", i.m1.sum("controller_runtime_reconcile_total", isAppController)-i.m0.sum("controller_runtime_reconcile_total", isAppController))
	}))
	line("  renders", idle(func(r helmColdRun, i *helmIdle) string {
		n, _ := renders(i.m0, i.m1, r)
		return fmt.Sprintf("%.0f", n)
	}))
	line("  API requests (writes)", idle(func(r helmColdRun, i *helmIdle) string {
		n := i.m1.sum("rest_client_requests_total", nil) - i.m0.sum("rest_client_requests_total", nil)
		wr := i.m1.sum("rest_client_requests_total", isWrite) - i.m0.sum("rest_client_requests_total", isWrite)
		return fmt.Sprintf("%.0f (%.0f)", n, wr)
	}))
	line("  chart repository downloads, index / chart", idle(func(r helmColdRun, i *helmIdle) string {
		if r.kind != helmRunChart {
			return "–"
		}
		return fmt.Sprintf("%.0f / %.0f (served %d / %d)", downloads(i.m0, i.m1, "index"), downloads(i.m0, i.m1, "chart"), i.indexServed, i.chartServed)
	}))
	line("  git ref listings / fetches / clones", idle(func(r helmColdRun, i *helmIdle) string { return gitOps(i.m0, i.m1) }))
	line("  controller CPU", idle(func(r helmColdRun, i *helmIdle) string { return fmt.Sprintf("%.2f s", i.ctrlCPU) }))
	line("  controller peak RSS", idle(func(r helmColdRun, i *helmIdle) string { return fmt.Sprintf("%.0f MiB", mib(i.rss)) }))
	printGrid(w, rows)
}

// renderType is the source_type label of a run's renders.
func renderType(kind string) string {
	if kind == helmRunChart {
		return render.TypeHelm
	}
	return render.TypeDirectory
}
