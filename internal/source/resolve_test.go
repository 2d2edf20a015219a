package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	first, second, staging := remote.sha("v1.0.0"), remote.sha("main"), remote.sha("staging")

	tests := []struct {
		revision string
		want     string
	}{
		{"main", second},
		{"staging", staging},
		{"v1.0.0", first}, // annotated tag: its commit
		{"light", first},  // lightweight tag
		{"refs/heads/staging", staging},
		{"refs/tags/v1.0.0", first},
		{"tags/light", first},
		{"HEAD", second},
		{"", second},
		{first, first},
		{strings.ToUpper(staging), staging},
		{first[:7], first},
		{staging[:12], staging},
		{" main ", second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.revision), func(t *testing.T) {
			got, err := c.Resolve(t.Context(), remote.url(), tt.revision, false)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Resolve(%q) = %s, want %s", tt.revision, got, tt.want)
			}
		})
	}
	if s := statsOf(t, c, remote.url()); s.Clones != 1 || s.RefListings != 1 || s.Fetches != 0 {
		t.Errorf("stats = %+v, want one clone and one listing for all revisions", s)
	}
}

func TestResolveUnknownRevision(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	for _, rev := range []string{"no-such-branch", "0123456789abcdef0123456789abcdef01234567", "abcdef0"} {
		_, err := c.Resolve(t.Context(), remote.url(), rev, false)
		if !errors.Is(err, ErrRevisionNotFound) {
			t.Fatalf("Resolve(%q) error = %v, want ErrRevisionNotFound", rev, err)
		}
		if !strings.Contains(err.Error(), rev) || !strings.Contains(err.Error(), remote.dir) {
			t.Errorf("error %q does not name revision %q and repository %s", err, rev, remote.dir)
		}
	}
}

func TestResolveURLSpellingsShareOneCache(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	want := remote.sha("main")
	for _, u := range []string{remote.url(), remote.url() + ".git", remote.url() + "/", remote.dir} {
		got, err := c.Resolve(t.Context(), u, "main", false)
		if err != nil {
			t.Fatalf("Resolve(%s): %v", u, err)
		}
		if got != want {
			t.Errorf("Resolve(%s) = %s, want %s", u, got, want)
		}
	}
	if stats := c.Stats(); len(stats) != 1 {
		t.Errorf("Stats has %d repositories, want 1: %v", len(stats), stats)
	}
	if s := statsOf(t, c, remote.url()); s.RefListings != 1 || s.Clones != 1 {
		t.Errorf("stats = %+v, want one listing and one clone", s)
	}
}

func TestResolvePollInterval(t *testing.T) {
	remote := newTestRepo(t)
	c, clk := newTestCache(t, Options{PollInterval: time.Minute})
	ctx := t.Context()
	old, err := c.Resolve(ctx, remote.url(), "main", false)
	if err != nil {
		t.Fatal(err)
	}
	remote.write("apps/guestbook/deployment.yaml", "kind: Deployment\nreplicas: 3\n")
	newSHA := remote.commit("third")

	clk.Add(30 * time.Second)
	if got, err := c.Resolve(ctx, remote.url(), "main", false); err != nil || got != old {
		t.Fatalf("within the interval: Resolve = %s, %v; want the old %s", got, err, old)
	}
	if s := statsOf(t, c, remote.url()); s.RefListings != 1 {
		t.Fatalf("within the interval: %d listings, want 1", s.RefListings)
	}

	if got, err := c.Resolve(ctx, remote.url(), "main", true); err != nil || got != newSHA {
		t.Fatalf("forced: Resolve = %s, %v; want the new %s", got, err, newSHA)
	}
	s := statsOf(t, c, remote.url())
	if s.RefListings != 2 || s.Fetches != 1 || s.Clones != 1 {
		t.Fatalf("after forced refresh: stats = %+v, want 2 listings, 1 incremental fetch, 1 clone", s)
	}

	remote.write("README.md", "# demo, fourth\n")
	fourth := remote.commit("fourth")
	clk.Add(59 * time.Second)
	if got, _ := c.Resolve(ctx, remote.url(), "main", false); got != newSHA {
		t.Fatalf("59s after the forced listing: Resolve = %s, want %s", got, newSHA)
	}
	clk.Add(time.Second)
	if got, err := c.Resolve(ctx, remote.url(), "main", false); err != nil || got != fourth {
		t.Fatalf("after the interval: Resolve = %s, %v; want %s", got, err, fourth)
	}
	s = statsOf(t, c, remote.url())
	if s.RefListings != 3 || s.Fetches != 2 || s.Clones != 1 {
		t.Fatalf("after the interval: stats = %+v, want 3 listings, 2 fetches, 1 clone", s)
	}

	// A listing that finds nothing new fetches nothing.
	clk.Add(time.Minute)
	if _, err := c.Resolve(ctx, remote.url(), "main", false); err != nil {
		t.Fatal(err)
	}
	if s := statsOf(t, c, remote.url()); s.RefListings != 4 || s.Fetches != 2 {
		t.Fatalf("unchanged remote: stats = %+v, want 4 listings and still 2 fetches", s)
	}
}

