package gitupdate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrycd/ferry/internal/gittest"
	"github.com/ferrycd/ferry/internal/image/setters"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: myapp
spec:
  template:
    spec:
      containers:
        - name: myapp
          # {"$imagepolicy": "flux-system:myapp"}
          image: registry.example.com/myapp:1.2.3
`

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=T",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// remote makes a repository with apps/myapp/deployment.yaml on main, served
// over smart HTTP with basic auth; it returns the URL and a working clone.
func remote(t *testing.T) (url, work string) {
	t.Helper()
	work = t.TempDir()
	run(t, work, "init", "-q", "-b", "main")
	if err := os.MkdirAll(filepath.Join(work, "apps", "myapp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "apps", "myapp", "deployment.yaml"), []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("readme\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, work, "add", "-A")
	run(t, work, "commit", "-q", "-m", "initial")
	root := t.TempDir()
	gittest.AllowPush(t, gittest.BareClone(t, work, root, "repo.git"))
	srv, _ := gittest.HTTPServer(t, root, "bot", "pw-123456")
	url = srv.URL + "/repo.git"
	run(t, work, "remote", "add", "served", strings.Replace(url, "http://", "http://bot:pw-123456@", 1))
	return url, work
}

func options(url string) Options {
	return Options{
		URL: url, Auth: &githttp.BasicAuth{Username: "bot", Password: "pw-123456"}, Secrets: []string{"pw-123456"},
		CheckoutBranch: "main", Path: "./apps",
		Images:     map[string]setters.Image{"flux-system:myapp": {Name: "registry.example.com/myapp", Tag: "1.2.4"}},
		AuthorName: "Flux Automation", AuthorEmail: "flux@example.com",
		MessageTemplate: "Update {{ .AutomationObject }} images\n\nImages: {{ range .Updated.Images }}{{ .String }}{{ end }}\n" +
			"{{ range .Changed.Changes }}{{ .OldValue }} -> {{ .NewValue }}{{ end }} {{ .Values.env }}",
		Automation: types.NamespacedName{Namespace: "flux-system", Name: "myapp"},
		Values:     map[string]string{"env": "prod"},
	}
}

// TestRunCommitsAndPushes: one commit changing one line, the message from
// the template, nothing when run again.
func TestRunCommitsAndPushes(t *testing.T) {
	url, work := remote(t)
	res, err := Run(t.Context(), options(url))
	if err != nil {
		t.Fatal(err)
	}
	run(t, work, "fetch", "-q", "served", "main")
	if head := run(t, work, "rev-parse", "FETCH_HEAD"); res.Commit == "" || head != res.Commit {
		t.Fatalf("pushed %q, remote main at %q", res.Commit, head)
	}
	if stat := run(t, work, "diff", "--numstat", "HEAD", "FETCH_HEAD"); stat != "1\t1\tapps/myapp/deployment.yaml" {
		t.Errorf("diff %q", stat)
	}
	want := "Update flux-system/myapp images\n\nImages: registry.example.com/myapp:1.2.4\nregistry.example.com/myapp:1.2.3 -> registry.example.com/myapp:1.2.4 prod"
	if msg := run(t, work, "log", "-1", "--format=%B", "FETCH_HEAD"); msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	again, err := Run(t.Context(), options(url))
	if err != nil || again.Commit != "" || len(again.Files) != 0 {
		t.Errorf("second run: %+v, %v; want no commit", again, err)
	}
}

// TestRunRetriesAfterConcurrentPush: someone pushes between the clone and
// the push; the run clones again, reapplies and lands on top.
func TestRunRetriesAfterConcurrentPush(t *testing.T) {
	url, work := remote(t)
	opts := options(url)
	pushes := 0
	opts.beforePush = func() {
		if pushes++; pushes > 1 {
			return
		}
		if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("changed meanwhile\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, work, "commit", "-q", "-am", "concurrent")
		run(t, work, "push", "-q", "served", "main")
	}
	res, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if pushes != 2 {
		t.Errorf("%d push attempts, want 2", pushes)
	}
	run(t, work, "fetch", "-q", "served", "main")
	if parent := run(t, work, "log", "-1", "--format=%s", res.Commit+"~1"); parent != "concurrent" {
		t.Errorf("the update's parent is %q, want the concurrent commit", parent)
	}
}

// TestRunDryRunAndPushBranch: a dry run pushes nothing; a push branch that
// differs is created, and later runs build on it.
func TestRunDryRunAndPushBranch(t *testing.T) {
	url, work := remote(t)
	opts := options(url)
	opts.DryRun = true
	res, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	fc, ok := res.Files["apps/myapp/deployment.yaml"]
	if res.Commit != "" || !ok || !strings.Contains(string(fc.New), "myapp:1.2.4") || string(fc.Old) != deployment {
		t.Errorf("dry run: %+v", res)
	}
	run(t, work, "fetch", "-q", "served", "main")
	if run(t, work, "rev-parse", "FETCH_HEAD") != run(t, work, "rev-parse", "HEAD") {
		t.Error("a dry run pushed")
	}

	opts = options(url)
	opts.PushBranch = "image-updates"
	if res, err = Run(t.Context(), opts); err != nil || res.Commit == "" {
		t.Fatalf("push to a new branch: %+v, %v", res, err)
	}
	opts.Images["flux-system:myapp"] = setters.Image{Name: "registry.example.com/myapp", Tag: "1.3.0"}
	second, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	run(t, work, "fetch", "-q", "served", "image-updates")
	if parent := run(t, work, "rev-parse", second.Commit+"~1"); parent != res.Commit {
		t.Errorf("second update's parent %s, want the first update %s (stacked on the push branch)", parent, res.Commit)
	}
}

// TestRunRedactsCredentials: a wrong URL's error does not carry the password.
func TestRunRedactsCredentials(t *testing.T) {
	url, _ := remote(t)
	opts := options(strings.Replace(url, "repo.git", "missing.git", 1))
	opts.Auth = &githttp.BasicAuth{Username: "bot", Password: "pw-123456"}
	_, err := Run(t.Context(), opts)
	if err == nil || strings.Contains(err.Error(), "pw-123456") {
		t.Errorf("err = %v", err)
	}
}
