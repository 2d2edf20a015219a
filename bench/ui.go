package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"golang.org/x/sync/errgroup"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/config/crd"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/ui/uitest"
)

// uiBench is -ui: the web UI with cfg.apps Applications, served by
// `ferry ui` (its own process, the admin's kubeconfig) from a control plane
// with no controller, so nothing but the benchmark changes the
// Applications. It measures
//
//  1. the server's time for list pages (the first page, the largest page,
//     a filtered one, tiles), over HTTP with a signed-in session;
//  2. a real headless Chromium loading the first page: first contentful
//     paint and interactive (ui.js has run: handlers bound, the event
//     stream opening), from the navigation's start;
//  3. a burst: every Application's status changed at once (as a controller
//     finishing a sync of all of them would), with 500 rows on the page:
//     when the stream has carried all of them, when the page shows them,
//     and the longest the page went without a frame.
func uiBench(ctx context.Context, cfg config) error {
	ferry, err := ferryBinary(ctx, cfg.ferry)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "starting the local control plane (API server only: no controller changes anything)")
	c, err := localcluster.Start(ctx, localcluster.Options{Mode: localcluster.ModeAPI, BinDir: cfg.kubeDir})
	if err != nil {
		return err
	}
	defer c.Stop(context.WithoutCancel(ctx))
	admin, err := client.New(c.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return err
	}
	if err := crd.Install(ctx, admin); err != nil {
		return err
	}
	if admin, err = client.New(c.AdminConfig(), client.Options{Scheme: api.NewScheme()}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "creating %d Applications with statuses\n", cfg.apps)
	if err := createUIApps(ctx, admin, cfg.apps); err != nil {
		return err
	}
	srv, err := startUI(ctx, ferry, c.KubeconfigPath())
	if err != nil {
		return err
	}
	defer srv.stop()
	var rows []row
	server, err := uiServerTimes(ctx, srv.url, cfg.samples)
	rows = append(rows, server...)
	if err != nil {
		printUITable(os.Stdout, cfg, rows)
		return err
	}
	browser, err := uiBrowserTimes(ctx, admin, srv.url, cfg)
	rows = append(rows, browser...)
	if cpu, err := cpuSeconds(srv.pid()); err == nil {
		rows = append(rows, row{"ferry ui CPU, whole run (start, cache sync, every request above)", fmt.Sprintf("%.1f s", cpu), ""})
	}
	if rss, err := peakRSS(srv.pid()); err == nil {
		rows = append(rows, row{fmt.Sprintf("ferry ui peak RSS (watch cache of %d Applications)", cfg.apps), fmt.Sprintf("%d MiB", rss>>20), ""})
	}
	printUITable(os.Stdout, cfg, rows)
	return err
}

// createUIApps creates n Applications across 10 destination namespaces and
// sets statuses a real installation has: most Synced and Healthy, every
// seventh OutOfSync, every eleventh Degraded, with resources and a finished
// operation.
func createUIApps(ctx context.Context, c client.Client, n int) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			name := fmt.Sprintf("app-%04d", i)
			app := application(name, fmt.Sprintf("bench-%d", i%namespaces), "https://git.example/gitops.git", "apps/"+name, false)
			app.Labels = map[string]string{"team": fmt.Sprintf("team-%d", i%5)}
			if err := c.Create(ctx, app); err != nil {
				return err
			}
			return setUIStatus(ctx, c, app, i, "Synced")
		})
	}
	return g.Wait()
}

func setUIStatus(ctx context.Context, c client.Client, app *v1alpha1.Application, i int, sync string) error {
	base := app.DeepCopy()
	st := &app.Status
	st.Sync = v1alpha1.SyncStatus{Status: v1alpha1.SyncStatusCode(sync), Revision: fmt.Sprintf("%040x", i+1)}
	st.Health = v1alpha1.HealthStatus{Status: v1alpha1.HealthStatusHealthy}
	if i%7 == 0 && sync == "Synced" {
		st.Sync.Status = v1alpha1.SyncStatusCodeOutOfSync
	}
	if i%11 == 0 {
		st.Health.Status = v1alpha1.HealthStatusDegraded
	}
	now := metav1.Now()
	st.OperationState = &v1alpha1.OperationState{Phase: v1alpha1.OperationSucceeded, Message: "successfully synced (all tasks run)",
		StartedAt: now, FinishedAt: &now}
	st.Resources = nil
	for _, k := range []string{"ServiceAccount", "Service", "Deployment", "Ingress"} {
		st.Resources = append(st.Resources, v1alpha1.ResourceStatus{Kind: k, Namespace: app.Spec.Destination.Namespace, Name: app.Name,
			Version: "v1", Status: st.Sync.Status, Health: &v1alpha1.HealthStatus{Status: v1alpha1.HealthStatusHealthy}})
	}
	return c.Status().Patch(ctx, app, client.MergeFrom(base))
}

