package main

// The sharding benchmarks (-shards): first a simulation of the assignment
// (internal/shard's rendezvous hashing, no cluster), then the cold sync of
// -apps Applications with one controller and with several sharded ones.

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferrycd/ferry/internal/shard"
)

// The simulated fleet.
const (
	simApps        = 10000
	simClusters    = 100
	simInCluster   = 0.2 // of the Applications, in the skewed fleet, on the in-cluster destination
	simZipf        = 1.0 // exponent of the registered clusters' sizes in the skewed fleet
	simMaxReplicas = 10
	simTrials      = 100 // member name sets per fleet
)

func shards(ctx context.Context, cfg config) error {
	counts, err := parseReplicas(cfg.replicas)
	if err != nil {
		return err
	}
	simulate(os.Stdout)
	if cfg.simOnly {
		return nil
	}
	ferry, err := ferryBinary(ctx, cfg.ferry)
	if err != nil {
		return err
	}
	var runs []replicaRun
	for _, n := range counts {
		r, err := coldSync(ctx, cfg, ferry, n)
		if err != nil {
			return fmt.Errorf("%d controllers: %w", n, err)
		}
		runs = append(runs, r)
	}
	printReplicaRuns(os.Stdout, cfg, runs)
	return nil
}

func parseReplicas(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-shard-replicas %q: want counts of 1 or more, comma-separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// fleet is Applications by shard key: apps[i] Applications have keys[i];
// the first clusters keys are registered clusters, the rest Applications on
// the in-cluster destination.
type fleet struct {
	name     string
	keys     []shard.Key
	apps     []int
	clusters int
}

func clusterServer(i int) string { return fmt.Sprintf("https://k8s-%03d.example.com", i) }

// evenFleet: every Application on a registered cluster, the same number
// on each.
func evenFleet() fleet {
	f := fleet{name: fmt.Sprintf("even: %d clusters × %d", simClusters, simApps/simClusters), clusters: simClusters}
	for i := range simClusters {
		f.keys = append(f.keys, shard.ClusterKey(clusterServer(i), -1))
		f.apps = append(f.apps, simApps/simClusters)
	}
	return f
}

// skewedFleet: simInCluster of the Applications on the in-cluster
// destination (one key each), the rest on registered clusters whose sizes
// follow Zipf's law (the i-th largest has 1/i^simZipf of the largest's).
func skewedFleet() fleet {
	inCluster := int(simApps * simInCluster)
	sizes := zipf(simApps-inCluster, simClusters, simZipf)
	f := fleet{name: fmt.Sprintf("skewed: %d in-cluster + %d on %d Zipf clusters (%d … %d)",
		inCluster, simApps-inCluster, simClusters, sizes[0], sizes[len(sizes)-1]), clusters: simClusters}
	for i, n := range sizes {
		f.keys = append(f.keys, shard.ClusterKey(clusterServer(i), -1))
		f.apps = append(f.apps, n)
	}
	for i := range inCluster {
		f.keys = append(f.keys, shard.AppKey("argocd", fmt.Sprintf("app-%05d", i)))
		f.apps = append(f.apps, 1)
	}
	return f
}

// inClusterFleet: every Application on the in-cluster destination, as in
// the replica benchmark.
func inClusterFleet() fleet {
	f := fleet{name: fmt.Sprintf("in-cluster: %d", simApps)}
	for i := range simApps {
		f.keys = append(f.keys, shard.AppKey("argocd", fmt.Sprintf("app-%05d", i)))
		f.apps = append(f.apps, 1)
	}
	return f
}

// zipf splits total into n sizes proportional to 1/i^s, largest first,
// rounded down, what is left one each to the largest.
func zipf(total, n int, s float64) []int {
	w, sum := make([]float64, n), 0.0
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1), s)
		sum += w[i]
	}
	sizes, left := make([]int, n), total
	for i := range sizes {
		sizes[i] = int(float64(total) * w[i] / sum)
		left -= sizes[i]
	}
	for i := 0; left > 0; i, left = i+1, left-1 { // fewer than n left: one more each to the largest
		sizes[i]++
	}
	return sizes
}

