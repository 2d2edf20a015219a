package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api"
)

// fluxNamespace is where Flux's controllers run (their RUNTIME_NAMESPACE)
// and where the benchmark's GitRepository and Kustomizations live.
const fluxNamespace = "flux-system"

// fluxRepository is the name of the one GitRepository every Kustomization
// reads.
const fluxRepository = "bench"

// fluxRequestedAt is the annotation that asks Flux for a reconcile now; the
// controllers copy its value to status.lastHandledReconcileAt once done.
const fluxRequestedAt = "reconcile.fluxcd.io/requestedAt"

var (
	gitRepositoriesGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	kustomizationsGVR  = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	namespacesGVR      = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// fluxEngine runs Flux's source-controller and kustomize-controller
// (tools/flux) outside the cluster, as their own local development does:
// neither has a --kubeconfig flag, so both read $KUBECONFIG (the non-admin
// user's context). source-controller packs the repository's head into an
// artifact it serves over HTTP on loopback; kustomize-controller downloads
// it from there, builds each path with kustomize and applies it
// server-side.
type fluxEngine struct {
	cfg config
	// source and kustomize are the processes start started; stop stops
	// them in reverse.
	source, kustomize *process
	// tmps are the controllers' temporary directories, removed by stop.
	tmps []string
}

func (e *fluxEngine) name() string { return "Flux" }

// peer is the directory under tools/ that hack/build-peer.sh builds.
func (e *fluxEngine) peer() string { return "flux" }

// start installs Flux's CRDs (build.sh copies Kustomization's and every
// source kind's into env.bin/crds: source-controller exits at start without
// the CRD of any kind it reconciles) and the flux-system namespace, then
// starts source-controller and kustomize-controller, and returns once both
// have synced their informers and started their workers (fluxReady).
func (e *fluxEngine) start(ctx context.Context, env *peerEnv) error {
	c, err := client.New(env.cluster.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return err
	}
	// Ferry's own GitRepository CRD, which installCRDs replaces, has a
	// smaller schema, whose pruning would drop the status Flux writes.
	if err := installCRDs(ctx, c, filepath.Join(env.bin, "crds")); err != nil {
		return err
	}
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": fluxNamespace},
	}}
	if _, err := env.admin.Resource(namespacesGVR).Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", fluxNamespace, err)
	}
	if err := e.startSourceController(ctx, env); err != nil {
		e.stop()
		return err
	}
	if err := e.startKustomizeController(ctx, env); err != nil {
		e.stop()
		return err
	}
	return nil
}

// fluxPorts are the loopback addresses of one controller: metrics, and the
// health probes (/healthz, /readyz).
type fluxPorts struct{ metrics, health string }

// newFluxPorts picks two free loopback ports.
func newFluxPorts() (fluxPorts, error) {
	var addrs [2]string
	for i := range addrs {
		port, err := freePort()
		if err != nil {
			return fluxPorts{}, fmt.Errorf("find a free port: %w", err)
		}
		addrs[i] = "127.0.0.1:" + strconv.Itoa(port)
	}
	return fluxPorts{metrics: addrs[0], health: addrs[1]}, nil
}

// command is a controller's command with the flags both take: their
// loopback ports, and no leader election (one replica of each).
func (e *fluxEngine) command(env *peerEnv, name string, ports fluxPorts, args ...string) (*exec.Cmd, error) {
	// In memory, as Flux's scaling guide recommends (an emptyDir of
	// medium Memory for /tmp): every Kustomization downloads and unpacks
	// the whole repository's artifact and deletes it after. On this
	// machine's disk, kustomize-controller spent its time in the kernel
	// (1.8 cores of system time) and applied ~1 Kustomization a second.
	tmp, err := os.MkdirTemp(fluxTmpRoot(), "ferry-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	e.tmps = append(e.tmps, tmp)
	cmd := exec.Command(filepath.Join(env.bin, name), append([]string{
		"--metrics-addr", ports.metrics, "--health-addr", ports.health,
		"--enable-leader-election=false",
		// Flux spreads each object's reconciles over interval ± 5 % by
		// default. Ferry polls every interval without jitter (and the
		// Argo CD peer runs with --app-resync-jitter 0); the idle phase
		// measures one interval, which every Kustomization's periodic
		// reconcile then falls into once.
		"--interval-jitter-percentage=0",
	}, args...)...)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+env.kubeconfig,
		"RUNTIME_NAMESPACE="+fluxNamespace,
		// Checkouts and downloaded artifacts go to temporary directories.
		"TMPDIR="+tmp)
	return cmd, nil
}

