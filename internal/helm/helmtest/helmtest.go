// Package helmtest serves real Helm repositories and OCI registries on
// loopback for tests and benchmarks: charts written by the test are packaged
// and indexed with Helm's own library (as `helm package` and `helm repo
// index` do), served over HTTP with optional basic auth, or pushed to an
// in-process OCI registry with Helm's media types.
package helmtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// Helm's OCI media types.
const (
	ConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	ChartMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// Files are a chart's files by path relative to the chart's directory.
type Files map[string]string

// WriteDir writes files under dir.
func WriteDir(t testing.TB, dir string, files Files) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Package packages the chart in dir as `helm package` does and returns the
// archive.
func Package(t testing.TB, dir string) []byte {
	t.Helper()
	ch, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatalf("load chart %s: %v", dir, err)
	}
	out := t.TempDir()
	file, err := chartutil.Save(ch, out)
	if err != nil {
		t.Fatalf("package chart %s: %v", dir, err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// PackageFiles writes files to a temporary directory and packages them.
func PackageFiles(t testing.TB, files Files) []byte {
	t.Helper()
	dir := t.TempDir()
	WriteDir(t, dir, files)
	return Package(t, dir)
}

// Repo is a Helm repository served over HTTP on loopback: index.yaml and
// the archives published to it.
type Repo struct {
	t   testing.TB
	srv *httptest.Server
	dir string
	// User and Password, when set, are required of every request (basic
	// auth), as a private repository does.
	User, Password string

	mu       sync.Mutex
	extra    []*repo.ChartVersion // indexed by AddIndexEntry
	requests map[string]int       // by path
	// Handler, when set, serves a path instead (tests of hostile servers).
	handlers map[string]http.HandlerFunc
}

// NewRepo starts an empty repository; it stops with the test.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	r := &Repo{t: t, dir: t.TempDir(), requests: map[string]int{}, handlers: map[string]http.HandlerFunc{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	r.reindex()
	return r
}

// URL is the repository's URL (what a repoURL names).
func (r *Repo) URL() string { return r.srv.URL }

// Requests counts the requests for path ("/index.yaml").
func (r *Repo) Requests(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[path]
}

// Handle serves path with h instead of the repository's files.
func (r *Repo) Handle(path string, h http.HandlerFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[path] = h
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests[req.URL.Path]++
	h := r.handlers[req.URL.Path]
	user, password := r.User, r.Password
	r.mu.Unlock()
	if user != "" {
		if u, p, ok := req.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if h != nil {
		h(w, req)
		return
	}
	name := filepath.Base(req.URL.Path)
	if strings.Contains(req.URL.Path[1:], "/") {
		http.NotFound(w, req)
		return
	}
	http.ServeFile(w, req, filepath.Join(r.dir, name))
}

// Publish packages the chart in dir into the repository and indexes it
// again, as `helm package` and `helm repo index` do. It returns the
// archive's file name.
func (r *Repo) Publish(dir string) string {
	r.t.Helper()
	return r.PublishArchive(Package(r.t, dir))
}

// PublishFiles writes and publishes a chart.
func (r *Repo) PublishFiles(files Files) string {
	r.t.Helper()
	return r.PublishArchive(PackageFiles(r.t, files))
}

// PublishArchive puts an archive in the repository as is (it may be
// hostile: then it is indexed from the metadata given in its name,
// NAME-VERSION.tgz, since Helm's loader would refuse it) and indexes again.
func (r *Repo) PublishArchive(data []byte) string {
	r.t.Helper()
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		r.t.Fatalf("publish: not a chart Helm loads: %v", err)
	}
	file := ch.Metadata.Name + "-" + ch.Metadata.Version + ".tgz"
	r.PutFile(file, data)
	return file
}

// PutFile writes a file into the repository without indexing it.
func (r *Repo) PutFile(name string, data []byte) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.WriteFile(filepath.Join(r.dir, name), data, 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.reindexLocked()
}

// AddIndexEntry indexes an archive file Helm could not load itself (a
// hostile one), under name and version.
func (r *Repo) AddIndexEntry(chartName, version, file string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	data, err := os.ReadFile(filepath.Join(r.dir, file))
	if err != nil {
		r.t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	md := &chart.Metadata{APIVersion: chart.APIVersionV2, Name: chartName, Version: version}
	r.extra = append(r.extra, &repo.ChartVersion{Metadata: md, URLs: []string{r.srv.URL + "/" + file}, Digest: hex.EncodeToString(sum[:])})
	r.reindexLocked()
}

func (r *Repo) reindex() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reindexLocked()
}

func (r *Repo) reindexLocked() {
	idx, err := repo.IndexDirectory(r.dir, r.srv.URL)
	if err != nil {
		r.t.Fatalf("index %s: %v", r.dir, err)
	}
	for _, cv := range r.extra {
		idx.Entries[cv.Name] = append(idx.Entries[cv.Name], cv)
	}
	idx.SortEntries()
	if err := idx.WriteFile(filepath.Join(r.dir, "index.yaml"), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// Registry is an OCI registry on loopback (go-containerregistry's), with
// optional basic auth.
type Registry struct {
	srv            *httptest.Server
	User, Password string
}

// NewRegistry starts a registry; it stops with the test.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	reg := &Registry{}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	reg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if reg.User != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != reg.User || p != reg.Password {
				w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(reg.srv.Close)
	return reg
}

// Host is the registry's host:port.
func (r *Registry) Host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// Push pushes a chart archive to HOST/repository/NAME:VERSION as Helm
// does (the config is the chart's metadata; a "+" in the version becomes
// "_" in the tag) and returns the manifest's digest.
func (r *Registry) Push(ctx context.Context, t testing.TB, repository string, archive []byte) string {
	t.Helper()
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	cfg, err := json.Marshal(ch.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	tag := strings.ReplaceAll(ch.Metadata.Version, "+", "_")
	ref, err := name.ParseReference(fmt.Sprintf("%s/%s/%s:%s", r.Host(), repository, ch.Metadata.Name, tag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	if r.User != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Password}))
	}
	// The config is the chart's metadata, not an image config: the blobs
	// and the manifest are written one by one, as Helm's client does.
	config, layer := static.NewLayer(cfg, ConfigMediaType), static.NewLayer(archive, ChartMediaType)
	manifest := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	for i, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(ref.Context(), l, opts...); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		d, _ := l.Digest()
		size, _ := l.Size()
		mt, _ := l.MediaType()
		desc := v1.Descriptor{MediaType: mt, Size: size, Digest: d}
		if i == 0 {
			manifest.Config = desc
		} else {
			manifest.Layers = append(manifest.Layers, desc)
		}
	}
	raw, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(ref, rawManifest(raw), opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// rawManifest is an OCI image manifest to put as is.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error) { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) {
	return types.OCIManifestSchema1, nil
}
