package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferrycd/ferry/internal/localcluster"
)

// peerResult is what one engine measured.
type peerResult struct {
	engine string
	apps   int
	err    error // the first failure; the figures before it count

	cold, refresh                time.Duration
	coldCPU, coldAPICPU          float64
	refreshCPU, refreshAPICPU    float64
	idleCPU, idleAPICPU          float64
	peakRSS                      int64
	coldReq, refreshReq, idleReq requestCounts
	// peakAnon is the peak of the engine's anonymous memory (heap and
	// stacks), sampled: peakRSS also counts the pages of the executables
	// that the kernel mapped, which this kernel maps in 2 MiB pages.
	peakAnon int64
}

// peerBench runs Ferry and every -peer engine, one after the other, each
// on a control plane of its own, on the same workload, and prints one
// table. A peer that cannot be built or run keeps its column with the
// error.
func peerBench(ctx context.Context, cfg config) error {
	ferry, err := ferryBinary(ctx, cfg.ferry)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "ferry-peers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	repoURL, head, closeRepo, err := servedRepo(work, cfg.apps)
	if err != nil {
		return err
	}
	defer closeRepo()

	var raw *rawResult
	if cfg.raw {
		raw, err = rawBench(ctx, cfg, filepath.Join(work, "raw"))
		if err != nil {
			return fmt.Errorf("raw server-side apply: %w", err)
		}
	}
	var results []peerResult
	engines := []engine{&ferryEngine{bin: ferry, cfg: cfg}}
	if cfg.skipFerry {
		engines = nil
	}
	for _, p := range cfg.peers {
		engines = append(engines, newPeer(p, cfg))
	}
	for i, e := range engines {
		dir := filepath.Join(work, fmt.Sprintf("%d-%s", i, strings.ReplaceAll(strings.ToLower(e.name()), " ", "")))
		res := runEngine(ctx, cfg, e, dir, repoURL, head, cfg.apps)
		if res.err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", e.name(), res.err)
		}
		results = append(results, res)
		if ctx.Err() != nil {
			break
		}
	}
	printPeerTable(os.Stdout, cfg, results, raw)
	return nil
}

// servedRepo writes the workload's repository of apps application paths
// in work and serves it over smart HTTP; it returns its URL and head
// commit, and the function that stops serving it.
func servedRepo(work string, apps int) (url, head string, stop func(), err error) {
	fmt.Fprintf(os.Stderr, "writing a repository with %d application paths\n", apps)
	r, err := newRepo(filepath.Join(work, "repo"), apps)
	if err != nil {
		return "", "", nil, err
	}
	if head, err = r.git("rev-parse", "HEAD"); err != nil {
		return "", "", nil, err
	}
	srv, err := serveGit(work)
	if err != nil {
		return "", "", nil, err
	}
	return "http://" + srv.Addr + "/repo", head, func() { _ = srv.Close() }, nil
}

// newPeer returns the engine -peer names, or one that fails with why.
func newPeer(name string, cfg config) engine {
	switch name {
	case "flux":
		return &fluxEngine{cfg: cfg}
	case "argocd":
		return &argocdEngine{cfg: cfg}
	}
	return &missingEngine{peer: name, err: fmt.Errorf("no peer %q (flux, argocd)", name)}
}

// buildPeer builds a peer's binaries with hack/build-peer.sh and returns
// their directory.
func buildPeer(ctx context.Context, peer string) (string, error) {
	cmd := exec.CommandContext(ctx, "hack/build-peer.sh", peer)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/build-peer.sh %s: %w", peer, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// runEngine measures one engine on a new control plane: the cold sync of
// apps applications, one idle poll interval, then a forced full refresh.
func runEngine(ctx context.Context, cfg config, e engine, dir, repoURL, head string, apps int) (res peerResult) {
	res = peerResult{engine: e.name(), apps: apps}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.err = err
		return res
	}
	env, audit, stop, err := startPeerEnv(ctx, cfg, e, dir, repoURL, apps)
	if err != nil {
		res.err = err
		return res
	}
	defer stop()
	fmt.Fprintf(os.Stderr, "%s: starting\n", e.name())
	if err := e.start(ctx, env); err != nil {
		res.err = fmt.Errorf("start: %w", err)
		return res
	}
	defer e.stop()
	anon := sampleAnon(func() []int { return slices.Collect(maps.Values(e.processes())) })
	res.err = measureEngine(ctx, cfg, e, env, audit, head, &res)
	res.peakAnon = anon.finish()
	return res
}

