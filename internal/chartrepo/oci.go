package chartrepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferrycd/ferry/internal/httpcap"
)

// Helm's media types for charts stored in OCI registries
// (helm.sh/helm/v4/pkg/registry).
const (
	ChartLayerMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	ChartConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
)

// maxTags bounds the tags listed for one chart: a registry that pages
// forever is stopped here (each page is capped by MaxIndexBytes).
const maxTags = 20000

// ociRetry retries a 5xx or a network flake once, after about 100ms,
// instead of go-containerregistry's 1s and 3s: the controller retries
// with its own backoff.
var ociRetry = remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 2}

// ociRepository names chart's repository in loc's registry (whose host
// locate checked).
func (r *Repos) ociRepository(loc *location, chart string) (name.Repository, error) {
	opts := []name.Option{name.StrictValidation}
	if r.opts.AllowInsecureHTTP {
		opts = append(opts, name.Insecure) // lets the client fall back to HTTP; plainHTTPGuard still decides
	}
	repo, err := name.NewRepository(loc.reg+"/"+chart, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w: OCI repository %s/%s: %w", ErrRefused, loc.reg, chart, err)
	}
	return repo, nil
}

// ociTransport returns the transport go-containerregistry uses: the
// network policy at dial time, plain HTTP only where allowed, every body
// capped.
func (r *Repos) ociTransport(insecureSkipTLS bool) http.RoundTripper {
	t := r.opts.Net.Guard(remote.DefaultTransport)
	if insecureSkipTLS {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the repository Secret says insecure: "true"
	}
	limit := max(r.opts.MaxIndexBytes, r.opts.MaxChartBytes)
	return &plainHTTPGuard{inner: httpcap.Transport(t, limit), r: r}
}

func (r *Repos) puller(loc *location) (*remote.Puller, error) {
	t := r.ociSecure
	auth := authn.Anonymous
	if c := loc.creds; c != nil {
		if c.InsecureSkipTLS {
			t = r.ociInsecure
		}
		if c.Username != "" || c.Password != "" {
			auth = authn.FromConfig(authn.AuthConfig{Username: c.Username, Password: c.Password})
		}
	}
	return remote.NewPuller(remote.WithTransport(t), remote.WithAuth(auth), remote.WithRetryBackoff(ociRetry), remote.WithUserAgent("ferry"))
}

// listTags lists the tags of chart's repository and keeps those that are
// strict semver once "_" is read as "+" (Helm writes 1.2.3+build as the tag
// 1.2.3_build, since "+" is not allowed in tags). ctx carries the
// IndexTimeout.
func (r *Repos) listTags(ctx context.Context, loc *location, chart string) (*catalog, error) {
	start := time.Now()
	defer r.report(FetchTags, loc.norm, start)
	tags, err := r.tags(ctx, loc, chart)
	if err != nil {
		return nil, fmt.Errorf("tags of %s/%s: %w", loc.norm, chart, r.ociError(ctx, loc, err, r.opts.IndexTimeout, "IndexTimeout"))
	}
	var vs chartVersions
	for _, tag := range tags {
		v := strings.ReplaceAll(tag, "_", "+")
		sv, err := semver.StrictNewVersion(v)
		if err != nil {
			continue
		}
		vs = append(vs, chartVersion{version: v, semver: sv})
	}
	vs.sort()
	return &catalog{charts: map[string]chartVersions{chart: vs}}, nil
}

func (r *Repos) tags(ctx context.Context, loc *location, chart string) ([]string, error) {
	repo, err := r.ociRepository(loc, chart)
	if err != nil {
		return nil, err
	}
	p, err := r.puller(loc)
	if err != nil {
		return nil, err
	}
	lister, err := p.Lister(ctx, repo)
	if err != nil {
		return nil, err
	}
	var tags []string
	for lister.HasNext() {
		page, err := lister.Next(ctx)
		if err != nil {
			return nil, err
		}
		tags = append(tags, page.Tags...)
		if len(tags) > maxTags {
			return nil, fmt.Errorf("the registry lists more than %d tags", maxTags)
		}
	}
	return tags, nil
}

