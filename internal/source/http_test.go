package source

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/ferrycd/ferry/internal/gittest"
)

// gitHTTPServer serves the repositories under root over Git's smart HTTP
// protocol. If password is not empty, every request needs basic auth with it.
func gitHTTPServer(t *testing.T, root, password string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	return gittest.HTTPServer(t, root, "", password)
}

// bareCopy clones the test repository bare into root/name.
func bareCopy(t *testing.T, remote *testRepo, root, name string) {
	t.Helper()
	runGit(t, root, gitEnv(t), "clone", "-q", "--bare", remote.dir, filepath.Join(root, name))
}

func TestHTTPAnonymous(t *testing.T) {
	remote := newTestRepo(t)
	root := t.TempDir()
	bareCopy(t, remote, root, "demo.git")
	srv, _ := gitHTTPServer(t, root, "")
	c, _ := newTestCache(t, Options{})
	repoURL := srv.URL + "/demo.git"

	for rev, want := range map[string]string{
		"main":    remote.sha("main"),
		"v1.0.0":  remote.sha("v1.0.0"),
		"staging": remote.sha("staging"),
	} {
		got, err := c.Resolve(t.Context(), repoURL, rev, false)
		if err != nil || got != want {
			t.Fatalf("Resolve(%s) = %s, %v; want %s", rev, got, err, want)
		}
	}
	fsys, err := c.Snapshot(t.Context(), repoURL, remote.sha("main"))
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, fsys, "apps/guestbook/deployment.yaml", "kind: Deployment\nreplicas: 2\n")

	// The same repository spelled without ".git" shares the cache.
	if _, err := c.Resolve(t.Context(), srv.URL+"/demo/", "main", false); err != nil {
		t.Fatal(err)
	}
	if s := statsOf(t, c, repoURL); s.Clones != 1 || s.RefListings != 1 {
		t.Errorf("stats = %+v, want one clone and one listing", s)
	}

	// A push, then a forced refresh: an incremental fetch over HTTP.
	remote.write("README.md", "# over http\n")
	sha := remote.commit("over http")
	runGit(t, remote.dir, gitEnv(t), "push", "-q", filepath.Join(root, "demo.git"), "main")
	if got, err := c.Resolve(t.Context(), repoURL, "main", true); err != nil || got != sha {
		t.Fatalf("forced Resolve = %s, %v; want %s", got, err, sha)
	}
	if s := statsOf(t, c, repoURL); s.Clones != 1 || s.Fetches != 1 {
		t.Errorf("stats = %+v, want one clone and one incremental fetch", s)
	}
}

