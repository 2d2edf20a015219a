package chartrepo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// clock is a settable clock for Repos.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestRepos returns a Repos on a clock that moves only when told.
func newTestRepos(opts Options) (*Repos, *clock) {
	r := New(opts)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r.now = clk.now
	return r, clk
}

// staticCreds serves credentials by normalized URL.
func staticCreds(m map[string]*Credentials) CredentialsFunc {
	return func(_ context.Context, repoURL, _ string) (*Credentials, error) {
		return m[repoURL], nil
	}
}

// packageChart packages a minimal chart with Helm's own code and returns
// the archive.
func packageChart(t *testing.T, dir, name, version string) []byte {
	t.Helper()
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version},
		Templates: []*common.File{{
			Name: "templates/configmap.yaml",
			Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  version: " + version + "\n"),
		}},
	}
	path, err := chartutil.Save(c, dir)
	if err != nil {
		t.Fatalf("package %s %s: %v", name, version, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// helmRepo is a Helm chart repository served over HTTP on loopback from a
// directory of archives and an index.yaml written by Helm's repo library.
type helmRepo struct {
	t    *testing.T
	dir  string
	srv  *httptest.Server
	user string
	pass string // "" for anonymous

	indexGets atomic.Int64
	chartGets atomic.Int64
	failing   atomic.Bool // answer 500 to everything
}

func newHelmRepo(t *testing.T, user, pass string) *helmRepo {
	t.Helper()
	h := &helmRepo{t: t, dir: t.TempDir(), user: user, pass: pass}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

// url is the repository URL (the index is at url + "/index.yaml").
func (h *helmRepo) url() string { return h.srv.URL + "/charts" }

func (h *helmRepo) serve(w http.ResponseWriter, r *http.Request) {
	if h.failing.Load() {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	if h.pass != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != h.user || p != h.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	file, ok := strings.CutPrefix(r.URL.Path, "/charts/")
	if !ok || strings.Contains(file, "/") {
		http.NotFound(w, r)
		return
	}
	if file == "index.yaml" {
		h.indexGets.Add(1)
	} else {
		h.chartGets.Add(1)
	}
	http.ServeFile(w, r, filepath.Join(h.dir, file))
}

// publish packages a chart version into the repository (not yet indexed).
func (h *helmRepo) publish(name, version string) []byte {
	return packageChart(h.t, h.dir, name, version)
}

// reindex writes index.yaml with Helm's repo library; baseURL "" makes
// the chart URLs relative.
func (h *helmRepo) reindex(baseURL string) {
	h.t.Helper()
	idx, err := repo.IndexDirectory(h.dir, baseURL)
	if err != nil {
		h.t.Fatal(err)
	}
	idx.SortEntries()
	if err := idx.WriteFile(filepath.Join(h.dir, "index.yaml"), 0o644); err != nil {
		h.t.Fatal(err)
	}
}