// memberNames are replica names as a Deployment gives its Pods (the
// installation's --shard-identity is $POD_NAME): one ReplicaSet hash, a
// random suffix each.
func memberNames(rng *rand.Rand, n int) []string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789" // Kubernetes' rand.String
	str := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	rs, names := str(10), make([]string, n)
	for i := range names {
		names[i] = "ferry-controller-" + rs + "-" + str(5)
	}
	return names
}

// stat is a figure over the trials: its mean and its worst (highest).
type stat struct{ sum, max float64 }

func (s *stat) add(v float64) { s.sum, s.max = s.sum+v, max(s.max, v) }

// simRow is one replica count's figures for a fleet.
type simRow struct {
	appBalance, clusterBalance stat // max/mean per replica
	leave, join                stat // Applications moved
	leavePct, joinPct          stat // of the ideal: the leaver's or joiner's fair share
	strayMoves                 int  // moved between two replicas that both stayed
}

// simulateFleet assigns f over 1 to simMaxReplicas replicas in simTrials
// trials, each with its own member names. Replica n+1 joins n by taking the
// next name; one of n, at random, leaves.
func simulateFleet(f fleet) []simRow {
	total := 0
	for _, n := range f.apps {
		total += n
	}
	rows := make([]simRow, simMaxReplicas+1) // by replica count
	for trial := range simTrials {
		rng := rand.New(rand.NewPCG(uint64(trial), 1))
		names := memberNames(rng, simMaxReplicas+1)
		owners := make([][]string, simMaxReplicas+2) // by replica count
		for n := 1; n <= simMaxReplicas+1; n++ {
			owners[n] = assign(f, shard.NewView(names[:n]...))
		}
		for n := 1; n <= simMaxReplicas; n++ {
			r := &rows[n]
			apps, clusters := map[string]int{}, map[string]int{}
			for i, o := range owners[n] {
				apps[o] += f.apps[i]
				if i < f.clusters {
					clusters[o]++
				}
			}
			r.appBalance.add(maxOf(apps) / (float64(total) / float64(n)))
			if f.clusters > 0 {
				r.clusterBalance.add(maxOf(clusters) / (float64(f.clusters) / float64(n)))
			}
			moved, stray := moves(f, owners[n], owners[n+1], names[n])
			r.join.add(float64(moved))
			r.joinPct.add(100 * float64(moved) / (float64(total) / float64(n+1)))
			r.strayMoves += stray
			if n > 1 {
				leaver := names[rng.IntN(n)]
				rest := make([]string, 0, n-1)
				for _, m := range names[:n] {
					if m != leaver {
						rest = append(rest, m)
					}
				}
				moved, stray := moves(f, owners[n], assign(f, shard.NewView(rest...)), leaver)
				r.leave.add(float64(moved))
				r.leavePct.add(100 * float64(moved) / (float64(total) / float64(n)))
				r.strayMoves += stray
			}
		}
	}
	return rows[1:]
}

func assign(f fleet, v shard.View) []string {
	out := make([]string, len(f.keys))
	for i, k := range f.keys {
		out[i] = v.Owner(k)
	}
	return out
}

// moves counts the Applications whose owner differs between two
// assignments, and of them those moved between two members other than
// changed (the one that left or joined): rendezvous hashing moves none.
func moves(f fleet, before, after []string, changed string) (moved, stray int) {
	for i := range before {
		if before[i] != after[i] {
			moved += f.apps[i]
			if before[i] != changed && after[i] != changed {
				stray += f.apps[i]
			}
		}
	}
	return moved, stray
}

func maxOf(m map[string]int) float64 {
	best := 0
	for _, v := range m {
		best = max(best, v)
	}
	return float64(best)
}

