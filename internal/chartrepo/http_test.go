package chartrepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestResolveAndFetch checks version selection against a real index with
// basic auth, and the archive fetched through relative chart URLs.
func TestResolveAndFetch(t *testing.T) {
	h := newHelmRepo(t, "alice", "s3cret-pw")
	archives := map[string][]byte{}
	for _, v := range []string{"1.0.0", "1.2.0", "1.2.5", "1.3.0-rc.1", "2.0.0"} {
		archives[v] = h.publish("nginx", v)
	}
	h.publish("redis", "7.0.0")
	h.reindex("")
	r, clk := newTestRepos(Options{Credentials: staticCreds(map[string]*Credentials{h.url(): {Username: "alice", Password: "s3cret-pw"}})})

	for _, tt := range []struct{ constraint, want string }{
		{"1.2.*", "1.2.5"},
		{">=1.0.0 <2.0.0", "1.2.5"},
		{"^1.2", "1.2.5"},
		{"~1.2.0", "1.2.5"},
		{"1.2.0", "1.2.0"},
		{"", "2.0.0"},
		{"*", "2.0.0"},
		{"1.3.0-rc.1", "1.3.0-rc.1"},
		{">=1.3.0-0 <2.0.0", "1.3.0-rc.1"},
	} {
		got, err := r.Resolve(t.Context(), h.url()+"/", "nginx", tt.constraint, false)
		if err != nil || got != tt.want {
			t.Errorf("Resolve(nginx, %q) = %q, %v; want %q", tt.constraint, got, err, tt.want)
		}
	}
	if n := h.indexGets.Load(); n != 1 {
		t.Errorf("index downloaded %d times, want once for every Resolve within the poll interval", n)
	}

	a, err := r.Fetch(t.Context(), h.url(), "nginx", "1.2.5")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(archives["1.2.5"])
	if !bytes.Equal(a.Data, archives["1.2.5"]) || a.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("Fetch(nginx 1.2.5) = %d bytes, digest %s; want the published archive", len(a.Data), a.Digest)
	}
	if _, err := r.Fetch(t.Context(), h.url(), "nginx", "1.2.5"); err != nil || h.chartGets.Load() != 1 {
		t.Errorf("second Fetch: %v, %d downloads; want the cached archive", err, h.chartGets.Load())
	}
	if n, _ := r.archives.len(); n != 1 {
		t.Errorf("archive cache holds %d, want 1", n)
	}
	// A hard refresh asked for after that download downloads again (a chart
	// republished under the same version shows), once for all the callers
	// asking since the same time; callers that do not ask take it too.
	asked := clk.now()
	clk.advance(time.Second)
	for range 3 {
		if _, err := r.Fetch(WithFetchedAfter(t.Context(), asked), h.url(), "nginx", "1.2.5"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Fetch(t.Context(), h.url(), "nginx", "1.2.5"); err != nil {
		t.Fatal(err)
	}
	if n := h.chartGets.Load(); n != 2 {
		t.Errorf("%d downloads after a hard refresh asked for after the first, want 2", n)
	}
	if n, _ := r.archives.len(); n != 1 {
		t.Errorf("archive cache holds %d, want 1", n)
	}

	_, err = r.Resolve(t.Context(), h.url(), "nginx", ">=9.0.0", false)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `chart nginx: no version matches ">=9.0.0" in `+h.url()+" (newest: 2.0.0)") {
		t.Errorf("Resolve(>=9.0.0) = %v; want a not-found error naming chart, range, repository and newest version", err)
	}
	_, err = r.Resolve(t.Context(), h.url(), "postgres", "*", false)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "chart postgres") {
		t.Errorf("Resolve(postgres) = %v; want not found", err)
	}
	_, err = r.Fetch(t.Context(), h.url(), "nginx", "1.9.9")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `no version "1.9.9" of chart nginx`) {
		t.Errorf("Fetch(1.9.9) = %v; want not found", err)
	}
}