func TestHTTPBasicAuth(t *testing.T) {
	const password = "s3cret-Passw0rd"
	remote := newTestRepo(t)
	root := t.TempDir()
	bareCopy(t, remote, root, "private.git")
	srv, _ := gitHTTPServer(t, root, password)
	repoURL := srv.URL + "/private.git"
	want := remote.sha("main")

	withCreds := func(creds *Credentials) Options {
		return Options{Credentials: func(_ context.Context, u, _ string) (*Credentials, error) {
			if key, _ := NormalizeURL(repoURL); u != key {
				t.Errorf("credentials asked for %q, want the normalized URL %q", u, key)
			}
			return creds, nil
		}}
	}

	t.Run("anonymous", func(t *testing.T) {
		c, _ := newTestCache(t, Options{})
		_, err := c.Resolve(t.Context(), repoURL, "main", false)
		if !errors.Is(err, transport.ErrAuthenticationRequired) {
			t.Fatalf("error = %v, want transport.ErrAuthenticationRequired", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		const wrong = "wr0ng-Passw0rd-xyz"
		c, _ := newTestCache(t, withCreds(&Credentials{Username: "ferry", Password: wrong}))
		_, err := c.Resolve(t.Context(), repoURL, "main", false)
		if err == nil {
			t.Fatal("Resolve with a wrong password succeeded")
		}
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("error contains the password: %v", err)
		}
		t.Logf("error: %v", err)
	})
	t.Run("wrong password in URL", func(t *testing.T) {
		const wrong = "url-Passw0rd-xyz"
		c, _ := newTestCache(t, Options{})
		u := strings.Replace(repoURL, "://", "://ferry:"+wrong+"@", 1)
		_, err := c.Resolve(t.Context(), u, "main", false)
		if err == nil {
			t.Fatal("Resolve with a wrong password succeeded")
		}
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("error contains the password: %v", err)
		}
		for key := range c.Stats() {
			if strings.Contains(key, wrong) || strings.Contains(key, "ferry") {
				t.Errorf("Stats key %q contains user information", key)
			}
		}
	})
	t.Run("right password", func(t *testing.T) {
		c, _ := newTestCache(t, withCreds(&Credentials{Username: "ferry", Password: password}))
		got, err := c.Resolve(t.Context(), repoURL, "main", false)
		if err != nil || got != want {
			t.Fatalf("Resolve = %s, %v; want %s", got, err, want)
		}
		fsys, err := c.Snapshot(t.Context(), repoURL, got)
		if err != nil {
			t.Fatal(err)
		}
		assertFile(t, fsys, "README.md", "# demo\n")
	})
	t.Run("token only", func(t *testing.T) {
		c, _ := newTestCache(t, withCreds(&Credentials{Password: password}))
		if got, err := c.Resolve(t.Context(), repoURL, "main", false); err != nil || got != want {
			t.Fatalf("Resolve = %s, %v; want %s", got, err, want)
		}
	})
	t.Run("password in URL", func(t *testing.T) {
		c, _ := newTestCache(t, Options{})
		u := strings.Replace(repoURL, "://", "://ferry:"+password+"@", 1)
		if got, err := c.Resolve(t.Context(), u, "main", false); err != nil || got != want {
			t.Fatalf("Resolve = %s, %v; want %s", got, err, want)
		}
	})
}

// TestRefusedRepositories checks the safe defaults: a local repository is
// refused unless AllowLocal, and a repository at a link-local address is
// refused before any connection unless the network policy allows it.
func TestRefusedRepositories(t *testing.T) {
	remote := newTestRepo(t)
	c, err := NewCache(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"file://" + remote.dir, remote.dir} {
		_, err := c.Resolve(t.Context(), u, "main", false)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "--allow-local-repositories") {
			t.Errorf("Resolve(%s) without AllowLocal = %v, want refused naming the flag", u, err)
		}
	}
	local, _ := newTestCache(t, Options{})
	if _, err := local.Resolve(t.Context(), "file://"+remote.dir, "main", false); err != nil {
		t.Errorf("Resolve with AllowLocal: %v", err)
	}

	for _, u := range []string{"http://169.254.169.254/org/repo.git", "https://[fe80::1]:8443/org/repo", "ssh://git@169.254.169.254/org/repo"} {
		_, err := c.Resolve(t.Context(), u, "main", false)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "--allow-link-local-addresses") {
			t.Errorf("Resolve(%s) = %v, want refused naming the flag", u, err)
		}
	}
}

// TestRemoteReplyIsOneLine checks that what a Git server replies (here a
// 10 KiB error page) reaches the error as a one-line reason, not whole.
func TestRemoteReplyIsOneLine(t *testing.T) {
	page := "<html>\n<body>\n" + strings.Repeat("<p>Access denied by policy</p>\n", 300) + "</body></html>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, page, http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestCache(t, Options{})
	_, err := c.Resolve(t.Context(), srv.URL+"/org/repo.git", "main", false)
	if err == nil {
		t.Fatal("Resolve against a 403 succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > 600 || !strings.Contains(msg, "Access denied") {
		t.Errorf("error is %d bytes, want one line with the start of the reason: %q", len(msg), msg)
	}
	if !errors.Is(err, transport.ErrAuthorizationFailed) {
		t.Errorf("error %v no longer says authorization failed to errors.Is", err)
	}
}