// simulate prints the assignment of each fleet over 1 to simMaxReplicas
// replicas.
func simulate(w io.Writer) {
	began := time.Now()
	fmt.Fprintf(w, "Shard assignment simulation: %d Applications, %d clusters, 1–%d replicas; mean (worst) over %d sets of replica names\n\n",
		simApps, simClusters, simMaxReplicas, simTrials)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "| fleet\t| replicas\t| apps per replica, max/mean\t| clusters per replica, max/mean\t| one leaves (n → n−1): apps moved\t| % of ideal 1/n\t| one joins (n → n+1): apps moved\t| % of ideal 1/(n+1)\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
	stray := 0
	for _, f := range []fleet{evenFleet(), skewedFleet(), inClusterFleet()} {
		for i, r := range simulateFleet(f) {
			n, name := i+1, ""
			if i == 0 {
				name = f.name
			}
			clusters, leave, leavePct := "–", "–", "–"
			if f.clusters > 0 {
				clusters = r.clusterBalance.ratio()
			}
			if n > 1 {
				leave, leavePct = r.leave.count(), r.leavePct.percent()
			}
			fmt.Fprintf(tw, "| %s\t| %d\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t|\n", name, n, r.appBalance.ratio(), clusters,
				leave, leavePct, r.join.count(), r.joinPct.percent())
			stray += r.strayMoves
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nApplications moved between two replicas that both stayed, in all transitions: %d. Simulated in %s.\n\n",
		stray, time.Since(began).Round(10*time.Millisecond))
}

func (s stat) mean() float64   { return s.sum / simTrials }
func (s stat) ratio() string   { return fmt.Sprintf("%.2f (%.2f)", s.mean(), s.max) }
func (s stat) count() string   { return fmt.Sprintf("%.0f (%.0f)", s.mean(), s.max) }
func (s stat) percent() string { return fmt.Sprintf("%.0f %% (%.0f %%)", s.mean(), s.max) }

// replicaRun is one cold sync with n controller processes.
type replicaRun struct {
	n        int
	cold     time.Duration
	apiCPU   float64
	requests float64   // by all the controllers during the cold sync
	cpu      []float64 // seconds, per controller, during the cold sync
	rss      []int64   // peak, per controller
	owned    []float64 // Applications per controller (ferry_shard_applications)
}

// coldSync starts a control plane and n controllers (sharded by leases
// when n > 1), creates cfg.apps Applications, and measures until all are
// Synced.
func coldSync(ctx context.Context, cfg config, ferry string, n int) (replicaRun, error) {
	res := replicaRun{n: n}
	work, err := os.MkdirTemp("", "ferry-bench-shards-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	c, admin, r, err := setup(ctx, cfg, work)
	if err != nil {
		return res, err
	}
	defer c.Stop(context.WithoutCancel(ctx))
	head, err := r.git("rev-parse", "HEAD")
	if err != nil {
		return res, err
	}
	var procs []*controllerProcess
	var urls []string
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := range n {
		dir := filepath.Join(work, fmt.Sprintf("replica-%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return res, err
		}
		var extra []string
		if n > 1 {
			extra = []string{"--sharding", "leases", "--shard-identity", fmt.Sprintf("replica-%d", i)}
		}
		p, url, err := startController(ctx, ferry, c, dir, cfg, extra...)
		if err != nil {
			return res, err
		}
		procs, urls = append(procs, p), append(urls, url)
	}
	if n > 1 {
		// Every replica sees all n before the first Application, then two
		// Lease steps (2 s each) let each see the others' published views:
		// nothing changes hands during the cold sync.
		fmt.Fprintf(os.Stderr, "shards: waiting until %d controllers see each other\n", n)
		if _, err := waitMetrics(ctx, urls, time.Minute, func(ms []metrics) bool {
			for _, m := range ms {
				if m.sum("ferry_shard_members", nil) != float64(n) {
					return false
				}
			}
			return true
		}); err != nil {
			return res, fmt.Errorf("membership: %w", err)
		}
		time.Sleep(4 * time.Second)
	}

	apiserver := c.PIDs()["kube-apiserver"]
	cpu0, api0 := cpus(procs), must(cpuSeconds(apiserver))
	m0, err := scrapeAll(ctx, urls)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(os.Stderr, "shards: %d applications × 4 objects, %d controllers\n", cfg.apps, n)
	began := time.Now()
	if _, err := watchApps(ctx, admin, cfg.apps, syncedAt(head), func() error { return createApps(ctx, admin, r, cfg.apps) }); err != nil {
		return res, err
	}
	res.cold = time.Since(began)
	cpu1, api1 := cpus(procs), must(cpuSeconds(apiserver))
	m1, err := scrapeAll(ctx, urls)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(os.Stderr, "shards: all Synced in %s\n", res.cold.Round(time.Millisecond))
	res.apiCPU = api1 - api0
	for i, p := range procs {
		res.cpu = append(res.cpu, cpu1[i]-cpu0[i])
		res.rss = append(res.rss, must(peakRSS(p.pid())))
		res.requests += m1[i].sum("rest_client_requests_total", nil) - m0[i].sum("rest_client_requests_total", nil)
	}

	if n == 1 {
		res.owned = []float64{float64(cfg.apps)}
		return res, nil
	}
	// Each replica counts what it owns when the membership changes and
	// every 30 s.
	ms, err := waitMetrics(ctx, urls, 75*time.Second, func(ms []metrics) bool {
		total := 0.0
		for _, m := range ms {
			total += m.sum("ferry_shard_applications", nil)
		}
		return total == float64(cfg.apps)
	})
	if err != nil {
		return res, fmt.Errorf("owned Applications: %w", err)
	}
	for _, m := range ms {
		res.owned = append(res.owned, m.sum("ferry_shard_applications", nil))
	}
	return res, nil
}

func must[T any](v T, _ error) T { return v }

func cpus(procs []*controllerProcess) []float64 {
	out := make([]float64, len(procs))
	for i, p := range procs {
		out[i] = must(cpuSeconds(p.pid()))
	}
	return out
}

func scrapeAll(ctx context.Context, urls []string) ([]metrics, error) {
	out := make([]metrics, len(urls))
	for i, u := range urls {
		m, err := scrape(ctx, u)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// waitMetrics scrapes every controller each half second until cond holds
// of the scrapes, at most limit.
func waitMetrics(ctx context.Context, urls []string, limit time.Duration, cond func([]metrics) bool) ([]metrics, error) {
	deadline := time.Now().Add(limit)
	for {
		ms, err := scrapeAll(ctx, urls)
		if err == nil && cond(ms) {
			return ms, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("not reached within %s (last scrape error: %v)", limit, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func printReplicaRuns(w io.Writer, cfg config, runs []replicaRun) {
	fmt.Fprintf(w, "Ferry sharding benchmark: %d apps × 4 objects cold → all Synced, %d CPUs, %s, concurrency %d per controller\n\n",
		cfg.apps, runtime.NumCPU(), runtime.Version(), cfg.concurrency)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "| measure\t")
	for _, r := range runs {
		if r.n == 1 {
			fmt.Fprint(tw, "| 1 controller (unsharded)\t")
		} else {
			fmt.Fprintf(tw, "| %d controllers (--sharding leases)\t", r.n)
		}
	}
	fmt.Fprintln(tw, "|")
	fmt.Fprintln(tw, "|---\t"+strings.Repeat("|---\t", len(runs))+"|")
	line := func(name string, cell func(replicaRun) string) {
		fmt.Fprintf(tw, "| %s\t", name)
		for _, r := range runs {
			fmt.Fprintf(tw, "| %s\t", cell(r))
		}
		fmt.Fprintln(tw, "|")
	}
	each := func(r replicaRun, f func(i int) string) string {
		parts := make([]string, r.n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, " / ")
	}
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	line("cold → all Synced", func(r replicaRun) string { return fmt.Sprintf("%.1f s", r.cold.Seconds()) })
	line("Applications owned, per controller", func(r replicaRun) string {
		return each(r, func(i int) string { return fmt.Sprintf("%.0f", r.owned[i]) })
	})
	line("controller CPU during cold sync, per controller", func(r replicaRun) string {
		return each(r, func(i int) string { return fmt.Sprintf("%.1f s", r.cpu[i]) })
	})
	line("  all controllers", func(r replicaRun) string { return fmt.Sprintf("%.1f s", sum(r.cpu)) })
	line("controller peak RSS, per controller", func(r replicaRun) string {
		return each(r, func(i int) string { return fmt.Sprintf("%.0f MiB", mib(r.rss[i])) })
	})
	line("  all controllers", func(r replicaRun) string { return fmt.Sprintf("%.0f MiB", mib(sum(r.rss))) })
	line("controller API requests during cold sync, all controllers", func(r replicaRun) string { return fmt.Sprintf("%.0f", r.requests) })
	line("kube-apiserver CPU during cold sync", func(r replicaRun) string { return fmt.Sprintf("%.1f s", r.apiCPU) })
	_ = tw.Flush()
}

func sum[T int64 | float64](v []T) T {
	var t T
	for _, x := range v {
		t += x
	}
	return t
}
