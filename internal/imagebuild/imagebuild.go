// Package imagebuild makes Ferry's container image without Docker: static
// binaries cross-compiled by the Go toolchain, one layer per platform
// written with go-containerregistry, an OCI image index over the
// platforms, written as an OCI layout and optionally pushed.
//
// The image is minimal and reproducible: the binary, a CA bundle and an
// /etc/passwd naming the non-root user, every file owned by root with a
// fixed modification time (the commit's), no shell; the same source and
// toolchain give the same digest. Hand-written around go-containerregistry
// rather than ko: ko's library wants to own the build and its config, and
// this is a few dozen lines of layer and config.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// UID is the user the image runs as: non-root, the conventional
// "nonroot" of distroless images.
const UID = 65532

// Binary is where the executable is in the image.
const Binary = "/ferry"

// Options say what to build.
type Options struct {
	// Package is the main package to build ("./cmd/ferry").
	Package string
	// Dir is the module directory the build runs in.
	Dir string
	// Platforms are "os/arch" pairs ("linux/amd64").
	Platforms []string
	// LDFlags are added to the link (version stamping).
	LDFlags string
	// CABundle is the PEM file of trusted roots put in the image.
	CABundle string
	// Created is the time every file and the config carry (the commit's,
	// for reproducibility).
	Created time.Time
	// Labels are the config's labels (org.opencontainers.image.*).
	Labels map[string]string
	// Cmd is the default arguments ("controller").
	Cmd []string
}

// Build compiles the binary for each platform and returns the image index.
func Build(ctx context.Context, o Options) (v1.ImageIndex, error) {
	if len(o.Platforms) == 0 {
		return nil, fmt.Errorf("no platform to build for")
	}
	ca, err := os.ReadFile(o.CABundle)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	tmp, err := os.MkdirTemp("", "ferry-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.Platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil || plat.OS == "" || plat.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch", p)
		}
		bin := filepath.Join(tmp, plat.OS+"-"+plat.Architecture)
		if err := compile(ctx, o, *plat, bin); err != nil {
			return nil, err
		}
		img, err := image(o, *plat, bin, ca)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	return idx, nil
}

// compile builds a static, reproducible binary: no cgo, no paths or VCS
// data of the build machine, no build id.
func compile(ctx context.Context, o Options, p v1.Platform, out string) error {
	ldflags := strings.TrimSpace("-s -w -buildid= " + o.LDFlags)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, o.Package)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Variant != "" && p.Architecture == "arm" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %w\n%s", o.Package, p.OS, p.Architecture, err, b)
	}
	return nil
}

// image is one platform's image: a single layer and its config.
func image(o Options, p v1.Platform, bin string, ca []byte) (v1.Image, error) {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	layerTar, err := rootfs(o.Created, exe, ca)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Created = v1.Time{Time: o.Created}
	cfg.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", UID, UID),
		Entrypoint: []string{Binary},
		Cmd:        o.Cmd,
		Env:        []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/home/nonroot"},
		WorkingDir: "/home/nonroot",
		Labels:     o.Labels,
	}
	cfg.History = []v1.History{{Created: v1.Time{Time: o.Created}, CreatedBy: "ferry imagebuild", Comment: "ferry, CA bundle, nonroot user"}}
	return mutate.ConfigFile(img, cfg)
}

// rootfs is the layer's tar: directories, the binary, the CA bundle and
// the user's entry, each with modification time t and owned by root
// (the home directory by the user).
func rootfs(t time.Time, exe, ca []byte) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: t, Uid: uid, Gid: uid, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: t, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, UID)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", UID)
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, ca) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir("home/nonroot", 0o700, UID) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return file(strings.TrimPrefix(Binary, "/"), 0o755, exe) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write writes idx as an OCI layout in dir (replacing what was there) and
// returns the index's digest.
func Write(dir string, idx v1.ImageIndex) (v1.Hash, error) {
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	if _, err := layout.Write(dir, idx); err != nil {
		return v1.Hash{}, fmt.Errorf("write OCI layout %s: %w", dir, err)
	}
	return idx.Digest()
}

// Push pushes idx to ref (a registry on loopback is spoken to over plain
// HTTP, as a local test registry is).
func Push(ctx context.Context, ref string, idx v1.ImageIndex) error {
	var opts []name.Option
	if host, _, _ := strings.Cut(ref, "/"); isLoopback(host) {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("push %s: %w", r, err)
	}
	return nil
}

func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
