package application_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/controller/controllertest"
	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// env is the control plane and controller every test in this package shares:
// starting them once keeps the suite fast; tests use their own Applications,
// repositories and namespaces.
var env controllertest.Env

// TestMain starts a full local control plane and Ferry's controller (as the
// non-admin user, with a 2 s poll interval), runs the tests, stops both, and
// fails the run if any process it started is still alive.
func TestMain(m *testing.M) {
	os.Exit(controllertest.Run(m, &env))
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

// exampleApplication returns the example Application named name, verbatim, with
// only repoURL pointed at repo.
func exampleApplication(t *testing.T, name string, repo *gitRepo) *v1alpha1.Application {
	t.Helper()
	docs, err := examples.ApplicationDocuments()
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		app := &v1alpha1.Application{}
		if err := yaml.Unmarshal(doc, app); err != nil {
			t.Fatalf("parse example: %v", err)
		}
		if app.Name == name {
			app.Spec.Source.RepoURL = repo.url()
			return app
		}
	}
	t.Fatalf("no example application %s", name)
	return nil
}

func getApp(ctx context.Context, t *testing.T, app *v1alpha1.Application) *v1alpha1.Application {
	t.Helper()
	got := &v1alpha1.Application{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
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
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
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
	err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", kind, namespace, name, err)
	}
	return u
}
