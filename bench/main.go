// Command bench measures Ferry's application engine on the local control
// plane, with podinfo's objects as the workload (the shape the Flux comparison
// in docs/benchmarks.md uses), and prints a table for
// docs/benchmarks.md:
//
//  1. commit → objects applied after a refresh request, one Application;
//  2. self-heal: a manual change → reverted;
//  3. N Applications × 4 objects (ServiceAccount, Service, Deployment with 0
//     replicas, Ingress; one repository, one path each, 10 namespaces,
//     prune on) from cold to all Synced;
//  4. an idle resync of those N Applications: writes, API requests per
//     managed object, controller CPU seconds, peak RSS, git operations.
//
// The controller runs as its own process (bin/ferry controller) as the
// non-admin user, so API Priority and Fairness applies and its CPU and memory
// are its own. Usage: go run ./bench -apps 1000
//
// With -shards it instead simulates the assignment of 10,000 Applications
// over 100 clusters to 1–10 replicas, then runs the cold sync of -apps
// Applications with 1 controller and with several sharded ones side by side
// (see shards.go); -shards-sim-only stops after the simulation.
//
// With -helm it instead measures Helm charts (see helm.go): the render time
// per call in process against a `helm template` process, then the cold sync
// of -apps Applications of one chart from a Helm repository on loopback,
// beside the same objects from Git directories.
//
// With -peer flux and -peer argocd it instead runs Ferry and those peers
// side by side on the same workload, each on a control plane of its own
// (see peers_run.go), and with -raw measures the API server's own
// server-side-apply rate for the same objects; with -scale-curve it runs
// Ferry at several sizes (see curve.go).
//
// With -ui it instead measures the web UI (see ui.go): list pages served
// with -apps Applications, the first page in headless Chromium, and a
// burst of -apps status changes on a page of 500 rows.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

type config struct {
	ferry        string
	apps         int
	samples      int
	pollInterval time.Duration
	kubeDir      string
	concurrency  int
	coldOnly     bool
	shards       bool
	simOnly      bool
	replicas     string

	helm              bool
	helmRenderOnly    bool
	helmBin           string
	helmCalls         int
	helmBaseline      bool
	helmBaselineFirst bool
	helmCPUProfile    string
	controllerPerf    string

	ui bool

	peers      []string
	skipFerry  bool
	raw        bool
	scaleCurve string
	// controllerFlags are more flags for Ferry's controller (A/B runs).
	controllerFlags string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.ferry, "ferry", "bin/ferry", "the ferry binary to benchmark")
	flag.IntVar(&cfg.apps, "apps", 1000, "Applications in the scale benchmark")
	flag.IntVar(&cfg.samples, "samples", 20, "samples for the latency benchmarks")
	flag.DurationVar(&cfg.pollInterval, "poll-interval", 30*time.Second, "controller poll interval (one idle resync is measured over one interval)")
	flag.StringVar(&cfg.kubeDir, "kube-dir", "", "control-plane binaries (default: the make kube cache)")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "the controller's --concurrency")
	flag.BoolVar(&cfg.coldOnly, "cold-only", false, "stop after the cold sync (skip the roll-out and the idle resync): for quick A/B runs")
	flag.BoolVar(&cfg.shards, "shards", false, "run the sharding benchmarks instead: the assignment simulation, then the cold sync with -shard-replicas controllers")
	flag.BoolVar(&cfg.simOnly, "shards-sim-only", false, "run the sharding assignment simulation alone (no cluster)")
	flag.StringVar(&cfg.replicas, "shard-replicas", "1,3", "controller processes to compare with -shards; 1 is the unsharded controller, more run --sharding leases")
	flag.BoolVar(&cfg.helm, "helm", false, "run the Helm benchmarks instead: render time in process against helm template, then the cold sync of -apps Applications of one chart")
	flag.BoolVar(&cfg.helmRenderOnly, "helm-render-only", false, "with -helm, stop after the render benchmark (no cluster)")
	flag.StringVar(&cfg.helmBin, "helm-bin", "", "the helm CLI to compare with (default: helm in $(hack/build-kube.sh --dir), which make kube builds)")
	flag.IntVar(&cfg.helmCalls, "helm-calls", 200, "renders per way in the Helm render benchmark")
	flag.BoolVar(&cfg.helmBaseline, "helm-baseline", true, "with -helm, also run the cold sync of the same objects from Git directories, on a fresh control plane")
	flag.BoolVar(&cfg.helmBaselineFirst, "helm-baseline-first", false, "with -helm, run the Git baseline first, then the Helm chart")
	flag.StringVar(&cfg.helmCPUProfile, "helm-cpuprofile", "", "write a CPU profile of the in-process renders to this file")
	flag.StringVar(&cfg.controllerPerf, "helm-controller-perf", "", "record the controller's stacks with perf during the Helm cold sync into this file (perf.data)")
	flag.BoolVar(&cfg.ui, "ui", false, "run the web UI benchmark instead: list pages served, loaded in headless Chromium, and a burst of -apps status changes")
	flag.Func("peer", "run this peer beside Ferry on the same workload, each on a control plane of its own, and print one table (flux, argocd; repeatable)", func(v string) error {
		cfg.peers = append(cfg.peers, v)
		return nil
	})
	flag.BoolVar(&cfg.skipFerry, "skip-ferry", false, "with -peer, run the peers alone")
	flag.BoolVar(&cfg.raw, "raw", false, "with the side-by-side benchmark, also measure the API server's raw server-side-apply rate for the same objects (16 workers, no engine)")
	flag.StringVar(&cfg.scaleCurve, "scale-curve", "", "run Ferry at these numbers of Applications (comma-separated, e.g. 100,1000,3000,10000), each on a control plane of its own, and print how the cost grows")
	flag.StringVar(&cfg.controllerFlags, "controller-flags", "", "more flags for Ferry's controller, space-separated (for A/B runs and profiles, e.g. --pprof-bind-address=127.0.0.1:6060)")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard()) // controller-runtime's clients log nothing the tables need
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bench := run
	switch {
	case cfg.shards || cfg.simOnly:
		bench = shards
	case cfg.helm || cfg.helmRenderOnly:
		bench = helmBench
	case cfg.ui:
		bench = uiBench
	case cfg.scaleCurve != "":
		bench = curveBench
	case len(cfg.peers) > 0 || cfg.raw:
		bench = peerBench
	}
	if err := bench(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
