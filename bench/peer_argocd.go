package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api"
)

// argocdNamespace is where Argo CD's settings and Applications live.
const argocdNamespace = "argocd"

// argocdEngine runs Argo CD (tools/argocd: the application controller and
// the repo server of one release) outside the cluster, as its own local
// development setup (Procfile) does: the processes read the kubeconfig, and
// ARGOCD_FAKE_IN_CLUSTER=true makes the in-cluster destination
// (https://kubernetes.default.svc) use $KUBECONFIG's current context rather
// than a Pod's service account. Its cache is a redis-server of its own.
type argocdEngine struct {
	cfg config
	// redis, repo and controller are the processes start started, in that
	// order; stop stops them in reverse.
	redis, repo, controller *process
}

func (e *argocdEngine) name() string { return "Argo CD" }

// peer names tools/argocd, which hack/build-peer.sh builds into env.bin.
func (e *argocdEngine) peer() string { return "argocd" }

// start installs Argo CD's CRDs and settings, then starts its processes,
// and returns once the controller serves its health check (which it does
// once its Application and AppProject informers have synced; it builds its
// cache of the cluster's objects at the first Application, so within the
// cold sync).
func (e *argocdEngine) start(ctx context.Context, env *peerEnv) error {
	if env.bin == "" {
		return errors.New("no directory of Argo CD's binaries (hack/build-peer.sh argocd)")
	}
	c, err := client.New(env.cluster.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return err
	}
	if err := installCRDs(ctx, c, filepath.Join(env.bin, "crds")); err != nil { // build.sh copies Argo CD's there
		return err
	}
	if err := installArgoSettings(ctx, c, filepath.Join(env.bin, "config")); err != nil {
		return err
	}
	if err := e.startProcesses(ctx, env); err != nil {
		e.stop()
		return err
	}
	return nil
}

// startProcesses starts redis-server, the repo server and the application
// controller, each once the one before is ready. The caller stops those
// started when it fails.
func (e *argocdEngine) startProcesses(ctx context.Context, env *peerEnv) error {
	redisAddr, err := e.startRedis(ctx, env)
	if err != nil {
		return err
	}
	repoAddr, err := e.startRepoServer(ctx, env, redisAddr)
	if err != nil {
		return err
	}
	return e.startController(ctx, env, redisAddr, repoAddr)
}

// installArgoSettings creates the argocd namespace, the settings in dir as
// Argo CD's install ships them (argocd-cm, argocd-rbac-cm, argocd-secret),
// and the AppProject default allowing everything, which Argo CD's API server
// would otherwise create.
func installArgoSettings(ctx context.Context, c client.Client, dir string) error {
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": argocdNamespace},
	}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", argocdNamespace, err)
	}
	objs, err := readManifests(dir)
	if err != nil {
		return fmt.Errorf("read Argo CD's settings: %w", err)
	}
	objs = append(objs, argoDefaultProject())
	for _, obj := range objs {
		obj.SetNamespace(argocdNamespace)
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// argoDefaultProject is the AppProject default as Argo CD's API server
// creates it, and allowing every source and destination.
func argoDefaultProject() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "AppProject",
		"metadata":   map[string]any{"name": "default"},
		"spec": map[string]any{
			"sourceRepos":              []any{"*"},
			"destinations":             []any{map[string]any{"server": "*", "namespace": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
		},
	}}
}

// startRedis starts a redis-server of the engine's own (from PATH) on a
// loopback port, without persistence, and returns its address once it
// answers PING.
func (e *argocdEngine) startRedis(ctx context.Context, env *peerEnv) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dir := filepath.Join(env.work, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	e.redis, err = startLogged(cmd, filepath.Join(env.work, "redis-server.log"))
	if err != nil {
		return "", fmt.Errorf("start redis-server (Debian's redis-server package): %w", err)
	}
	ready := func(ctx context.Context) error { return redisPing(ctx, addr) }
	if err := waitReady(ctx, e.redis, "redis-server", filepath.Join(env.work, "redis-server.log"), ready); err != nil {
		return "", err
	}
	return addr, nil
}