// TestResolveSince: a refresh asked for at some time is answered by any
// listing started after it, and only by one.
func TestResolveSince(t *testing.T) {
	remote := newTestRepo(t)
	c, clk := newTestCache(t, Options{PollInterval: time.Hour})
	ctx := t.Context()
	asked := clk.Now()
	clk.Add(time.Second)
	old, err := c.Resolve(ctx, remote.url(), "main", false) // lists at asked+1s
	if err != nil {
		t.Fatal(err)
	}
	remote.write("README.md", "# pushed after the listing\n")
	pushed := remote.commit("pushed")
	clk.Add(time.Second)

	// The listing started after the ask: it answers it, without another.
	if got, err := c.ResolveSince(ctx, remote.url(), "main", asked); err != nil || got != old {
		t.Fatalf("asked before the listing: ResolveSince = %s, %v; want %s from that listing", got, err, old)
	}
	if s := statsOf(t, c, remote.url()); s.RefListings != 1 {
		t.Fatalf("asked before the listing: %d listings, want 1", s.RefListings)
	}
	// A refresh asked for after it (the push came before the ask) lists
	// again and sees the push.
	askedAfterPush := clk.Now()
	clk.Add(time.Second)
	if got, err := c.ResolveSince(ctx, remote.url(), "main", askedAfterPush); err != nil || got != pushed {
		t.Fatalf("asked after the push: ResolveSince = %s, %v; want %s", got, err, pushed)
	}
	if s := statsOf(t, c, remote.url()); s.RefListings != 2 {
		t.Fatalf("asked after the push: %d listings, want 2", s.RefListings)
	}
	// Every other refresh asked for before that listing shares it.
	for range 5 {
		if got, err := c.ResolveSince(ctx, remote.url(), "main", askedAfterPush); err != nil || got != pushed {
			t.Fatalf("ResolveSince = %s, %v; want %s", got, err, pushed)
		}
	}
	if s := statsOf(t, c, remote.url()); s.RefListings != 2 || s.Fetches != 1 {
		t.Fatalf("a burst of refreshes asked before the listing: stats = %+v, want 2 listings and 1 fetch", s)
	}
}