// startSourceController starts source-controller with its artifact
// storage in env.work, served at a loopback address, and waits until it is
// ready.
func (e *fluxEngine) startSourceController(ctx context.Context, env *peerEnv) error {
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("find a free port: %w", err)
	}
	storageAddr := "127.0.0.1:" + strconv.Itoa(port)
	storage := filepath.Join(env.work, "source-controller-storage")
	if err := os.MkdirAll(storage, 0o755); err != nil { // it must exist before the start
		return err
	}
	// --concurrent stays at its default (2): there is one GitRepository.
	e.source, err = e.startController(ctx, env, "source-controller", "gitrepository",
		"--storage-path", storage, "--storage-addr", storageAddr,
		// The artifacts' URLs name this address; kustomize-controller
		// downloads from it.
		"--storage-adv-addr", storageAddr)
	return err
}

// startKustomizeController starts kustomize-controller with as many
// Kustomizations reconciled at once as Ferry reconciles Applications, and
// waits until it is ready.
func (e *fluxEngine) startKustomizeController(ctx context.Context, env *peerEnv) (err error) {
	e.kustomize, err = e.startController(ctx, env, "kustomize-controller", "kustomization",
		// --concurrent is the number of Kustomizations reconciled at once
		// (default 4), the counterpart of Ferry's --concurrency (16 by
		// default, -concurrency here): both get the same, so neither
		// engine works on more applications at once than the other.
		// Flux's vertical-scaling guide, for hundreds of applications,
		// raises it to 10, or 20 with /tmp in memory; 16 is between, and
		// on two cores, with the work CPU and API server bound, more
		// workers buy little. --concurrent-ssa (4, the objects applied at
		// once within one Kustomization) stays at its default: Ferry too
		// applies an application's four objects at once.
		"--concurrent", strconv.Itoa(e.cfg.concurrency),
		// Flux's client-side rate limit (default 50 QPS, burst 300) would
		// pace a 1,000-Kustomization sync (some 20 requests each) where
		// Ferry's controller, at 500 QPS and burst 1000, is paced by the
		// API server's Priority and Fairness alone: both get Ferry's.
		"--kube-api-qps", "500", "--kube-api-burst", "1000")
	return err
}

