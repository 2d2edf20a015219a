package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/internal/helm"
	"github.com/ferrycd/ferry/internal/render"
)

// benchKubeVersion is what the charts' templates see as
// .Capabilities.KubeVersion, in process and with helm template alike.
const benchKubeVersion = "v1.37.2"

// helmBench is -helm: the render benchmark (part A, no cluster), then the
// control-plane benchmark of cfg.apps Applications of one chart from a Helm
// repository on loopback (part B, helm_scale.go), unless -helm-render-only.
func helmBench(ctx context.Context, cfg config) error {
	work, err := os.MkdirTemp("", "ferry-bench-helm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	archivePath, err := packageBenchChart(work)
	if err != nil {
		return err
	}
	renders, err := helmRenderBenchmark(ctx, cfg, archivePath)
	if err != nil {
		return err
	}
	printRenderTable(os.Stdout, cfg, renders)
	if cfg.helmRenderOnly {
		return nil
	}
	runs, err := helmScale(ctx, cfg, archivePath)
	if len(runs) > 0 {
		printHelmScaleTable(os.Stdout, cfg, runs)
	}
	return err
}

// renderTimes is one way of rendering, called n times.
type renderTimes struct {
	name    string
	objects int
	each    []time.Duration
	cpu     time.Duration // user+system of all the calls (in process: the whole process's)
}

// renderResults is part A's result.
type renderResults struct {
	helmVersion string
	ways        []renderTimes
}

// helmRenderBenchmark renders the benchmark's chart cfg.helmCalls times
// each way, with different values per call: in process as the controller
// does (render.Renderer.RenderChart: the archive is loaded on every call,
// since nothing shares a loaded chart between Applications), in process
// with a chart loaded once (helm.Render alone), and with the helm CLI
// (`helm template -f values.yaml`, a process per call, the archive as the
// chart). One call of each is made first and not counted; the first call's
// objects are checked equal between the in-process render and helm's.
func helmRenderBenchmark(ctx context.Context, cfg config, archivePath string) (renderResults, error) {
	var res renderResults
	bin, err := helmBinary(cfg)
	if err != nil {
		return res, err
	}
	out, err := exec.CommandContext(ctx, bin, "version", "--short").Output()
	if err != nil {
		return res, fmt.Errorf("%s version: %w", bin, err)
	}
	res.helmVersion = strings.TrimSpace(string(out))
	archive, err := os.ReadFile(archivePath)
	if err != nil {
		return res, err
	}
	tmp := filepath.Join(filepath.Dir(archivePath), "helm-template")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return res, err
	}
	n := cfg.helmCalls
	fmt.Fprintf(os.Stderr, "helm render: %d calls each way\n", n)

	// The values each call gets, as the controller holds a valuesObject
	// (JSON numbers are float64) and as a values file for helm template.
	objects := make([]map[string]any, n+1)
	files := make([]string, n+1)
	for i := range n + 1 {
		raw, err := json.Marshal(renderCallValues(i))
		if err != nil {
			return res, err
		}
		if err := json.Unmarshal(raw, &objects[i]); err != nil {
			return res, err
		}
		y, err := yaml.JSONToYAML(raw)
		if err != nil {
			return res, err
		}
		files[i] = filepath.Join(tmp, fmt.Sprintf("values-%d.yaml", i))
		if err := os.WriteFile(files[i], y, 0o644); err != nil {
			return res, err
		}
	}
	release := func(i int) string { return fmt.Sprintf("call-%04d", i) }

	r := render.NewRenderer(render.Limits{})
	renderChart := func(i int) (int, error) {
		out, err := r.RenderChart(ctx, archive, render.Source{Helm: &render.HelmOptions{
			ReleaseName: release(i), Namespace: "bench", ValuesObject: objects[i], KubeVersion: benchKubeVersion}})
		if err != nil {
			return 0, err
		}
		return len(out.Objects), nil
	}
	loaded, err := helm.LoadArchive(archive, helm.Limits{})
	if err != nil {
		return res, err
	}
	renderLoaded := func(i int) (int, error) {
		out, err := helm.Render(ctx, loaded, helm.Options{
			ReleaseName: release(i), Namespace: "bench", ValuesObject: objects[i], KubeVersion: benchKubeVersion})
		if err != nil {
			return 0, err
		}
		return len(out.Objects), nil
	}
	helmTemplate := func(i int) (helmRun, error) {
		return runHelmTemplate(ctx, bin, tmp, archivePath, release(i), files[i])
	}

	if err := checkSameAsHelm(ctx, r, archive, objects[0], release(0), helmTemplate); err != nil {
		return res, err
	}
	if cfg.helmCPUProfile != "" {
		f, err := os.Create(cfg.helmCPUProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
	}
	for _, way := range []struct {
		name string
		call func(int) (int, error)
	}{
		{"in process: render.Renderer.RenderChart (archive → objects, the controller's path)", renderChart},
		{"in process: helm.Render of a chart loaded once (no archive load)", renderLoaded},
	} {
		t, err := timeInProcess(way.name, n, way.call)
		if err != nil {
			return res, err
		}
		res.ways = append(res.ways, t)
	}
	if cfg.helmCPUProfile != "" {
		pprof.StopCPUProfile()
	}
	t := renderTimes{name: "helm template process (" + res.helmVersion + ", -f values.yaml, the archive)"}
	for i := range n + 1 {
		run, err := helmTemplate(i)
		if err != nil {
			return res, err
		}
		if i == 0 {
			continue // the warm-up: the binary into the page cache
		}
		t.cpu += run.cpu
		t.each = append(t.each, run.wall)
		t.objects = strings.Count("\n"+run.out, "\n---\n")
	}
	res.ways = append(res.ways, t)
	return res, nil
}

// renderCallValues are call i's values: what differs between one
// Application and the next (message, replicas, image tag, port, scaling,
// ingress host, log level), with every template rendered (6 objects).
func renderCallValues(i int) map[string]any {
	return map[string]any{
		"message":      fmt.Sprintf("call %d says hello", i),
		"replicaCount": i%5 + 1,
		"image":        map[string]any{"tag": fmt.Sprintf("6.5.%d", i%10)},
		"service":      map[string]any{"port": 9000 + i%100},
		"config":       map[string]any{"logLevel": []string{"info", "debug", "warn"}[i%3]},
		"autoscaling":  map[string]any{"enabled": true, "maxReplicas": 5 + i%10},
		"ingress":      map[string]any{"enabled": true, "host": fmt.Sprintf("call-%d.example.com", i)},
		"podLabels":    map[string]any{"team": fmt.Sprintf("team-%d", i%7)},
	}
}

// timeInProcess calls call(0) once (not counted), then call(1…n), and
// times each; cpu is the process's user+system time over the n calls.
func timeInProcess(name string, n int, call func(int) (int, error)) (renderTimes, error) {
	t := renderTimes{name: name}
	if _, err := call(0); err != nil {
		return t, fmt.Errorf("%s: %w", name, err)
	}
	cpu0 := processCPU()
	for i := 1; i <= n; i++ {
		began := time.Now()
		objects, err := call(i)
		if err != nil {
			return t, fmt.Errorf("%s, call %d: %w", name, i, err)
		}
		t.each = append(t.each, time.Since(began))
		t.objects = objects
	}
	t.cpu = processCPU() - cpu0
	return t, nil
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// helmRun is one helm template process: what it printed, its wall time
// and its CPU time (user+system).
type helmRun struct {
	out       string
	wall, cpu time.Duration
}

// runHelmTemplate runs `helm template` as Argo CD's repo server does, with
// no kubeconfig and no Helm configuration (as internal/helm's comparison
// test does).
func runHelmTemplate(ctx context.Context, bin, tmp, chart, release, values string) (helmRun, error) {
	args := []string{"template", release, chart, "--namespace", "bench", "--kube-version", benchKubeVersion, "--include-crds", "--values", values}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{
		"HOME=" + tmp,
		"KUBECONFIG=" + filepath.Join(tmp, "no-kubeconfig"),
		"HELM_CACHE_HOME=" + filepath.Join(tmp, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(tmp, "config"),
		"HELM_DATA_HOME=" + filepath.Join(tmp, "data"),
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	wall := time.Since(began)
	if err != nil {
		return helmRun{}, fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return helmRun{out: stdout.String(), wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

// checkSameAsHelm renders one call's values both ways and compares the
// objects one by one, in order, as JSON values.
func checkSameAsHelm(ctx context.Context, r *render.Renderer, archive []byte, values map[string]any, release string,
	helmTemplate func(int) (helmRun, error)) error {
	got, err := r.RenderChart(ctx, archive, render.Source{Helm: &render.HelmOptions{
		ReleaseName: release, Namespace: "bench", ValuesObject: values, KubeVersion: benchKubeVersion}})
	if err != nil {
		return fmt.Errorf("render the benchmark's chart: %w", err)
	}
	printed, err := helmTemplate(0)
	if err != nil {
		return err
	}
	var want []any
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(printed.out), 4096)
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("decode helm template's output: %w", err)
		}
		if doc != nil {
			want = append(want, doc)
		}
	}
	if len(got.Objects) != len(want) {
		return fmt.Errorf("in process: %d objects, helm template: %d", len(got.Objects), len(want))
	}
	for i, o := range got.Objects {
		raw, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		var g any
		if err := json.Unmarshal(raw, &g); err != nil {
			return err
		}
		raw, _ = json.Marshal(want[i])
		var w any
		_ = json.Unmarshal(raw, &w)
		if !reflect.DeepEqual(g, w) {
			return fmt.Errorf("object %d (%s) differs from helm template's:\n%v\n%v", i, o.GetKind(), g, w)
		}
	}
	return nil
}

// helmBinary is -helm-bin, or the helm CLI `make kube` builds.
func helmBinary(cfg config) (string, error) {
	if cfg.helmBin != "" {
		return cfg.helmBin, nil
	}
	out, err := exec.Command("hack/build-kube.sh", "--dir").Output()
	if err != nil {
		return "", fmt.Errorf("hack/build-kube.sh --dir (run from the repository root, or give -helm-bin): %w", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(out)), "helm")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%w (make kube builds it)", err)
	}
	return bin, nil
}

func printRenderTable(w io.Writer, cfg config, res renderResults) {
	fmt.Fprintf(w, "Ferry Helm render benchmark: chart %s %s, %d calls each way with different values per call, one at a time, %d CPUs, %s\n\n",
		benchChartName, benchChartVersion, cfg.helmCalls, runtime.NumCPU(), runtime.Version())
	rows := [][]string{{"way", "objects", "p50", "p95", "mean", "CPU per call"}}
	for _, t := range res.ways {
		rows = append(rows, []string{t.name, fmt.Sprint(t.objects), msec(percentile(t.each, 0.50)), msec(percentile(t.each, 0.95)),
			msec(mean(t.each)), msec(t.cpu / time.Duration(len(t.each)))})
	}
	printGrid(w, rows)
	if len(res.ways) == 3 {
		controller, process := res.ways[0], res.ways[2]
		fmt.Fprintf(w, "\nhelm template / RenderChart: p50 %.1f×, mean %.1f×, CPU %.1f×\n\n",
			float64(percentile(process.each, 0.5))/float64(percentile(controller.each, 0.5)),
			float64(mean(process.each))/float64(mean(controller.each)), float64(process.cpu)/float64(controller.cpu))
	}
}

func mean(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return sum / time.Duration(max(1, len(d)))
}

// msec prints d in milliseconds with two decimals (renders take about one).
func msec(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// printGrid prints rows (the first is the header) as a Markdown table.
func printGrid(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, r := range rows {
		fmt.Fprintf(tw, "| %s\t|\n", strings.Join(r, "\t| "))
		if i == 0 {
			fmt.Fprintf(tw, "|%s\t|\n", strings.Repeat("---\t|", len(r)-1)+"---")
		}
	}
	_ = tw.Flush()
}

// histogram returns a histogram's sample count and sum over its series
// whose labels match.
func (m metrics) histogram(name string, match func(labels map[string]string) bool) (count, sum float64) {
	fam, ok := m[name]
	if !ok {
		return 0, 0
	}
	for _, s := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if h := s.GetHistogram(); h != nil && (match == nil || match(labels)) {
			count += float64(h.GetSampleCount())
			sum += h.GetSampleSum()
		}
	}
	return count, sum
}