// uiProcess is `ferry ui` under measurement.
type uiProcess struct {
	*process
	url string // the address that signs the browser in
}

// startUI starts `ferry ui` as the admin and waits for the address it
// prints once its watch cache has synced.
func startUI(ctx context.Context, ferry, kubeconfig string) (*uiProcess, error) {
	cmd := exec.Command(ferry, "ui", "--kubeconfig", kubeconfig, "--context", localcluster.AdminContext, "-A",
		"--address", "127.0.0.1:0", "--no-open")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	proc, err := startProcess(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s ui: %w", ferry, err)
	}
	p := &uiProcess{process: proc}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "Ferry UI: "); ok {
				found <- u
			}
		}
	}()
	select {
	case p.url = <-found:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("ferry ui exited: %s", stderr.String())
	case <-time.After(2 * time.Minute):
		p.stop()
		return nil, errors.New("ferry ui printed no address within 2 minutes")
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// uiServerTimes signs in over HTTP and times list pages, the whole
// response read.
func uiServerTimes(ctx context.Context, loginURL string, samples int) ([]row, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	base := loginURL[:strings.Index(loginURL, "/login")]
	if _, _, err := fetch(ctx, hc, loginURL); err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	pages := []struct{ name, path, target string }{
		{"first list page (50 of N, by name)", "/applications", "≤ 100 ms"},
		{"largest list page (500 rows, by sync status, descending)", "/applications?size=500&sort=sync&order=desc", ""},
		{"filtered (text, health, label)", "/applications?q=app-0&health=Degraded&label=team%3Dteam-1", ""},
		{"tiles, page 10", "/applications?view=tiles&page=10", ""},
	}
	var rows []row
	for _, pg := range pages {
		var times []time.Duration
		var size int
		for range max(samples, 5) {
			start := time.Now()
			n, code, err := fetch(ctx, hc, base+pg.path)
			if err != nil {
				return rows, err
			}
			if code != http.StatusOK {
				return rows, fmt.Errorf("GET %s: %d", pg.path, code)
			}
			times = append(times, time.Since(start))
			size = n
		}
		rows = append(rows, row{fmt.Sprintf("server: %s, p50 / p95 (%d KiB)", pg.name, size>>10),
			ms2(percentile(times, 0.5)) + " / " + ms2(percentile(times, 0.95)), pg.target})
	}
	return rows, nil
}

func fetch(ctx context.Context, hc *http.Client, url string) (int, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return int(n), resp.StatusCode, err
}

func ms2(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// pageTimes is what the browser's Performance API says of one load.
type pageTimes struct {
	FCP   float64 `json:"fcp"`   // first contentful paint
	Ready float64 `json:"ready"` // ui.js ran (data-ready)
	Bytes float64 `json:"bytes"`
}

const pageTimesJS = `(() => {
  const p = performance.getEntriesByName("first-contentful-paint")[0];
  const n = performance.getEntriesByType("navigation")[0];
  return {fcp: p ? p.startTime : -1, ready: Number(document.documentElement.getAttribute("data-ready") || -1),
          bytes: n ? n.transferSize : 0};
})()`

func uiBrowserTimes(ctx context.Context, admin client.Client, loginURL string, cfg config) ([]row, error) {
	tab, stop, err := uitest.NewBrowser(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	base := loginURL[:strings.Index(loginURL, "/login")]
	if err := chromedp.Do(tab, chromedp.Navigate(loginURL), chromedp.WaitVisible(chromedp.ID("apps"))); err != nil {
		return nil, fmt.Errorf("sign the browser in: %w", err)
	}
	var fcp, ready []time.Duration
	for i := range max(cfg.samples, 5) {
		if err := chromedp.Do(tab, chromedp.Navigate(base+"/applications")); err != nil {
			return nil, err
		}
		// Headless Chromium may record the paint just after the load
		// event the navigation waited for.
		var pt pageTimes
		for wait := time.Now().Add(5 * time.Second); ; {
			if pt, err = chromedp.Run(tab, chromedp.Evaluate[pageTimes](pageTimesJS)); err != nil {
				return nil, err
			}
			if pt.FCP >= 0 && pt.Ready >= 0 || time.Now().After(wait) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if pt.FCP < 0 || pt.Ready < 0 {
			return nil, fmt.Errorf("load %d: no paint or no data-ready: %+v", i, pt)
		}
		fcp = append(fcp, time.Duration(pt.FCP*float64(time.Millisecond)))
		ready = append(ready, time.Duration(pt.Ready*float64(time.Millisecond)))
	}
	rows := []row{
		{"browser: first list page, first contentful paint, p50 / p95", ms2(percentile(fcp, 0.5)) + " / " + ms2(percentile(fcp, 0.95)), "≤ 1 s"},
		{"browser: first list page, interactive (ui.js ran), p50 / p95", ms2(percentile(ready, 0.5)) + " / " + ms2(percentile(ready, 0.95)), "≤ 1 s"},
	}
	burst, err := uiBurst(ctx, tab, admin, base, cfg.apps)
	return append(rows, burst...), err
}

// burstJS watches the page during the burst: frames (the longest gap
// between two), long tasks, and every row a second event stream carries.
const burstJS = `(() => {
  const b = window.__burst = {maxGap: 0, longTasks: 0, longest: 0, rows: new Set(), batches: 0, lastRow: 0, open: false};
  let last = performance.now();
  const frame = (t) => { b.maxGap = Math.max(b.maxGap, t - last); last = t; requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  new PerformanceObserver((l) => l.getEntries().forEach(e => { b.longTasks++; b.longest = Math.max(b.longest, e.duration); }))
    .observe({type: "longtask"});
  const seq = document.getElementById("apps").getAttribute("data-seq");
  const es = new EventSource("/events?since=" + seq);
  es.onopen = () => { b.open = true; };
  es.addEventListener("apps", (e) => {
    b.batches++;
    JSON.parse(e.data).forEach(r => { if (r.sync === "Unknown") b.rows.add(r.name); });
    b.lastRow = performance.now();
  });
  return true;
})()`

const burstStateJS = `(() => {
  const b = window.__burst;
  return {now: performance.now(), open: b.open, rows: b.rows.size, batches: b.batches, lastRow: b.lastRow,
    shown: document.querySelectorAll('#apps [data-field="sync"].s-Unknown').length,
    total: document.querySelectorAll('#apps [data-field="sync"]').length,
    maxGap: b.maxGap, longTasks: b.longTasks, longest: b.longest};
})()`

type burstState struct {
	Now       float64 `json:"now"`
	Open      bool    `json:"open"`
	Rows      int     `json:"rows"`
	Batches   int     `json:"batches"`
	LastRow   float64 `json:"lastRow"`
	Shown     int     `json:"shown"`
	Total     int     `json:"total"`
	MaxGap    float64 `json:"maxGap"`
	LongTasks int     `json:"longTasks"`
	Longest   float64 `json:"longest"`
}

// uiBurst changes every Application's sync status to Unknown at once,
// with 500 rows on the page, and watches the page take it.
func uiBurst(ctx context.Context, tab context.Context, admin client.Client, base string, n int) ([]row, error) {
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/applications?size=500"), chromedp.WaitVisible(chromedp.ID("apps"))); err != nil {
		return nil, err
	}
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](burstJS)); err != nil {
		return nil, err
	}
	state := func() (burstState, error) { return chromedp.Run(tab, chromedp.Evaluate[burstState](burstStateJS)) }
	for {
		s, err := state()
		if err != nil {
			return nil, err
		}
		if s.Open {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a quiet baseline before the burst
	s0, err := state()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "burst: %d status changes\n", n)
	start := time.Now()
	list := &v1alpha1.ApplicationList{}
	if err := admin.List(ctx, list, client.InNamespace("argocd")); err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range list.Items {
		app := &list.Items[i]
		g.Go(func() error {
			base := app.DeepCopy()
			app.Status.Sync.Status = v1alpha1.SyncStatusCodeUnknown
			return admin.Status().Patch(gctx, app, client.MergeFrom(base))
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	patched := time.Since(start)
	deadline := time.Now().Add(2 * time.Minute)
	var s burstState
	for {
		if s, err = state(); err != nil {
			return nil, err
		}
		if s.Rows >= n && s.Shown == s.Total {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("after 2 minutes the stream carried %d of %d changes and the page shows %d of %d rows changed", s.Rows, n, s.Shown, s.Total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	since := func(t float64) string { return ms2(time.Duration((t - s0.Now) * float64(time.Millisecond))) }
	return []row{
		{fmt.Sprintf("burst: %d status patches sent (32 at a time)", n), ms2(patched), ""},
		{"burst: the stream carried every change (from the first patch)", fmt.Sprintf("%s, %d batches", since(s.LastRow), s.Batches), ""},
		{fmt.Sprintf("burst: the page shows all %d visible rows changed (polled every 20 ms)", s.Total), since(s.Now), ""},
		{"burst: longest gap between frames / long tasks (> 50 ms), longest", fmt.Sprintf("%.0f ms / %d, %.0f ms", s.MaxGap, s.LongTasks-s0.LongTasks, s.Longest), "no freeze"},
	}, nil
}

func printUITable(w io.Writer, cfg config, rows []row) {
	fmt.Fprintf(w, "Ferry web UI benchmark: %d CPUs, %s, %d Applications, ferry ui on loopback, headless Chromium, %d samples\n\n",
		runtime.NumCPU(), runtime.Version(), cfg.apps, max(cfg.samples, 5))
	printRows(w, rows)
}