// TestPollIntervalAndForce checks that a newer version published and
// indexed is seen by a forced Resolve at once, by others only after the
// poll interval.
func TestPollIntervalAndForce(t *testing.T) {
	h := newHelmRepo(t, "", "")
	h.publish("app", "1.0.0")
	h.reindex("")
	r, clk := newTestRepos(Options{PollInterval: time.Minute})
	resolve := func(force bool) string {
		t.Helper()
		v, err := r.Resolve(t.Context(), h.url(), "app", ">=1.0.0", force)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := resolve(false); v != "1.0.0" {
		t.Fatalf("Resolve = %s", v)
	}
	h.publish("app", "1.1.0")
	h.reindex("")
	clk.advance(59 * time.Second)
	if v := resolve(false); v != "1.0.0" || h.indexGets.Load() != 1 {
		t.Errorf("within the interval: %s after %d downloads; want the cached 1.0.0 after 1", v, h.indexGets.Load())
	}
	if v := resolve(true); v != "1.1.0" || h.indexGets.Load() != 2 {
		t.Errorf("forced: %s after %d downloads; want 1.1.0 after 2", v, h.indexGets.Load())
	}
	h.publish("app", "1.2.0")
	h.reindex("")
	clk.advance(59 * time.Second)
	if v := resolve(false); v != "1.1.0" {
		t.Errorf("within the interval after the forced Resolve: %s, want 1.1.0", v)
	}
	clk.advance(time.Second)
	if v := resolve(false); v != "1.2.0" || h.indexGets.Load() != 3 {
		t.Errorf("after the interval: %s after %d downloads; want 1.2.0 after 3", v, h.indexGets.Load())
	}
}

// TestFailedRefreshServesLastIndex checks the documented choice: a failed
// refresh serves the last good index until it is two intervals old, is not
// repeated within an interval, and a forced Resolve reports it.
func TestFailedRefreshServesLastIndex(t *testing.T) {
	h := newHelmRepo(t, "", "")
	h.publish("app", "1.0.0")
	h.reindex("")
	r, clk := newTestRepos(Options{PollInterval: time.Minute})
	if _, err := r.Resolve(t.Context(), h.url(), "app", "*", false); err != nil {
		t.Fatal(err)
	}
	h.failing.Store(true)
	clk.advance(time.Minute)
	if v, err := r.Resolve(t.Context(), h.url(), "app", "*", false); err != nil || v != "1.0.0" {
		t.Errorf("after a failed refresh: %q, %v; want the last good index's 1.0.0", v, err)
	}
	if _, err := r.Resolve(t.Context(), h.url(), "app", "*", true); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("forced after a failure: %v; want the HTTP 500", err)
	}
	clk.advance(time.Minute)
	_, err := r.Resolve(t.Context(), h.url(), "app", "*", false)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("two intervals after the last good index: %v; want the HTTP 500", err)
	}
	h.failing.Store(false)
	if _, err := r.Resolve(t.Context(), h.url(), "app", "*", false); err == nil {
		t.Error("the failure was retried within the interval")
	}
	clk.advance(time.Minute)
	if v, err := r.Resolve(t.Context(), h.url(), "app", "*", false); err != nil || v != "1.0.0" {
		t.Errorf("after recovery: %q, %v", v, err)
	}
}

// TestWrongPassword checks a 401: the error says the credentials were
// refused, names the repository and chart, and not the password.
func TestWrongPassword(t *testing.T) {
	h := newHelmRepo(t, "alice", "right-pw")
	h.publish("app", "1.0.0")
	h.reindex("")
	r, _ := newTestRepos(Options{Credentials: staticCreds(map[string]*Credentials{h.url(): {Username: "alice", Password: "wrong-pw"}})})
	_, err := r.Resolve(t.Context(), h.url(), "app", "1.0.0", false)
	if err == nil {
		t.Fatal("Resolve with a wrong password succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"chart app", h.url() + "/index.yaml", "HTTP 401", "refused the credentials"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "wrong-pw") {
		t.Errorf("error %q shows the password", msg)
	}

	r2, _ := newTestRepos(Options{})
	_, err = r2.Resolve(t.Context(), h.url(), "app", "1.0.0", false)
	if err == nil || !strings.Contains(err.Error(), "needs credentials, and no repository Secret matches") {
		t.Errorf("anonymous: %v; want a 401 saying credentials are needed", err)
	}
}

// TestIndexThatNeverEnds checks CVE-2024-29893: an index streaming forever
// stops at the size cap, or at the time cap when that comes first.
func TestIndexThatNeverEnds(t *testing.T) {
	var slow atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("apiVersion: v1\nentries:\n"))
		line := []byte("# " + strings.Repeat("x", 1000) + "\n")
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := w.Write(line); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			if !slow.Load() {
				continue
			}
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer srv.Close()

	r, _ := newTestRepos(Options{MaxIndexBytes: 1 << 20, IndexTimeout: time.Minute})
	_, err := r.Resolve(t.Context(), srv.URL, "app", "*", false)
	if err == nil || !strings.Contains(err.Error(), "exceeds the 1 MiB cap (MaxIndexBytes)") || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("size cap: %v; want an error naming the repository and MaxIndexBytes", err)
	}

	slow.Store(true)
	r, _ = newTestRepos(Options{MaxIndexBytes: 1 << 30, IndexTimeout: 200 * time.Millisecond})
	_, err = r.Resolve(t.Context(), srv.URL, "app", "*", false)
	if err == nil || !strings.Contains(err.Error(), "not read within 200ms (IndexTimeout)") || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("time cap: %v; want an error naming the repository and IndexTimeout", err)
	}
}