// fetchOCI pulls chart at version: the manifest of the tag (version with
// "+" written "_"), then its one layer of ChartLayerMediaType, capped by
// MaxChartBytes and checked against the manifest's digest. ctx carries the
// Timeout.
func (r *Repos) fetchOCI(ctx context.Context, loc *location, chart, version string) (*Archive, error) {
	start := time.Now()
	defer r.report(FetchChart, loc.norm, start)
	repo, err := r.ociRepository(loc, chart)
	if err != nil {
		return nil, err
	}
	p, err := r.puller(loc)
	if err != nil {
		return nil, err
	}
	tag := strings.ReplaceAll(version, "+", "_")
	ref := repo.Tag(tag)
	desc, err := p.Get(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", ref, r.ociError(ctx, loc, err, r.opts.Timeout, "Timeout"))
	}
	layer, err := chartLayer(desc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if layer.Size > r.opts.MaxChartBytes {
		return nil, fmt.Errorf("%s: the chart layer's %d bytes exceed the %s cap (MaxChartBytes): %w", ref, layer.Size, size(r.opts.MaxChartBytes), ErrTooLarge)
	}
	data, err := r.pullLayer(ctx, p, repo, layer)
	if err != nil {
		return nil, fmt.Errorf("%s: chart layer %s: %w", ref, layer.Digest, r.ociError(ctx, loc, err, r.opts.Timeout, "Timeout"))
	}
	return &Archive{Data: data, Digest: layer.Digest.String()}, nil
}

// chartLayer returns the one chart layer of a manifest, refusing anything
// that is not a Helm chart.
func chartLayer(desc *remote.Descriptor) (*v1.Descriptor, error) {
	switch desc.MediaType {
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
	default:
		return nil, fmt.Errorf("not a Helm chart: the tag is a %s, not an image manifest holding a %s layer", desc.MediaType, ChartLayerMediaType)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("malformed manifest: %w", err)
	}
	var found *v1.Descriptor
	var seen []string
	for i := range m.Layers {
		l := &m.Layers[i]
		seen = append(seen, string(l.MediaType))
		if l.MediaType != ChartLayerMediaType {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("not a Helm chart: the manifest has more than one %s layer", ChartLayerMediaType)
		}
		found = l
	}
	if found == nil {
		return nil, fmt.Errorf("not a Helm chart: the manifest has no %s layer (layers: %s)", ChartLayerMediaType, strings.Join(seen, ", "))
	}
	if found.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("chart layer digest %s: only sha256 is supported", found.Digest)
	}
	return found, nil
}

// pullLayer downloads a layer, at most MaxChartBytes, and checks its
// sha256.
func (r *Repos) pullLayer(ctx context.Context, p *remote.Puller, repo name.Repository, d *v1.Descriptor) ([]byte, error) {
	l, err := p.Layer(ctx, repo.Digest(d.Digest.String()))
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, r.opts.MaxChartBytes+1))
	if int64(len(data)) > r.opts.MaxChartBytes {
		return nil, fmt.Errorf("the layer exceeds the %s cap (MaxChartBytes): %w", size(r.opts.MaxChartBytes), ErrTooLarge)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); err == nil && got != d.Digest.Hex {
		return nil, fmt.Errorf("%w: the layer is sha256:%s", ErrDigestMismatch, got)
	}
	if err != nil {
		return nil, err
	}
	return data, nil
}

// ociError says what failed in a registry call.
func (r *Repos) ociError(ctx context.Context, loc *location, err error, limit time.Duration, limitName string) error {
	var te *transport.Error
	var big *httpcap.TooLargeError
	switch {
	case timedOut(ctx):
		return fmt.Errorf("no answer within %s (%s)", limit, limitName)
	case errors.As(err, &big):
		return &bodyTooLargeError{limit: big.Limit, err: err}
	case errors.Is(err, ErrRefused), errors.Is(err, ErrDigestMismatch):
		return err
	case errors.As(err, &te):
		code := te.StatusCode
		withCreds := loc.creds != nil && (loc.creds.Username != "" || loc.creds.Password != "")
		switch {
		case (code == http.StatusUnauthorized || code == http.StatusForbidden) && withCreds:
			return fmt.Errorf("the registry refused the credentials of its repository Secret (HTTP %d): %w", code, err)
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return fmt.Errorf("the registry needs credentials, and no repository Secret matches (HTTP %d): %w", code, err)
		case code == http.StatusNotFound:
			return fmt.Errorf("%w (HTTP 404): %w", ErrNotFound, err)
		}
	}
	return err
}

// bodyTooLargeError is an *httpcap.TooLargeError in the words of this
// package's options; it wraps the error the body cap produced.
type bodyTooLargeError struct {
	limit int64
	err   error
}

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("a registry response exceeds the %s cap on registry responses (the larger of MaxIndexBytes and MaxChartBytes)", size(e.limit))
}

func (e *bodyTooLargeError) Unwrap() error { return e.err }
