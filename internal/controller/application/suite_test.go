package application_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/config/crd"
	"github.com/ferrycd/ferry/internal/controller"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
	"github.com/ferrycd/ferry/internal/seed"
)

// env is the control plane and controller every test in this package shares:
// starting them once keeps the suite fast; tests use their own Applications,
// repositories and namespaces.
var env struct {
	cluster *localcluster.Cluster
	client  client.Client
	logs    *syncBuffer
}

// TestMain starts a full local control plane and Ferry's controller (as the
// non-admin user, with a 2 s poll interval), runs the tests, stops both, and
// fails the run if any process it started is still alive.
func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pids := c.PIDs()
	defer func() {
		if err := c.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		for name, pid := range pids {
			if localcluster.Alive(pid) {
				fmt.Fprintf(os.Stderr, "%s (pid %d) still running after the suite\n", name, pid)
				os.Exit(1)
			}
		}
	}()
	env.cluster = c
	env.logs = &syncBuffer{}
	ctrl.SetLogger(zap.New(zap.WriteTo(env.logs), zap.UseDevMode(true)))
	admin, err := client.New(c.AdminConfig(), client.Options{Scheme: controller.NewScheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := crd.Install(ctx, admin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.client, err = client.New(c.UserConfig(), client.Options{Scheme: controller.NewScheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cacheDir, err := os.MkdirTemp("", "ferry-git-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(cacheDir)
	done := make(chan error, 1)
	go func() {
		done <- controller.Run(ctx, c.UserConfig(), controller.Options{
			PollInterval: 2 * time.Second, Concurrency: 4,
			MetricsAddr: "0", HealthAddr: "0", CacheDir: cacheDir,
		})
	}()
	if err := createNamespace(ctx, "argocd"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- controller log (last 8 KiB) ---\n%s\n", env.logs.tail(8192))
	}
	return code
}

func createNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// syncBuffer collects the controller's log for assertions.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// gitRepo is a real Git repository made by a test, served over file://.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.git("config", "user.email", "test@example.com")
	r.git("config", "user.name", "Ferry Test")
	return r
}

func (r *gitRepo) url() string { return "file://" + r.dir }

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *gitRepo) write(files map[string]string) {
	r.t.Helper()
	for path, content := range files {
		full := filepath.Join(r.dir, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// commit commits everything and returns the new HEAD.
func (r *gitRepo) commit(msg string) string {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// seedApplication returns the seed's Application named name, verbatim, with
// only repoURL pointed at repo.
func seedApplication(t *testing.T, name string, repo *gitRepo) *v1alpha1.Application {
	t.Helper()
	for _, doc := range strings.Split(string(seed.Applications()), "\n---") {
		app := &v1alpha1.Application{}
		if err := yaml.Unmarshal([]byte(doc), app); err != nil {
			t.Fatalf("parse seed: %v", err)
		}
		if app.Name == name {
			app.Spec.Source.RepoURL = repo.url()
			return app
		}
	}
	t.Fatalf("no seed application %s", name)
	return nil
}

func getApp(ctx context.Context, t *testing.T, app *v1alpha1.Application) *v1alpha1.Application {
	t.Helper()
	got := &v1alpha1.Application{}
	if err := env.client.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
		t.Fatalf("get application %s: %v", app.Name, err)
	}
	return got
}

// eventually polls cond until it holds or timeout passes, then fails with
// what cond last described.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	localclustertest.Eventually(t, timeout, what, cond)
}

// waitApp waits until the Application's status satisfies cond.
func waitApp(t *testing.T, app *v1alpha1.Application, what string, cond func(*v1alpha1.Application) bool) *v1alpha1.Application {
	t.Helper()
	var got *v1alpha1.Application
	eventually(t, 60*time.Second, app.Name+" "+what, func(ctx context.Context) (bool, string) {
		got = &v1alpha1.Application{}
		if err := env.client.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			return false, err.Error()
		}
		return cond(got), describeApp(got)
	})
	return got
}

func describeApp(app *v1alpha1.Application) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sync=%s health=%s revision=%.7s", app.Status.Sync.Status, app.Status.Health.Status, app.Status.Sync.Revision)
	if op := app.Status.OperationState; op != nil {
		fmt.Fprintf(&b, " operation=%s (%s)", op.Phase, op.Message)
	}
	for _, c := range app.Status.Conditions {
		fmt.Fprintf(&b, " condition %s: %s;", c.Type, c.Message)
	}
	for _, r := range app.Status.Resources {
		h := ""
		if r.Health != nil {
			h = string(r.Health.Status)
		}
		fmt.Fprintf(&b, " [%s %s/%s %s %s prune=%v]", r.Kind, r.Namespace, r.Name, r.Status, h, r.RequiresPruning)
	}
	return b.String()
}

func syncedAt(revision string) func(*v1alpha1.Application) bool {
	return func(a *v1alpha1.Application) bool {
		return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced && a.Status.Sync.Revision == revision
	}
}

func healthy(a *v1alpha1.Application) bool {
	return a.Status.Health.Status == v1alpha1.HealthStatusHealthy
}

// live reads an object from the cluster; nil when it does not exist.
func live(ctx context.Context, t *testing.T, apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind))
	err := env.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", kind, namespace, name, err)
	}
	return u
}
