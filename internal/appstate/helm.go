package appstate

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/chartrepo"
	"github.com/ferrycd/ferry/internal/helm"
	"github.com/ferrycd/ferry/internal/redact"
	"github.com/ferrycd/ferry/internal/render"
)

// Charts finds and fetches charts in Helm repositories and OCI registries
// (internal/chartrepo's Repos).
type Charts interface {
	// ResolveSince resolves constraint from an index downloaded within the
	// poll interval, or, for a non-zero since, after since.
	ResolveSince(ctx context.Context, repoURL, chart, constraint string, since time.Time) (string, error)
	Fetch(ctx context.Context, repoURL, chart, version string) (*chartrepo.Archive, error)
}

// helmSource completes rs with the Helm options of in, and the
// repositories of the refs.
func (r *Renderer) helmSource(ctx context.Context, in RenderInput, caps Capabilities, rs render.Source) (render.Source, error) {
	o, err := HelmOptions(in.Source, in.ReleaseName, in.Namespace, caps)
	if err != nil {
		return rs, err
	}
	rs.Helm = o
	if len(in.Refs) > 0 {
		rs.Refs = map[string]fs.FS{}
		for name, ref := range in.Refs {
			fsys, err := r.snapshots.Snapshot(ctx, ref.RepoURL, ref.Revision)
			if err != nil {
				return rs, fmt.Errorf("read $%s (%s at %s): %w", name, redact.URL(ref.RepoURL), Short(ref.Revision), err)
			}
			rs.Refs[name] = fsys
		}
	}
	return rs, nil
}

// kustomizeHelm reports whether Argo CD's kustomize.buildOptions hold
// --enable-helm.
func (r *Renderer) kustomizeHelm(ctx context.Context) bool {
	if r.KustomizeBuildOptions == nil {
		return false
	}
	return slices.Contains(strings.Fields(r.KustomizeBuildOptions(ctx)), "--enable-helm")
}

// HelmOptions translates a source's spec.source.helm into the renderer's
// options, with Argo CD's defaults: the release is named releaseName (the
// Application's name) and sees namespace (the destination namespace) and
// the cluster's capabilities caps, unless the source names others.
func HelmOptions(src v1alpha1.ApplicationSource, releaseName, namespace string, caps Capabilities) (*render.HelmOptions, error) {
	h := src.Helm
	if h == nil {
		h = &v1alpha1.ApplicationSourceHelm{}
	}
	o := &render.HelmOptions{
		ReleaseName: releaseName, Namespace: namespace, ValueFiles: h.ValueFiles,
		IgnoreMissingValueFiles: h.IgnoreMissingValueFiles, Values: h.Values,
		KubeVersion: caps.KubeVersion, APIVersions: caps.APIVersions,
		SkipCRDs: h.SkipCrds, SkipTests: h.SkipTests, SkipSchemaValidation: h.SkipSchemaValidation,
	}
	if h.ReleaseName != "" {
		o.ReleaseName = h.ReleaseName
	}
	if h.Namespace != "" {
		o.Namespace = h.Namespace
	}
	if h.KubeVersion != "" {
		o.KubeVersion = h.KubeVersion
	}
	if len(h.APIVersions) > 0 {
		o.APIVersions = h.APIVersions
	}
	if h.ValuesObject != nil && len(h.ValuesObject.Raw) > 0 {
		// As Argo CD does: valuesObject, as YAML, replaces values, and
		// Helm parses it as it parses a values file (an integer stays an
		// integer, where decoding JSON into any would make it a float).
		y, err := yaml.JSONToYAML(h.ValuesObject.Raw)
		if err != nil {
			return nil, Stall(ReasonInvalidSpec, fmt.Errorf("spec.source.helm.valuesObject: %w", err))
		}
		o.Values = string(y)
	}
	for _, p := range h.Parameters {
		o.Parameters = append(o.Parameters, helm.Parameter{Name: p.Name, Value: p.Value, ForceString: p.ForceString})
	}
	for _, p := range h.FileParameters {
		o.FileParameters = append(o.FileParameters, render.FileParameter{Name: p.Name, Path: p.Path})
	}
	return o, nil
}

type permitKey struct{}

// WithPermittedRepositories says which chart repositories renders made with
// the returned context may fetch from besides the Application's own
// sources: a chart's dependencies and kustomize's helmCharts name
// repositories in the repository's content, and a project's sourceRepos
// bound those as it bounds the spec's (else a tenant could have the
// controller fetch, with a repository Secret it holds, a chart the project
// does not permit). Without it every repository is permitted (the CLI,
// acting with its user's rights).
func WithPermittedRepositories(ctx context.Context, permitted func(repoURL string) bool) context.Context {
	return context.WithValue(ctx, permitKey{}, permitted)
}

// chartFetcher fetches a chart's dependencies: an exact version from
// Chart.lock, or Chart.yaml's constraint resolved first. interrupted says a
// download was still going when the render's time ran out: the render then
// failed for want of time, not for its content.
type chartFetcher struct {
	charts      Charts
	interrupted atomic.Bool
}

func (f *chartFetcher) FetchChart(ctx context.Context, repoURL, name, version string) (data []byte, err error) {
	defer func() {
		if err != nil && ctx.Err() != nil {
			f.interrupted.Store(true)
		}
	}()
	if permitted, ok := ctx.Value(permitKey{}).(func(string) bool); ok && !permitted(repoURL) {
		return nil, &render.Error{File: redact.URL(repoURL), Err: fmt.Errorf(
			"%w: chart %s: the repository is not among the project's sourceRepos", render.ErrInvalidSource, name)}
	}
	v, err := f.charts.ResolveSince(ctx, repoURL, name, version, time.Time{})
	if err != nil {
		return nil, err
	}
	a, err := f.charts.Fetch(ctx, repoURL, name, v)
	if err != nil {
		return nil, err
	}
	return a.Data, nil
}

// sourceName names a source in messages: its chart, or its path.
func sourceName(src v1alpha1.ApplicationSource) string {
	if IsChart(src) {
		return "chart " + src.Chart
	}
	return pathOrRoot(src.Path)
}

// sourcesName names an Application's sources in messages.
func sourcesName(app *v1alpha1.Application) string {
	srcs := Sources(app)
	if len(srcs) == 1 {
		return sourceName(srcs[0])
	}
	return fmt.Sprintf("%d sources", len(srcs))
}
