package bootstrap_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/bootstrap"
	"github.com/ferrycd/ferry/internal/gittest"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
	"github.com/ferrycd/ferry/internal/scaffold"
)

const user, password = "ferry", "s3cret-bootstrap-token"

func TestMain(m *testing.M) {
	code := m.Run()
	localclustertest.RemoveFerryBinary()
	os.Exit(code)
}

// TestBootstrapGit: `ferry bootstrap git` against a smart-HTTP server with
// basic auth, on ferry init's layout. The repository gets the install
// manifests and the root Application in one commit; a second run commits
// nothing and changes nothing in the cluster; the controller (a process,
// since kwok runs no containers) syncs the root Application, Ferry's own
// objects included, and a commit changing the replica count in Git is
// applied to Ferry's own Deployment.
func TestBootstrapGit(t *testing.T) {
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeFull})
	cl, err := client.New(c.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	work, root := t.TempDir(), t.TempDir()
	srv, _ := gittest.HTTPServer(t, root, user, password)
	repoURL := srv.URL + "/gitops.git"
	if _, err := scaffold.Init(ctx, work, scaffold.Options{RepoURL: repoURL}); err != nil {
		t.Fatal(err)
	}
	gittest.AllowPush(t, gittest.BareClone(t, work, root, "gitops.git"))
	before := gittest.Git(t, work, "rev-parse", "HEAD")
	ferry := localclustertest.FerryBinary(t)

	args := []string{"bootstrap", "git", "--kubeconfig", c.KubeconfigPath(), "--url", repoURL, "--branch", "main",
		"--path", "clusters/production", "--username", user, "--password", password, "--image", "ferry:v0.0.0-test"}
	out := run(t, ferry, args...)
	if strings.Contains(out, password) {
		t.Errorf("the password is in bootstrap's output:\n%s", out)
	}
	pull(t, work, repoURL)
	if n := gittest.Git(t, work, "rev-list", "--count", before+"..HEAD"); n != "1" {
		t.Fatalf("bootstrap made %s commits, want 1", n)
	}
	files := gittest.Git(t, work, "diff", "--name-only", before, "HEAD")
	if files != "clusters/production/ferry-system/install.yaml\nclusters/production/ferry-system/root.yaml" {
		t.Errorf("bootstrap committed:\n%s", files)
	}
	if grep(t, work, password) {
		t.Error("the password was committed")
	}
	head := gittest.Git(t, work, "rev-parse", "HEAD")

	// Again: nothing to commit, nothing changed in the cluster.
	out = run(t, ferry, args...)
	pull(t, work, repoURL)
	if got := gittest.Git(t, work, "rev-parse", "HEAD"); got != head {
		t.Errorf("a second bootstrap moved main from %s to %s", head, got)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, " created") || strings.HasSuffix(line, " configured") {
			t.Errorf("a second bootstrap changed the cluster: %s", line)
		}
	}
	if !strings.Contains(out, "nothing to commit") {
		t.Errorf("a second bootstrap does not say it committed nothing:\n%s", out)
	}

	// The controller picks the root Application up and manages itself.
	startController(t, ferry, c)
	rootApp := &v1alpha1.Application{}
	rootApp.Namespace, rootApp.Name = "argocd", bootstrap.RootName
	waitSynced(t, cl, rootApp, head)
	for _, name := range []string{"frontend-production", "backend-production", "infrastructure-production"} {
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: name}, &v1alpha1.Application{}); err != nil {
			t.Errorf("the root Application did not create ferry init's Application %s: %v", name, err)
		}
	}

	installYAML := filepath.Join(work, "clusters", "production", "ferry-system", "install.yaml")
	data, err := os.ReadFile(installYAML)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n  replicas: 1\n"); n != 1 {
		t.Fatalf("install.yaml has %d `replicas: 1` lines, want the Deployment's alone", n)
	}
	if err := os.WriteFile(installYAML, []byte(strings.Replace(string(data), "\n  replicas: 1\n", "\n  replicas: 2\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, work, "commit", "-q", "-am", "Two Ferry replicas")
	gittest.Git(t, work, "push", "-q", authURL(repoURL), "HEAD:main")
	scaled := gittest.Git(t, work, "rev-parse", "HEAD")
	waitSynced(t, cl, rootApp, scaled)
	// Bootstrap again with the first flags: it would undo the commit, so
	// it refuses and pushes nothing.
	cmd := exec.CommandContext(ctx, ferry, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "clusters/production/ferry-system/install.yaml") {
		t.Errorf("bootstrap over a changed install.yaml: %v\n%s", err, out)
	}
	pull(t, work, repoURL)
	if got := gittest.Git(t, work, "rev-parse", "HEAD"); got != scaled {
		t.Errorf("a refused bootstrap moved main from %s to %s", scaled, got)
	}
	localclustertest.Eventually(t, 2*time.Minute, "Ferry's Deployment at 2 replicas", func(ctx context.Context) (bool, string) {
		d := &appsv1.Deployment{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: "ferry-controller"}, d); err != nil {
			return false, err.Error()
		}
		return d.Spec.Replicas != nil && *d.Spec.Replicas == 2, fmt.Sprintf("replicas %v", *d.Spec.Replicas)
	})
}

func authURL(repoURL string) string {
	return strings.Replace(repoURL, "http://", "http://"+user+":"+password+"@", 1)
}

func pull(t *testing.T, work, repoURL string) {
	t.Helper()
	gittest.Git(t, work, "pull", "-q", "--ff-only", authURL(repoURL), "main")
}

func grep(t *testing.T, dir, s string) bool {
	t.Helper()
	err := exec.Command("git", "-C", dir, "grep", "-q", s, "HEAD").Run()
	return err == nil
}

func run(t *testing.T, ferry string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), ferry, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no ~/.kube, no ~/.gitconfig
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ferry %s: %v\n%s", strings.Join(args[:2], " "), err, out)
	}
	t.Logf("ferry %s:\n%s", strings.Join(args[:2], " "), out)
	return string(out)
}

// startController runs `ferry controller` as the installed Deployment
// would (no CRD install, the home namespace argocd), until the test ends.
func startController(t *testing.T, ferry string, c *localcluster.Cluster) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "controller.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ferry, "controller", "--kubeconfig", c.KubeconfigPath(), "--install-crds=false",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port), "--health-probe-bind-address", "0", "--webhook-bind-address", "0",
		"--cache-dir", filepath.Join(dir, "git"), "--poll-interval", "2s")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("controller log (end):\n%s", b)
		}
	})
}

func waitSynced(t *testing.T, cl client.Client, app *v1alpha1.Application, revision string) {
	t.Helper()
	localclustertest.Eventually(t, 3*time.Minute, "Application "+app.Name+" Synced at "+revision[:7], func(ctx context.Context) (bool, string) {
		got := &v1alpha1.Application{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			return false, err.Error()
		}
		var conds []string
		for _, c := range got.Status.Conditions {
			conds = append(conds, string(c.Type)+": "+c.Message)
		}
		return got.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced && got.Status.Sync.Revision == revision,
			fmt.Sprintf("%s at %.7s; %s", got.Status.Sync.Status, got.Status.Sync.Revision, strings.Join(conds, "; "))
	})
}