// startPeerEnv starts a control plane with an audit log of the engines'
// user, creates the workload's namespaces, and writes a kubeconfig whose
// current context is that user.
func startPeerEnv(ctx context.Context, cfg config, e engine, dir, repoURL string, apps int) (*peerEnv, *auditReader, func(), error) {
	args, auditLog, err := auditArgs(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "%s: starting a local control plane\n", e.name())
	c, err := localcluster.Start(ctx, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 1, BinDir: cfg.kubeDir, APIServerArgs: args})
	if err != nil {
		return nil, nil, nil, err
	}
	stop := func() { c.Stop(context.WithoutCancel(ctx)) }
	env, err := newPeerEnv(ctx, c, dir, repoURL, apps, cfg.pollInterval)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	if p, isPeer := e.(peerBuild); isPeer {
		if env.bin, err = buildPeer(ctx, p.peer()); err != nil {
			stop()
			return nil, nil, nil, err
		}
	}
	return env, &auditReader{path: auditLog}, stop, nil
}

// peerBuild is an engine built by hack/build-peer.sh.
type peerBuild interface {
	// peer is the name of its directory under tools/.
	peer() string
}

func newPeerEnv(ctx context.Context, c *localcluster.Cluster, dir, repoURL string, apps int, poll time.Duration) (*peerEnv, error) {
	admin, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		return nil, err
	}
	for _, ns := range benchNamespaces() {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	kc, err := clientcmd.LoadFromFile(c.KubeconfigPath())
	if err != nil {
		return nil, err
	}
	kc.CurrentContext = localcluster.UserContext
	kubeconfig := filepath.Join(dir, "kubeconfig-user")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		return nil, err
	}
	return &peerEnv{cluster: c, kubeconfig: kubeconfig, admin: admin, work: dir, repoURL: repoURL, apps: apps, pollInterval: poll}, nil
}

