// Package gittest serves Git repositories over the smart HTTP protocol for
// tests: git http-backend behind net/http/cgi on a loopback server, the same
// protocol a Git host speaks, with optional basic auth.
package gittest

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// HTTPServer serves the repositories under root (bare repositories, by
// directory name). With password set, every request needs basic auth with
// it, and with user set, that user name too. Pushes are accepted by
// repositories configured with http.receivepack=true (see AllowPush). The
// counter counts requests.
func HTTPServer(t testing.TB, root, user, password string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
	}
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if password != "" {
			if u, pw, ok := r.BasicAuth(); !ok || pw != password || (user != "" && u != user) {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

// BareClone clones the repository at src bare into root/name and returns
// its path.
func BareClone(t testing.TB, src, root, name string) string {
	t.Helper()
	dst := filepath.Join(root, name)
	if out, err := exec.Command("git", "clone", "-q", "--bare", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v: %s", err, out)
	}
	return dst
}

// AllowPush lets clients push to the bare repository at dir over HTTP.
func AllowPush(t testing.TB, dir string) {
	t.Helper()
	if out, err := exec.Command("git", "-C", dir, "config", "http.receivepack", "true").CombinedOutput(); err != nil {
		t.Fatalf("git config http.receivepack: %v: %s", err, out)
	}
}