func TestResolveConcurrentCallersShareOneListing(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	want := remote.sha("main")
	const callers = 16
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			rev := []string{"main", "HEAD", "staging", "v1.0.0"}[i%4]
			got, err := c.Resolve(t.Context(), remote.url(), rev, false)
			if err == nil && rev == "main" && got != want {
				err = fmt.Errorf("Resolve(main) = %s, want %s", got, want)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for range 10 {
		if _, err := c.Resolve(t.Context(), remote.url(), "main", false); err != nil {
			t.Fatal(err)
		}
	}
	if s := statsOf(t, c, remote.url()); s.RefListings != 1 || s.Clones != 1 || s.Fetches != 0 {
		t.Errorf("stats = %+v, want exactly one listing and one clone", s)
	}
}

func TestResolveConcurrentForcedRefresh(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	if _, err := c.Resolve(t.Context(), remote.url(), "main", false); err != nil {
		t.Fatal(err)
	}
	remote.write("README.md", "# moved\n")
	want := remote.commit("moved")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := c.Resolve(t.Context(), remote.url(), "main", true)
			if err != nil || got != want {
				t.Errorf("forced Resolve = %s, %v; want %s", got, err, want)
			}
		})
	}
	wg.Wait()
	// The fake clock stands still, so every forced caller may share the
	// first forced listing: between one and eight listings, but one fetch.
	s := statsOf(t, c, remote.url())
	if s.Fetches != 1 || s.Clones != 1 {
		t.Errorf("stats = %+v, want one incremental fetch", s)
	}
}

func TestResolveFullSHAWithoutListing(t *testing.T) {
	remote := newTestRepo(t)
	dir := t.TempDir()
	c, _ := newTestCache(t, Options{Dir: dir})
	first := remote.sha("v1.0.0")
	if _, err := c.Resolve(t.Context(), remote.url(), "main", false); err != nil {
		t.Fatal(err)
	}
	// A new Cache on the same directory (a restart) finds the commit on disk.
	c2, _ := newTestCache(t, Options{Dir: dir})
	got, err := c2.Resolve(t.Context(), remote.url(), first, false)
	if err != nil || got != first {
		t.Fatalf("Resolve(%s) = %s, %v", first, got, err)
	}
	if s := statsOf(t, c2, remote.url()); s.RefListings != 0 || s.Clones != 0 {
		t.Errorf("stats = %+v, want no network access for a cached commit", s)
	}
	// Branches still need a listing; the cache on disk makes it a fetch at most.
	if _, err := c2.Resolve(t.Context(), remote.url(), "staging", false); err != nil {
		t.Fatal(err)
	}
	if s := statsOf(t, c2, remote.url()); s.RefListings != 1 || s.Clones != 0 || s.Fetches != 0 {
		t.Errorf("stats = %+v, want one listing and nothing to fetch", s)
	}
}

func TestResolveNewCommitBySHA(t *testing.T) {
	remote := newTestRepo(t)
	c, clk := newTestCache(t, Options{})
	if _, err := c.Resolve(t.Context(), remote.url(), "main", false); err != nil {
		t.Fatal(err)
	}
	remote.write("README.md", "# new\n")
	sha := remote.commit("new")
	// Within the interval, an unknown commit is not looked for remotely.
	if _, err := c.Resolve(t.Context(), remote.url(), sha, false); !errors.Is(err, ErrRevisionNotFound) {
		t.Fatalf("within the interval: error = %v, want ErrRevisionNotFound", err)
	}
	clk.Add(time.Minute)
	if got, err := c.Resolve(t.Context(), remote.url(), sha, false); err != nil || got != sha {
		t.Fatalf("after the interval: Resolve = %s, %v; want %s", got, err, sha)
	}
}

func TestResolveAmbiguousShortSHA(t *testing.T) {
	remote := newTestRepo(t)
	// Make enough commits that two share a 4-digit prefix (fast-import makes
	// them in one process; fixed dates make the hashes reproducible).
	var script strings.Builder
	for i := range 700 {
		// Without "from", each commit continues the branch.
		fmt.Fprintf(&script, "commit refs/heads/many\ncommitter A <a@example.com> %d +0000\ndata <<EOF\nc%d\nEOF\n\n", 1767225600+i, i)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = remote.dir
	cmd.Env = gitEnv(t)
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v\n%s", err, out)
	}
	seen := map[string]string{}
	var prefix, a, b string
	for _, sha := range strings.Fields(remote.git("rev-list", "--all")) {
		if other, ok := seen[sha[:4]]; ok {
			prefix, a, b = sha[:4], other, sha
			break
		}
		seen[sha[:4]] = sha
	}
	if prefix == "" {
		t.Skip("no two commits share a 4-digit prefix")
	}
	c, _ := newTestCache(t, Options{})
	_, err := c.Resolve(t.Context(), remote.url(), prefix, false)
	if !errors.Is(err, ErrAmbiguousRevision) {
		t.Fatalf("Resolve(%s) error = %v, want ErrAmbiguousRevision (%s, %s)", prefix, err, a, b)
	}
	n := 5
	for a[:n] == b[:n] {
		n++
	}
	if got, err := c.Resolve(t.Context(), remote.url(), a[:n], false); err != nil || got != a {
		t.Fatalf("Resolve(%s) = %s, %v; want %s", a[:n], got, err, a)
	}
}