// measureEngine runs the three phases, filling res as it goes.
func measureEngine(ctx context.Context, cfg config, e engine, env *peerEnv, audit *auditReader, head string, res *peerResult) error {
	apiserver := env.cluster.PIDs()["kube-apiserver"]
	cpu := func() (float64, float64) { return engineCPU(e), cpuOf(apiserver) }
	if _, err := audit.next(); err != nil { // the start's requests are not the cold sync's
		return err
	}
	gvr, ns := e.apps()
	watchAll := func(cond func(*unstructured.Unstructured) bool, act func() error, limit time.Duration) error {
		return watchEngine(ctx, env.admin, gvr, ns, env.apps, cond, act, limit)
	}

	fmt.Fprintf(os.Stderr, "%s: %d applications × 4 objects, cold\n", e.name(), env.apps)
	e0, a0 := cpu()
	began := time.Now()
	synced := func(app *unstructured.Unstructured) bool { return e.synced(app, head) }
	if err := watchAll(synced, func() error { return e.create(ctx, env) }, 30*time.Minute); err != nil {
		return fmt.Errorf("cold sync: %w", err)
	}
	res.cold = time.Since(began)
	e1, a1 := cpu()
	res.coldCPU, res.coldAPICPU = e1-e0, a1-a0
	var err error
	if res.coldReq, err = audit.next(); err != nil {
		return err
	}
	res.peakRSS = enginePeakRSS(e)
	fmt.Fprintf(os.Stderr, "%s: all %d synced in %s\n", e.name(), env.apps, res.cold.Round(time.Millisecond))

	// Argo CD writes every Application's status at each resync (every
	// 15 s here) and is never quiet for 5 s: a minute at most.
	if err := settleAudit(ctx, audit, 5*time.Second, time.Minute); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: idle, one poll interval (%s)\n", e.name(), cfg.pollInterval)
	e2, a2 := cpu()
	select {
	case <-time.After(env.pollInterval + 2*time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	e3, a3 := cpu()
	res.idleCPU, res.idleAPICPU = e3-e2, a3-a2
	if res.idleReq, err = audit.next(); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "%s: forced full refresh\n", e.name())
	e4, a4 := cpu()
	began = time.Now()
	var done atomic.Pointer[func(*unstructured.Unstructured) bool]
	ask := func() error {
		test, err := e.refresh(ctx, env)
		done.Store(&test)
		return err
	}
	// The test is known once ask has run (watchUntil then looks at every
	// application again); until then nothing is done.
	cond := func(app *unstructured.Unstructured) bool {
		test := done.Load()
		return test != nil && *test != nil && (*test)(app) && e.synced(app, head)
	}
	if err := watchAll(cond, ask, 30*time.Minute); err != nil {
		return fmt.Errorf("forced refresh: %w", err)
	}
	res.refresh = time.Since(began)
	e5, a5 := cpu()
	res.refreshCPU, res.refreshAPICPU = e5-e4, a5-a4
	if res.refreshReq, err = audit.next(); err != nil {
		return err
	}
	res.peakRSS = enginePeakRSS(e)
	fmt.Fprintf(os.Stderr, "%s: refreshed in %s\n", e.name(), res.refresh.Round(time.Millisecond))
	return nil
}

func engineCPU(e engine) float64 {
	var s float64
	for _, pid := range e.processes() {
		s += cpuOf(pid)
	}
	return s
}

func cpuOf(pid int) float64 {
	s, _ := cpuSeconds(pid)
	return s
}

// enginePeakRSS is the sum of the engine's processes' peak RSS (an upper
// bound of their peak together).
func enginePeakRSS(e engine) int64 {
	var s int64
	for _, pid := range e.processes() {
		rss, _ := peakRSS(pid)
		s += rss
	}
	return s
}

// settleAudit waits until the log shows no write for quiet (leases and
// events aside), at most limit.
func settleAudit(ctx context.Context, audit *auditReader, quiet, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	lastWrite := time.Now()
	for time.Since(lastWrite) < quiet && time.Now().Before(deadline) {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
		c, err := audit.next()
		if err != nil {
			return err
		}
		if c.managedWrites()+c["own objects"] > 0 {
			lastWrite = time.Now()
		}
	}
	return nil
}

// watchEngine runs act, then watches the applications until want of them
// satisfy cond, at most limit. A watch the server ends is started again
// (it lists every application anew).
func watchEngine(ctx context.Context, c dynamic.Interface, gvr schema.GroupVersionResource, ns string, want int, cond func(*unstructured.Unstructured) bool, act func() error, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	errs := make(chan error, 1)
	go func() { errs <- act() }()
	st := &watchState{want: want, cond: cond, errs: errs, last: map[string]*unstructured.Unstructured{}, done: map[string]bool{}}
	for {
		w, err := c.Resource(gvr).Namespace(ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		err = st.until(ctx, w)
		w.Stop()
		if !errors.Is(err, errWatchClosed) {
			return err
		}
	}
}

var errWatchClosed = errors.New("watch closed")

// watchState is what a watch of applications has seen.
type watchState struct {
	want int
	cond func(*unstructured.Unstructured) bool
	errs chan error // act's result
	last map[string]*unstructured.Unstructured
	done map[string]bool
}

// until reads w until want applications satisfy cond. When act has
// returned, every application seen is tested again: a test that only
// act's result makes known must not wait for another event.
func (st *watchState) until(ctx context.Context, w watch.Interface) error {
	for {
		select {
		case err := <-st.errs:
			if err != nil {
				return err
			}
			for name, app := range st.last {
				st.see(name, app)
			}
		case <-ctx.Done():
			return fmt.Errorf("%d of %d reached: %w", len(st.done), st.want, ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return errWatchClosed
			}
			app, isApp := ev.Object.(*unstructured.Unstructured)
			if !isApp || ev.Type == watch.Error || ev.Type == watch.Deleted {
				continue
			}
			st.last[app.GetName()] = app
			st.see(app.GetName(), app)
		}
		if len(st.done) >= st.want {
			return nil
		}
	}
}

// see counts an application once it satisfies cond: the time measured is
// until each has reached the state at least once (Flux's Ready goes to
// Unknown while a Kustomization is reconciled again, which says nothing of
// what it applied).
func (st *watchState) see(name string, app *unstructured.Unstructured) {
	if st.cond(app) {
		st.done[name] = true
	}
}

// missingEngine stands for a peer that cannot run: its column shows why.
type missingEngine struct {
	peer string
	err  error
}

func (e *missingEngine) name() string                           { return e.peer }
func (e *missingEngine) start(context.Context, *peerEnv) error  { return e.err }
func (e *missingEngine) create(context.Context, *peerEnv) error { return e.err }
func (e *missingEngine) apps() (schema.GroupVersionResource, string) {
	return schema.GroupVersionResource{}, ""
}
func (e *missingEngine) synced(*unstructured.Unstructured, string) bool { return false }
func (e *missingEngine) refresh(context.Context, *peerEnv) (func(*unstructured.Unstructured) bool, error) {
	return nil, e.err
}
func (e *missingEngine) processes() map[string]int { return nil }
func (e *missingEngine) stop()                     {}