// startController starts the controller name (command's flags, then args), logging
// to env.work, and waits until its controller of kind has started its
// workers (fluxReady). The process is returned also when it started but
// did not get ready, so that it is stopped.
func (e *fluxEngine) startController(ctx context.Context, env *peerEnv, name, kind string, args ...string) (*process, error) {
	ports, err := newFluxPorts()
	if err != nil {
		return nil, err
	}
	cmd, err := e.command(env, name, ports, args...)
	if err != nil {
		return nil, err
	}
	log := filepath.Join(env.work, name+".log")
	p, err := startLogged(cmd, log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, waitReady(ctx, p, name, log, fluxReady(ports, log, kind))
}

// fluxReady is the readiness test of a controller process: its /readyz
// answers, and its log says the workers of its controller named controller
// have started. The probes answer as soon as the manager runs, before its
// informers have synced (which takes a second or more here: the non-admin
// user's first watches can be refused with 429 by API Priority and
// Fairness and retried); controller-runtime starts the workers once they
// have, and from then on the controller reconciles what is created.
func fluxReady(ports fluxPorts, log, controller string) func(context.Context) error {
	readyz := httpOK("http://" + ports.health + "/readyz")
	return func(ctx context.Context) error {
		if err := readyz(ctx); err != nil {
			return err
		}
		return logHasLine(log, `"msg":"Starting workers"`, `"controller":"`+controller+`"`)
	}
}

// create creates the GitRepository bench (branch main of env.repoURL,
// polled every env.pollInterval), then the Kustomizations app-NNNN,
// userWorkers at a time: each applies ./apps/app-NNNN into bench-(i%10), with prune on and
// no health checks (wait false), as the other engines do.
func (e *fluxEngine) create(ctx context.Context, env *peerEnv) error {
	repo := gitRepository(env.repoURL, env.pollInterval)
	if _, err := env.admin.Resource(gitRepositoriesGVR).Namespace(fluxNamespace).Create(ctx, repo, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create GitRepository %s: %w", fluxRepository, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(userWorkers)
	for i := range env.apps {
		g.Go(func() error {
			name := fmt.Sprintf("app-%04d", i)
			k := kustomization(name, fmt.Sprintf("bench-%d", i%namespaces), fluxKustomizationInterval)
			if _, err := env.admin.Resource(kustomizationsGVR).Namespace(fluxNamespace).Create(gctx, k, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create Kustomization %s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// fluxKustomizationInterval is the Kustomizations' interval: Flux's own
// examples' 10 minutes. The GitRepository polls every -poll-interval, as
// Ferry and Argo CD do, and a new revision reconciles every Kustomization
// at once; the Kustomization's interval is how often Flux re-applies with
// nothing changed (its drift correction). At the poll interval (30 s) 1,000
// Kustomizations never all showed Ready at once on this machine: each
// re-reconcile took ~15 s behind 16 workers and sets Ready to Unknown while
// it runs, so the cold sync was Flux re-applying what it had applied while
// others waited for their first apply. The interval chosen is the one that
// serves Flux best; docs/benchmarks.md says what it costs the comparison
// (drift is corrected every 10 minutes, not within the poll interval).
const fluxKustomizationInterval = 10 * time.Minute

// gitRepository is the GitRepository every Kustomization reads.
func gitRepository(url string, interval time.Duration) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1",
		"kind":       "GitRepository",
		"metadata":   map[string]any{"name": fluxRepository, "namespace": fluxNamespace},
		"spec": map[string]any{
			"url":      url,
			"ref":      map[string]any{"branch": "main"},
			"interval": interval.String(),
		},
	}}
}

// kustomization is application name's Kustomization.
func kustomization(name, targetNamespace string, interval time.Duration) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
		"kind":       "Kustomization",
		"metadata":   map[string]any{"name": name, "namespace": fluxNamespace},
		"spec": map[string]any{
			"sourceRef":       map[string]any{"kind": "GitRepository", "name": fluxRepository},
			"path":            "./apps/" + name,
			"prune":           true,
			"wait":            false,
			"interval":        interval.String(),
			"targetNamespace": targetNamespace,
		},
	}}
}

func (e *fluxEngine) apps() (schema.GroupVersionResource, string) {
	return kustomizationsGVR, fluxNamespace
}

// synced is Ready with revision applied: Flux writes lastAppliedRevision as
// <branch>@sha1:<sha>.
func (e *fluxEngine) synced(app *unstructured.Unstructured, revision string) bool {
	rev, _, _ := unstructured.NestedString(app.Object, "status", "lastAppliedRevision")
	return revision != "" && strings.HasSuffix(rev, revision) && conditionTrue(app, "Ready")
}

// refresh sets the reconcile.fluxcd.io/requestedAt annotation, to the
// time now, on the GitRepository (source-controller fetches again) and on
// every Kustomization, userWorkers at a time. A Kustomization has completed the
// request once its status.lastHandledReconcileAt is that value and it is
// Ready.
func (e *fluxEngine) refresh(ctx context.Context, env *peerEnv) (func(*unstructured.Unstructured) bool, error) {
	at := time.Now().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{fluxRequestedAt: at}}})
	if err != nil {
		return nil, err
	}
	if err := requestReconcile(ctx, env.admin, gitRepositoriesGVR, fluxRepository, patch); err != nil {
		return nil, err
	}
	if err := patchApps(ctx, env, kustomizationsGVR, fluxNamespace, patch); err != nil {
		return nil, fmt.Errorf("annotate the Kustomizations with %s: %w", fluxRequestedAt, err)
	}
	return func(app *unstructured.Unstructured) bool {
		handled, _, _ := unstructured.NestedString(app.Object, "status", "lastHandledReconcileAt")
		return handled == at && conditionTrue(app, "Ready")
	}, nil
}

// requestReconcile merge-patches the object name of gvr in flux-system
// with patch.
func requestReconcile(ctx context.Context, admin dynamic.Interface, gvr schema.GroupVersionResource, name string, patch []byte) error {
	_, err := admin.Resource(gvr).Namespace(fluxNamespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("annotate %s %s with %s: %w", gvr.Resource, name, fluxRequestedAt, err)
	}
	return nil
}

// processes are the two controllers, those of them started.
func (e *fluxEngine) processes() map[string]int {
	procs := map[string]int{}
	for name, p := range map[string]*process{"source-controller": e.source, "kustomize-controller": e.kustomize} {
		if p != nil {
			procs[name] = p.pid()
		}
	}
	return procs
}

// stop stops kustomize-controller, then source-controller, those of them
// started.
func (e *fluxEngine) stop() {
	for _, p := range []*process{e.kustomize, e.source} {
		if p != nil {
			p.stop()
		}
	}
	e.kustomize, e.source = nil, nil
	for _, dir := range e.tmps {
		_ = os.RemoveAll(dir)
	}
	e.tmps = nil
}

// fluxTmpRoot is a memory file system for Flux's temporary directories:
// /dev/shm when there is one, else the system's temporary directory.
func fluxTmpRoot() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}