// TestOneDownloadForConcurrentResolves checks that 50 concurrent Resolves
// of one repository download its index once.
func TestOneDownloadForConcurrentResolves(t *testing.T) {
	h := newHelmRepo(t, "", "")
	h.publish("app", "1.0.0")
	h.publish("app", "1.1.0")
	h.reindex("")
	r, _ := newTestRepos(Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			v, err := r.Resolve(t.Context(), h.url(), "app", "^1", false)
			if err == nil && v != "1.1.0" {
				err = errors.New("resolved " + v)
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
	if n := h.indexGets.Load(); n != 1 {
		t.Errorf("index downloaded %d times for 50 Resolves, want 1", n)
	}
}

// TestAbsoluteChartURLs checks chart URLs on the index's host (credentials
// sent) and on another host (credentials sent only with passCredentials).
func TestAbsoluteChartURLs(t *testing.T) {
	h := newHelmRepo(t, "alice", "pw-123")
	want := h.publish("app", "1.0.0")
	creds := staticCreds(map[string]*Credentials{h.url(): {Username: "alice", Password: "pw-123"}})

	// Same host, absolute URLs: the archive needs the credentials.
	h.reindex(h.url())
	r, _ := newTestRepos(Options{Credentials: creds})
	if a, err := r.Fetch(t.Context(), h.url(), "app", "1.0.0"); err != nil || !bytes.Equal(a.Data, want) {
		t.Fatalf("Fetch from the index's host: %v", err)
	}

	// Another host: it records what it was sent.
	var gotAuth atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		gotAuth.Store(req.Header.Get("Authorization"))
		http.ServeFile(w, req, filepath.Join(h.dir, filepath.Base(req.URL.Path)))
	}))
	defer other.Close()
	h.reindex(other.URL + "/mirror")
	r, _ = newTestRepos(Options{Credentials: creds})
	if _, err := r.Fetch(t.Context(), h.url(), "app", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if a := gotAuth.Load(); a != "" {
		t.Errorf("credentials sent to another host without passCredentials: %q", a)
	}
	if _, err := r.Fetch(WithPassCredentials(t.Context(), true), h.url(), "app", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if a, _ := gotAuth.Load().(string); !strings.HasPrefix(a, "Basic ") {
		t.Errorf("passCredentials: the other host got %q, want basic auth", a)
	}
}

// TestRedirectDropsCredentials checks that a chart download redirected to
// another host (here the same loopback address on another port, which
// net/http alone would trust) goes there without credentials.
func TestRedirectDropsCredentials(t *testing.T) {
	var gotAuth atomic.Value
	gotAuth.Store("unset")
	h := newHelmRepo(t, "alice", "pw-123")
	want := h.publish("app", "1.0.0")
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		gotAuth.Store(req.Header.Get("Authorization"))
		_, _ = w.Write(want)
	}))
	defer other.Close()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, ".tgz") {
			http.Redirect(w, req, other.URL+"/app-1.0.0.tgz", http.StatusFound)
			return
		}
		h.serve(w, req)
	}))
	defer front.Close()
	h.reindex("")
	repoURL := front.URL + "/charts"
	r, _ := newTestRepos(Options{Credentials: staticCreds(map[string]*Credentials{repoURL: {Username: "alice", Password: "pw-123"}})})
	a, err := r.Fetch(t.Context(), repoURL, "app", "1.0.0")
	if err != nil || !bytes.Equal(a.Data, want) {
		t.Fatalf("Fetch through a redirect: %v", err)
	}
	if got := gotAuth.Load(); got != "" {
		t.Errorf("the redirect target got Authorization %q", got)
	}
}

// TestDigestMismatch checks that an archive differing from the index's
// digest is refused.
func TestDigestMismatch(t *testing.T) {
	h := newHelmRepo(t, "", "")
	h.publish("app", "1.0.0")
	h.reindex("")
	// Replace the archive after indexing.
	other := packageChart(t, t.TempDir(), "app", "1.0.0")
	other = append(other[:len(other):len(other)], 0) // a different byte string
	if err := os.WriteFile(filepath.Join(h.dir, "app-1.0.0.tgz"), other, 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := newTestRepos(Options{})
	_, err := r.Fetch(t.Context(), h.url(), "app", "1.0.0")
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "chart app 1.0.0 from "+h.url()) {
		t.Errorf("Fetch of a tampered archive: %v; want a digest mismatch naming chart, version and repository", err)
	}
	if n, _ := r.archives.len(); n != 0 {
		t.Errorf("a refused archive was cached")
	}
}

