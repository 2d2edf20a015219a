package imagebuild

import (
	"archive/tar"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func testOptions(t *testing.T) Options {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return Options{Package: "./internal/imagebuild/testdata/hello", Dir: root, Platforms: []string{"linux/amd64", "linux/arm64"},
		LDFlags: "-X main.version=1.2.3", CABundle: ca, Created: time.Unix(1_700_000_000, 0).UTC(),
		Labels: map[string]string{"org.opencontainers.image.version": "1.2.3"}, Cmd: []string{"controller"}}
}

// TestBuildIsReproducible: the same source gives the same index digest,
// written twice as OCI layouts.
func TestBuildIsReproducible(t *testing.T) {
	o := testOptions(t)
	var digests []v1.Hash
	for range 2 {
		idx, err := Build(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Write(filepath.Join(t.TempDir(), "image"), idx)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Errorf("digests %s and %s: not reproducible", digests[0], digests[1])
	}
}

// TestImageShape: one manifest per platform; each runs as the non-root
// user, has the binary, the CA bundle and no shell; pushed to a real OCI
// registry on loopback, it reads back with the same digest.
func TestImageShape(t *testing.T) {
	o := testOptions(t)
	idx, err := Build(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "image")
	digest, err := Write(dir, idx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	fromDisk, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	// The layout's index.json is the image index.
	if d, err := fromDisk.Digest(); err != nil || d != digest {
		t.Fatalf("layout index %s (%v), want %s", d, err, digest)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, m := range manifest.Manifests {
		platforms = append(platforms, m.Platform.String())
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, m.Platform, img)
	}
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v", platforms)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/ferry:test"
	if err := Push(t.Context(), ref, idx); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != digest {
		t.Errorf("pushed %s, registry has %s", digest, desc.Digest)
	}
}

func checkImage(t *testing.T, p *v1.Platform, img v1.Image) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/ferry"}) || !slices.Equal(c.Cmd, []string{"controller"}) ||
		cfg.OS != p.OS || cfg.Architecture != p.Architecture || c.Labels["org.opencontainers.image.version"] != "1.2.3" {
		t.Errorf("%s: config %+v %s/%s", p, c, cfg.OS, cfg.Architecture)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%s: %d layers, %v", p, len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
	}
	for _, want := range []string{"ferry", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "tmp/"} {
		if files[want] == nil {
			t.Errorf("%s: no %s in %v", p, want, keys(files))
		}
	}
	for name := range files {
		if strings.HasPrefix(name, "bin/") || strings.HasSuffix(name, "/sh") {
			t.Errorf("%s: %s in the image: no shell wanted", p, name)
		}
	}
	if h := files["ferry"]; h != nil && (h.Mode&0o111 == 0 || h.Uid != 0 || !h.ModTime.Equal(time.Unix(1_700_000_000, 0))) {
		t.Errorf("%s: ferry %o uid %d mtime %s", p, h.Mode, h.Uid, h.ModTime)
	}
}

func keys(m map[string]*tar.Header) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
