package source

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testRepo is a real Git repository made with the git command, in a
// temporary directory, as the remote for the tests.
type testRepo struct {
	t    testing.TB
	dir  string
	tick int // commit clock, so hashes are reproducible
}

// gitEnv isolates the git command from the machine's configuration.
func gitEnv(t testing.TB) []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+filepath.Join(t.TempDir(), "gitconfig"),
		"GIT_AUTHOR_NAME=Ada Lovelace",
		"GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada Lovelace",
		"GIT_COMMITTER_EMAIL=ada@example.com",
	)
}

func runGit(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newTestRepo creates a repository with:
//
//	main:    two commits; files, an executable, in-repo symlinks (to a file
//	         and to a directory) and two symlinks escaping the repository
//	staging: a branch off the first commit, with one more commit
//	v1.0.0:  an annotated tag on the first commit
//	light:   a lightweight tag on the first commit
func newTestRepo(t testing.TB) *testRepo {
	t.Helper()
	r := &testRepo{t: t, dir: filepath.Join(t.TempDir(), "remote")}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.git("init", "-q", "-b", "main")
	r.write("README.md", "# demo\n")
	r.write("apps/guestbook/deployment.yaml", "kind: Deployment\n")
	r.write("apps/guestbook/service.yaml", "kind: Service\n")
	r.write("clean/a.yaml", "a: 1\n")
	r.write("clean/sub/b.yaml", "b: 2\n")
	r.write("hack/run.sh", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(r.dir, "hack/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.symlink("guestbook/service.yaml", "apps/link.yaml")
	r.symlink("apps/guestbook", "base")
	r.symlink("a.yaml", "clean/link.yaml")
	r.symlink("..", "clean/sub/up")
	r.symlink("../../etc/passwd", "apps/x.yaml")
	r.symlink("/etc/passwd", "apps/abs.yaml")
	r.commit("first")
	r.git("tag", "-a", "v1.0.0", "-m", "release 1.0.0")
	r.git("tag", "light")
	r.git("checkout", "-q", "-b", "staging")
	r.write("apps/guestbook/service.yaml", "kind: Service # staging\n")
	r.commit("staging change")
	r.git("checkout", "-q", "main")
	r.write("apps/guestbook/deployment.yaml", "kind: Deployment\nreplicas: 2\n")
	r.commit("second")
	return r
}

func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	return runGit(r.t, r.dir, gitEnv(r.t), args...)
}

func (r *testRepo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *testRepo) symlink(target, name string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		r.t.Fatal(err)
	}
}

// commit commits everything and returns the new commit's SHA.
func (r *testRepo) commit(msg string) string {
	r.t.Helper()
	r.tick++
	date := fmt.Sprintf("%d +0000", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()+int64(r.tick)*60)
	r.git("add", "-A")
	cmd := exec.Command("git", "commit", "-q", "-m", msg)
	cmd.Dir = r.dir
	cmd.Env = append(gitEnv(r.t), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git commit: %v\n%s", err, out)
	}
	return r.sha("HEAD")
}

func (r *testRepo) sha(rev string) string {
	r.t.Helper()
	return r.git("rev-parse", rev+"^{commit}")
}

func (r *testRepo) url() string { return "file://" + r.dir }

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestCache returns a Cache in a temporary directory, on a fake clock,
// reading local repositories (the tests' file:// remotes).
func newTestCache(t testing.TB, opts Options) (*Cache, *fakeClock) {
	t.Helper()
	opts.AllowLocal = true
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "cache")
	}
	c, err := NewCache(opts)
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	c.now = clk.Now
	return c, clk
}

// statsOf returns the Stats of one repository, by any spelling of its URL.
func statsOf(t testing.TB, c *Cache, repoURL string) RepoStats {
	t.Helper()
	key, err := NormalizeURL(repoURL)
	if err != nil {
		t.Fatal(err)
	}
	return c.Stats()[key]
}
