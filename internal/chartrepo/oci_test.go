package chartrepo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ociRegistry is go-containerregistry's in-process registry on loopback,
// behind basic auth.
type ociRegistry struct {
	host       string // 127.0.0.1:port
	user, pass string
}

func newOCIRegistry(t *testing.T, user, pass string) *ociRegistry {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &ociRegistry{host: strings.TrimPrefix(srv.URL, "http://"), user: user, pass: pass}
}

// push stores archive as an OCI artifact with Helm's media types (the
// layer's media type given) under repoPath:tag.
func (o *ociRegistry) push(t *testing.T, repoPath, tag string, archive []byte, layerType types.MediaType) {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, ChartConfigMediaType)
	img, err := mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(archive, layerType), MediaType: layerType})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(o.host + "/" + repoPath + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: o.user, Password: o.pass}), remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func TestOCIResolveAndFetch(t *testing.T) {
	reg := newOCIRegistry(t, "bob", "reg-pw-42")
	dir := t.TempDir()
	archives := map[string][]byte{}
	for _, v := range []string{"1.0.0", "1.2.0", "1.2.3+build.5", "2.0.0", "1.3.0-rc.1"} {
		archives[v] = packageChart(t, dir, "app", v)
		reg.push(t, "charts/app", strings.ReplaceAll(v, "+", "_"), archives[v], ChartLayerMediaType)
	}
	reg.push(t, "charts/app", "latest", archives["2.0.0"], ChartLayerMediaType)
	reg.push(t, "charts/app", "v1.9.0", archives["2.0.0"], ChartLayerMediaType) // not strict semver: ignored, as by Helm

	ociURL := "oci://" + reg.host + "/charts"
	bareURL := reg.host + "/charts"
	var tagLists atomic.Int64
	r, _ := newTestRepos(Options{
		Credentials: staticCreds(map[string]*Credentials{
			ociURL:  {Username: "bob", Password: "reg-pw-42"},
			bareURL: {Username: "bob", Password: "reg-pw-42", EnableOCI: true},
		}),
		OnFetch: func(kind, _ string, _ time.Duration) {
			if kind == FetchTags {
				tagLists.Add(1)
			}
		},
	})
	for _, repoURL := range []string{ociURL, bareURL} {
		for _, tt := range []struct{ constraint, want string }{
			{"^1.0", "1.2.3+build.5"},
			{"~1.2.0", "1.2.3+build.5"},
			{"1.0.0", "1.0.0"},
			{"*", "2.0.0"},
			{">=1.3.0-0 <2", "1.3.0-rc.1"},
		} {
			got, err := r.Resolve(t.Context(), repoURL, "app", tt.constraint, false)
			if err != nil || got != tt.want {
				t.Errorf("Resolve(%s, app, %q) = %q, %v; want %q", repoURL, tt.constraint, got, err, tt.want)
			}
		}
		a, err := r.Fetch(t.Context(), repoURL, "app", "1.2.3+build.5")
		if err != nil {
			t.Fatalf("Fetch(%s, app 1.2.3+build.5): %v", repoURL, err)
		}
		sum := sha256.Sum256(archives["1.2.3+build.5"])
		if !bytes.Equal(a.Data, archives["1.2.3+build.5"]) || a.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Errorf("Fetch(%s) = %d bytes, %s; want the pushed archive", repoURL, len(a.Data), a.Digest)
		}
	}
	if n := tagLists.Load(); n != 2 {
		t.Errorf("%d tag listings, want one per repository spelling (each is its own Secret)", n)
	}

	_, err := r.Resolve(t.Context(), ociURL, "app", ">=3", false)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `no version matches ">=3" in `+ociURL+" (newest: 2.0.0)") {
		t.Errorf("Resolve(>=3) = %v", err)
	}
	_, err = r.Resolve(t.Context(), ociURL, "missing", "*", false)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(missing chart) = %v; want ErrNotFound", err)
	}

	// Without enableOCI, host/path is no repository at all.
	r2, _ := newTestRepos(Options{Credentials: staticCreds(map[string]*Credentials{bareURL: {Username: "bob", Password: "reg-pw-42"}})})
	if _, err := r2.Resolve(t.Context(), bareURL, "app", "*", false); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "enableOCI") {
		t.Errorf("host/path without enableOCI: %v; want ErrRefused mentioning enableOCI", err)
	}
}

func TestOCIWrongPassword(t *testing.T) {
	reg := newOCIRegistry(t, "bob", "reg-pw-42")
	reg.push(t, "charts/app", "1.0.0", packageChart(t, t.TempDir(), "app", "1.0.0"), ChartLayerMediaType)
	ociURL := "oci://" + reg.host + "/charts"
	r, _ := newTestRepos(Options{Credentials: staticCreds(map[string]*Credentials{ociURL: {Username: "bob", Password: "not-the-pw"}})})
	_, err := r.Resolve(t.Context(), ociURL, "app", "*", false)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") || !strings.Contains(err.Error(), ociURL) {
		t.Errorf("wrong password: %v; want the refusal naming the repository", err)
	}
	if err != nil && strings.Contains(err.Error(), "not-the-pw") {
		t.Errorf("error shows the password: %v", err)
	}
	_, err = r.Fetch(t.Context(), ociURL, "app", "1.0.0")
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("Fetch with a wrong password: %v", err)
	}
}

func TestOCINotAChart(t *testing.T) {
	reg := newOCIRegistry(t, "bob", "pw")
	archive := packageChart(t, t.TempDir(), "app", "1.0.0")
	reg.push(t, "charts/image", "1.0.0", archive, types.OCILayer)
	reg.push(t, "charts/app", "1.0.0", archive, ChartLayerMediaType)
	ociURL := "oci://" + reg.host + "/charts"
	r, _ := newTestRepos(Options{Credentials: staticCreds(map[string]*Credentials{ociURL: {Username: "bob", Password: "pw"}}), MaxChartBytes: 100})
	_, err := r.Fetch(t.Context(), ociURL, "image", "1.0.0")
	if err == nil || !strings.Contains(err.Error(), "not a Helm chart") || !strings.Contains(err.Error(), ChartLayerMediaType) {
		t.Errorf("Fetch of an image: %v; want a refusal naming the chart media type", err)
	}
	_, err = r.Fetch(t.Context(), ociURL, "app", "1.0.0")
	if err == nil || !strings.Contains(err.Error(), "MaxChartBytes") {
		t.Errorf("Fetch over MaxChartBytes: %v", err)
	}
}