// redisPing sends PING to the Redis server at addr and expects PONG.
func redisPing(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// startRepoServer starts argocd-repo-server on a loopback port with plain
// gRPC, and returns its address once its full health check (a gRPC health
// call to itself) passes. Its Git checkouts and temporary files go to a
// directory of its own (it puts them in $TMPDIR).
func (e *argocdEngine) startRepoServer(ctx context.Context, env *peerEnv, redisAddr string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	metricsPort, err := freePort()
	if err != nil {
		return "", err
	}
	dirs, err := argoDirs(env.work, "repo-server-tmp", "tls", "ssh", "gpg")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(env.bin, "argocd-repo-server"),
		"--address", "127.0.0.1", "--port", strconv.Itoa(port),
		"--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(metricsPort),
		"--redis", redisAddr,
		// Plain gRPC: the controller connects with --repo-server-plaintext.
		// The client CA path defaults to a Pod's mount, which
		// --disable-tls refuses.
		"--disable-tls", "--client-ca-path", "")
	cmd.Env = append(os.Environ(),
		// Every manifest generation runs git-verify-wrapper.sh, a script
		// of Argo CD's image build.sh puts beside the binary.
		"PATH="+env.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TMPDIR="+dirs[0],
		"ARGOCD_TLS_DATA_PATH="+dirs[1],
		"ARGOCD_SSH_DATA_PATH="+dirs[2],
		"ARGOCD_GNUPGHOME="+dirs[3],
		// GnuPG verification is for signed commits, which no Application
		// here asks for; on, it would load keys from a Pod's mount
		// (/app/config/gpg/source) at start.
		"ARGOCD_GPG_ENABLED=false",
		// The socket git's askpass helper talks to; the default is one path
		// in /tmp for every repo server on the machine.
		"ARGOCD_ASK_PASS_SOCK="+filepath.Join(env.work, "askpass.sock"))
	log := filepath.Join(env.work, "argocd-repo-server.log")
	e.repo, err = startLogged(cmd, log)
	if err != nil {
		return "", fmt.Errorf("start argocd-repo-server: %w", err)
	}
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz?full=true", metricsPort)
	if err := waitReady(ctx, e.repo, "argocd-repo-server", log, httpOK(health)); err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// startController starts argocd-application-controller as the kubeconfig's
// user and waits until its health check answers.
func (e *argocdEngine) startController(ctx context.Context, env *peerEnv, redisAddr, repoAddr string) error {
	metricsPort, err := freePort()
	if err != nil {
		return err
	}
	dirs, err := argoDirs(env.work, "controller-tmp")
	if err != nil {
		return err
	}
	resync := argoResyncSeconds(env.pollInterval)
	cmd := exec.Command(filepath.Join(env.bin, "argocd-application-controller"),
		"--kubeconfig", env.kubeconfig, "--namespace", argocdNamespace,
		"--repo-server", repoAddr, "--repo-server-plaintext",
		"--redis", redisAddr,
		// See argoResyncSeconds. The jitter (default 60 s) delays each
		// resync's comparison by a random part of it to spread the load;
		// Ferry checks its sources once per poll interval with no
		// jitter, and a jitter longer than the interval would move part
		// of one resync's work out of the one interval the benchmark
		// measures idle.
		"--app-resync", strconv.Itoa(resync), "--app-resync-jitter", "0",
		// Argo CD has two work queues where Ferry has one: status
		// processors compare Applications with Git (refreshes), operation
		// processors sync them. Each gets Ferry's --concurrency (16 by
		// default; Argo CD's defaults are 20 and 10), so neither step
		// runs fewer Applications at once than Ferry does; with both
		// busy Argo CD may run twice Ferry's workers, which on two cores
		// buys little, as the work is CPU and API server bound.
		"--status-processors", strconv.Itoa(e.cfg.concurrency),
		"--operation-processors", strconv.Itoa(e.cfg.concurrency),
		"--metrics-port", strconv.Itoa(metricsPort))
	cmd.Env = append(os.Environ(),
		// The in-cluster destination reads $KUBECONFIG (not --kubeconfig)
		// with this set; without it, it wants a Pod's service account.
		"ARGOCD_FAKE_IN_CLUSTER=true",
		"KUBECONFIG="+env.kubeconfig,
		"TMPDIR="+dirs[0])
	log := filepath.Join(env.work, "argocd-application-controller.log")
	e.controller, err = startLogged(cmd, log)
	if err != nil {
		return fmt.Errorf("start argocd-application-controller: %w", err)
	}
	// The metrics server, and its health check, listens (on every
	// interface: the controller has no flag for the address) once the
	// Application and AppProject informers have synced.
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", metricsPort)
	return waitReady(ctx, e.controller, "argocd-application-controller", log, httpOK(health))
}

// argoResyncSeconds is the --app-resync that makes the controller compare
// every Application with Git once per poll interval: half of it. The
// controller's Application informer resyncs every --app-resync, and an
// Application is compared then only if its last comparison
// (status.reconciledAt) is older than --app-resync; the comparison before
// was made just after the previous resync, so one in two resyncs compares
// it. (With --app-resync 30 a 20-application run compared nothing in the
// 32 s idle window.)
func argoResyncSeconds(poll time.Duration) int {
	return max(1, int((poll/2).Round(time.Second)/time.Second))
}

// argoDirs creates the named directories in work and returns their paths.
func argoDirs(work string, names ...string) ([]string, error) {
	dirs := make([]string, len(names))
	for i, n := range names {
		dirs[i] = filepath.Join(work, n)
		if err := os.MkdirAll(dirs[i], 0o755); err != nil {
			return nil, err
		}
	}
	return dirs, nil
}

// create creates the Applications Ferry's engine creates (the same
// objects).
func (e *argocdEngine) create(ctx context.Context, env *peerEnv) error {
	return createApplications(ctx, env)
}

func (e *argocdEngine) apps() (schema.GroupVersionResource, string) {
	return applicationsGVR, argocdNamespace
}

// synced is Synced at revision. (An auto-sync's operation may still be
// finishing then: Argo CD reports Synced once the objects match Git.)
func (e *argocdEngine) synced(app *unstructured.Unstructured, revision string) bool {
	return argoSynced(app, revision)
}

// refresh asks for a hard refresh of every Application: the repo server
// generates the manifests anew instead of from its cache, and the
// controller compares them in full.
func (e *argocdEngine) refresh(ctx context.Context, env *peerEnv) (func(*unstructured.Unstructured) bool, error) {
	return hardRefresh(ctx, env, argocdNamespace)
}

// processes are Argo CD's three processes. The git processes the repo
// server runs are children of it, not counted.
func (e *argocdEngine) processes() map[string]int {
	procs := map[string]int{}
	for name, p := range map[string]*process{
		"argocd-application-controller": e.controller, "argocd-repo-server": e.repo, "redis-server": e.redis,
	} {
		if p != nil {
			procs[name] = p.pid()
		}
	}
	return procs
}

// stop stops the controller, the repo server and redis-server, those of
// them started.
func (e *argocdEngine) stop() {
	for _, p := range []*process{e.controller, e.repo, e.redis} {
		if p != nil {
			p.stop()
		}
	}
	e.controller, e.repo, e.redis = nil, nil, nil
}