func TestResolveOtherRefs(t *testing.T) {
	remote := newTestRepo(t)
	remote.write("README.md", "# pull request\n")
	pr := remote.commit("pr")
	remote.git("update-ref", "refs/pull/1/head", pr)
	remote.git("reset", "-q", "--hard", "HEAD~1")
	c, _ := newTestCache(t, Options{})
	got, err := c.Resolve(t.Context(), remote.url(), "refs/pull/1/head", false)
	if err != nil || got != pr {
		t.Fatalf("Resolve(refs/pull/1/head) = %s, %v; want %s", got, err, pr)
	}
	if s := statsOf(t, c, remote.url()); s.Clones != 1 || s.Fetches != 1 {
		t.Errorf("stats = %+v, want a clone of branches and tags, then one fetch of the pull ref", s)
	}
}

func TestResolveEmptyRepository(t *testing.T) {
	dir := t.TempDir()
	runGit(t, dir, gitEnv(t), "init", "-q", "-b", "main")
	c, _ := newTestCache(t, Options{})
	_, err := c.Resolve(t.Context(), "file://"+dir, "main", false)
	if !errors.Is(err, ErrRevisionNotFound) {
		t.Fatalf("error = %v, want ErrRevisionNotFound", err)
	}
}

func TestResolveMissingRepository(t *testing.T) {
	c, _ := newTestCache(t, Options{})
	missing := "file://" + t.TempDir() + "/missing"
	_, err := c.Resolve(t.Context(), missing, "main", false)
	if err == nil {
		t.Fatal("Resolve of a missing repository succeeded")
	}
	if !strings.Contains(err.Error(), "missing") {
		t.Errorf("error %q does not name the repository", err)
	}
	// The failure counts as this interval's listing: no retry storm.
	_, err2 := c.Resolve(t.Context(), missing, "main", false)
	if err2 == nil {
		t.Fatal("second Resolve succeeded")
	}
	if s := statsOf(t, c, missing); s.RefListings != 1 {
		t.Errorf("stats = %+v, want one listing for two calls", s)
	}
}

func TestNewCacheNeedsDir(t *testing.T) {
	if _, err := NewCache(Options{}); err == nil {
		t.Fatal("NewCache without Dir succeeded")
	}
}

func TestResolveCanceledCallerDoesNotFailOthers(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Resolve(ctx, remote.url(), "main", false); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Resolve error = %v, want context.Canceled", err)
	}
	// The listing the canceled caller started goes on, and serves the next.
	got, err := c.Resolve(t.Context(), remote.url(), "main", false)
	if err != nil || got != remote.sha("main") {
		t.Fatalf("Resolve = %s, %v", got, err)
	}
	if s := statsOf(t, c, remote.url()); s.RefListings != 1 || s.Clones != 1 {
		t.Errorf("stats = %+v, want the one listing and clone to be shared", s)
	}
}

func TestResolveDamagedCache(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	r, err := c.repo(context.Background(), remote.url())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"HEAD": "ref: refs/heads/main\n", "config": "[core\n\tbroken"} {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Resolve(t.Context(), remote.url(), "main", false); err != nil || got != remote.sha("main") {
		t.Fatalf("Resolve over a damaged cache = %s, %v", got, err)
	}
}