// TestChartSizeCap checks MaxChartBytes.
func TestChartSizeCap(t *testing.T) {
	h := newHelmRepo(t, "", "")
	h.publish("app", "1.0.0")
	h.reindex("")
	r, clk := newTestRepos(Options{MaxChartBytes: 100, PollInterval: time.Minute})
	_, err := r.Fetch(t.Context(), h.url(), "app", "1.0.0")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "MaxChartBytes") {
		t.Errorf("Fetch over the cap: %v; want an error naming MaxChartBytes", err)
	}
	// The same archive is not downloaded again for every caller and retry
	// within the poll interval; after it, or a hard refresh, it is.
	for range 3 {
		if _, again := r.Fetch(t.Context(), h.url(), "app", "1.0.0"); again == nil || again.Error() != err.Error() {
			t.Errorf("Fetch again: %v; want the remembered %v", again, err)
		}
	}
	if n := h.chartGets.Load(); n != 1 {
		t.Errorf("%d downloads within the interval, want 1", n)
	}
	clk.advance(time.Minute)
	_, _ = r.Fetch(t.Context(), h.url(), "app", "1.0.0")
	asked := clk.now()
	clk.advance(time.Second)
	_, _ = r.Fetch(WithFetchedAfter(t.Context(), asked), h.url(), "app", "1.0.0")
	if n := h.chartGets.Load(); n != 3 {
		t.Errorf("%d downloads, want 3: after the interval, and after a hard refresh asked for after that", n)
	}
}

// TestProjectCredentialsDoNotLeak checks that an index read with one
// project's credentials is not served to a project without them.
func TestProjectCredentialsDoNotLeak(t *testing.T) {
	h := newHelmRepo(t, "alice", "pw-123")
	h.publish("app", "1.0.0")
	h.reindex("")
	type projectKey struct{}
	r, _ := newTestRepos(Options{
		Credentials: func(_ context.Context, repoURL, project string) (*Credentials, error) {
			if project == "team-a" {
				return &Credentials{Username: "alice", Password: "pw-123"}, nil
			}
			return nil, nil
		},
		Project: func(ctx context.Context) string { p, _ := ctx.Value(projectKey{}).(string); return p },
	})
	ctxA := context.WithValue(t.Context(), projectKey{}, "team-a")
	if _, err := r.Resolve(ctxA, h.url(), "app", "*", false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(ctxA, h.url(), "app", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	ctxB := context.WithValue(t.Context(), projectKey{}, "team-b")
	if _, err := r.Resolve(ctxB, h.url(), "app", "*", false); err == nil {
		t.Error("team-b resolved from the index team-a's credentials fetched")
	}
	if _, err := r.Fetch(ctxB, h.url(), "app", "1.0.0"); err == nil {
		t.Error("team-b got the archive team-a's credentials fetched")
	}
}

// TestResolveSince: a refresh asked for at some time is answered by any
// index download started after it, and only by one.
func TestResolveSince(t *testing.T) {
	h := newHelmRepo(t, "", "")
	h.publish("app", "1.0.0")
	h.reindex("")
	r, clk := newTestRepos(Options{PollInterval: time.Hour})
	ctx := t.Context()
	asked := clk.now()
	clk.advance(time.Second)
	if v, err := r.Resolve(ctx, h.url(), "app", "", false); err != nil || v != "1.0.0" { // downloads at asked+1s
		t.Fatalf("Resolve = %q, %v; want 1.0.0", v, err)
	}
	h.publish("app", "1.1.0")
	h.reindex("")
	clk.advance(time.Second)

	// The download started after the ask: it answers it, without another.
	if v, err := r.ResolveSince(ctx, h.url(), "app", "", asked); err != nil || v != "1.0.0" {
		t.Fatalf("asked before the download: ResolveSince = %q, %v; want 1.0.0 from that download", v, err)
	}
	if n := h.indexGets.Load(); n != 1 {
		t.Fatalf("asked before the download: %d index downloads, want 1", n)
	}
	// A refresh asked for after the new version was published downloads
	// again and sees it; every other refresh asked for before that download
	// shares it.
	askedAfterPublish := clk.now()
	clk.advance(time.Second)
	for range 5 {
		if v, err := r.ResolveSince(ctx, h.url(), "app", "", askedAfterPublish); err != nil || v != "1.1.0" {
			t.Fatalf("asked after the publish: ResolveSince = %q, %v; want 1.1.0", v, err)
		}
	}
	if n := h.indexGets.Load(); n != 2 {
		t.Fatalf("a burst of refreshes asked before the second download: %d index downloads, want 2", n)
	}
}
